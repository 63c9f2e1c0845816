"""Where a run's tables go: staged while the run works, published whole only when it succeeds.

Readers query `OUTPUT/predictions-*.parquet`, `OUTPUT/videos-*.parquet` and `OUTPUT/errors-*.parquet`. Those paths
must show exactly one complete result at any moment, whatever happens to a run (a crash, SIGKILL, a full disk),
so a run never writes there. It writes into its own staging folder, `OUTPUT.runs/RUN_ID/`, finishes with its
run record `run.json` there, and only then publishes:

- Local: OUTPUT is a symbolic link to the run folder of the current result. Publishing points a new link at the
  new run folder and renames it over OUTPUT: one atomic rename(2), so a reader sees the old result or the new one,
  never a mix or a gap. A killed run leaves only an unpublished folder, removed by the next run. The previous
  run folder is kept (a reader that opened its files as the link switched keeps reading them); older ones go.
- gs://: objects cannot be renamed together, so OUTPUT/run.json is the completeness marker that readers rely on:
  publishing deletes it first, replaces the table objects, and writes it last. A result is complete exactly when
  OUTPUT/run.json exists, and it lists the result's files. A run killed while publishing leaves no marker but
  keeps its complete staging folder, which the next run publishes before anything else.

A lock file (`OUTPUT.runs/.lock`, local only) keeps two runs from writing one output at once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import uuid
from typing import NamedTuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from vidlabel.transforms import schema
from vidlabel.transforms.errors import UsageError
from vidlabel.transforms.storage import check_new_folder, escape_glob, has_scheme

RUN_RECORD = "run.json"
RUN_LOG = "run.log"  # what the run's processes wrote to their stderr (`console.py`)
LOCK_FILE = ".lock"


class OutputPlan(NamedTuple):
    output: str  # what readers query (local: absolute path of the link)
    runs: str  # OUTPUT.runs: the run folders
    staging: str  # this run's folder, where the pipeline writes
    previous: str | None  # the folder holding the published result, None when there is none
    previous_run: str | None  # its run id


def runs_folder(output: str) -> str:
    return output.rstrip("/") + ".runs"


def published_result(output: str) -> str | None:
    """The folder holding the complete published result of OUTPUT, or None."""
    if has_scheme(output):
        return output.rstrip("/") if FileSystems.exists(_join(output, RUN_RECORD)) else None
    if os.path.islink(output) and os.path.exists(os.path.join(output, RUN_RECORD)):
        return os.path.realpath(output)
    return None


def table_files(folder: str, name: str) -> list[str]:
    """The Parquet files of one table of a result or run folder, in name order."""
    return sorted(m.path for m in FileSystems.match([_join(folder, f"{name}-*.parquet")])[0].metadata_list)


def read_table(folder: str, name: str, columns: list[str] | None = None):
    """One table of a result or run folder as a pyarrow Table (None when it has no file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in table_files(folder, name):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            tables.append(pq.read_table(f, columns=columns))
    return pa.concat_tables(tables) if tables else None


def table_batches(folder: str, name: str, columns: list[str], batch_size: int = 1024):
    """One table of a result folder as pyarrow record batches, a file at a time (for columns too large to hold
    whole, such as the thumbnails' JPEGs)."""
    import pyarrow.parquet as pq

    for path in table_files(folder, name):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns)


def read_record(folder: str) -> dict:
    with FileSystems.open(_join(folder, RUN_RECORD), compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return json.loads(f.read().decode("utf-8"))


def check_output(output: str, replace: bool) -> tuple[str, str | None]:
    """Checks that OUTPUT can take a result; returns it (local: absolute) and the folder of its published result.
    `replace`: the run may replace a published result (--overwrite, --incremental); without it one is refused."""
    if has_scheme(output):
        output = output.rstrip("/")
        _finish_interrupted_publication(output)
    else:
        output = os.path.abspath(output)
        _check_local_output(output, replace)
    previous = published_result(output)
    if previous and not replace:
        raise UsageError(
            f"--output {output} already holds a result (run {read_record(previous).get('run_id')}); pass "
            "--incremental to label only new or changed files, --overwrite to replace it, or choose another folder"
        )
    return output, previous


def make_staging(
    output: str, previous: str | None, previous_run: str | None, run_id: str, create: bool = True
) -> OutputPlan:
    """This run's staging folder, made once every launch check has passed (`create`: not in a dry run)."""
    staging = _join(runs_folder(output), run_id)
    if create and has_scheme(output):
        FileSystems.mkdirs(staging)
    elif create:
        os.makedirs(staging)
    return OutputPlan(
        output=output, runs=runs_folder(output), staging=staging, previous=previous, previous_run=previous_run
    )


def _check_local_output(output: str, replace: bool) -> None:
    if os.path.islink(output):
        target = os.path.realpath(output)
        if os.path.dirname(target) != os.path.realpath(runs_folder(output)):
            raise UsageError(f"--output {output} is a link to {target}, not to a vidlabel result; choose another path")
    elif os.path.isdir(output):
        if _is_unstaged_result(output):  # tables written in place by vidlabel before 0.2
            if not replace:
                raise UsageError(f"--output {output} already holds a result; pass --overwrite to replace it")
        elif os.listdir(output):
            raise UsageError(
                f"--output {output} is a folder that holds other files; vidlabel publishes a result by pointing "
                "OUTPUT at a complete run folder, so give a new path (or an empty folder)"
            )
    elif os.path.exists(output):
        raise UsageError(f"--output {output} is a file; give a folder path")
    parent = os.path.dirname(output)
    try:
        os.makedirs(parent, exist_ok=True)
        probe = os.path.join(parent, f".vidlabel-write-test-{uuid.uuid4().hex}")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as exc:
        raise UsageError(
            f"--output {output}: cannot write in {parent} ({exc.strerror}); choose another folder"
        ) from exc


class OutputLock:
    """An exclusive lock on a local OUTPUT for the length of a run (the kernel drops it if the run dies). With it
    held, run folders without a run record are leftovers of killed runs: the new run continues one
    (`batches.find_resumable`) or removes them (`remove_unpublished`)."""

    def __init__(self, output: str):
        self._output = output
        self._file = None

    def __enter__(self) -> OutputLock:
        if has_scheme(self._output):
            return self
        runs = runs_folder(os.path.abspath(self._output))
        try:
            os.makedirs(runs, exist_ok=True)
            self._file = open(os.path.join(runs, LOCK_FILE), "w")
        except OSError as exc:
            raise UsageError(
                f"--output {self._output}: cannot write there ({exc.strerror}); choose another folder"
            ) from exc
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._file.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UsageError(
                    f"--output {self._output}: another vidlabel run is writing there; wait for it"
                ) from None
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._file is None:
            return
        runs = os.path.dirname(self._file.name)
        if os.listdir(runs) == [LOCK_FILE]:  # a refused run leaves nothing behind
            os.remove(self._file.name)
            os.rmdir(runs)
        self._file.close()
        self._file = None


def publish(plan: OutputPlan, record: dict, log_path: str | None = None) -> dict:
    """Writes the run's log and record into the staging folder (the run is complete from then on), then makes it
    the result. Returns the record as written."""
    record = {**record, "files": staged_files(plan.staging), "log": None}
    if log_path:
        with open(log_path, "rb") as f:
            _write(_join(plan.staging, RUN_LOG), f.read().decode("utf-8", errors="replace"))
        record["log"] = RUN_LOG
    _write(_join(plan.staging, RUN_RECORD), json.dumps(record, indent=2, sort_keys=True))
    if has_scheme(plan.output):
        _publish_objects(plan.staging, plan.output, _published_names(record))
    else:
        _publish_link(plan, record["files"])
    return record


def failed_log_path(plan: OutputPlan) -> str | None:
    """Where a failed run's log is kept until the next success: beside the run folders of a local OUTPUT; for a
    gs:// OUTPUT it stays in the local temp folder (None)."""
    return None if has_scheme(plan.output) else f"{plan.staging}.log"


def result_folder(output: str) -> str:
    """The folder of OUTPUT's published result; a local link is resolved once, so a run that publishes meanwhile
    cannot mix two results into one export or one search."""
    remote = has_scheme(output)
    if not remote and not os.path.exists(output):
        raise UsageError(f"{output} does not exist; give the --output folder of a finished `vidlabel run`")
    folder = output.rstrip("/") if remote else os.path.realpath(output)
    has_record = FileSystems.exists(f"{folder}/{RUN_RECORD}")
    if not has_record or "videos" not in result_tables(escape_glob(folder)):
        missing = RUN_RECORD if not has_record else "videos-*.parquet"
        raise UsageError(
            f"{output} is not a vidlabel result (it has no {missing}); give the --output folder of a finished "
            "`vidlabel run` (a run still publishing to gs:// has no run.json yet: try again when it has)"
        )
    return folder


def check_out_folder(out: str, folder: str) -> None:
    """--out of a command that writes files from a result (`folder`): a new or empty local folder outside it."""
    if has_scheme(out):
        raise UsageError(f"--out {out}: give a local folder, then copy it (gcloud storage cp -r DIR gs://...)")
    check_new_folder("--out", out)
    if not has_scheme(folder) and os.path.realpath(out).startswith(folder + os.sep):
        raise UsageError(f"--out {out} is inside the result {folder}; choose a folder outside it")


def result_tables(folder: str) -> tuple[str, ...]:
    """The tables a result holds (one written by an older vidlabel may lack the newer ones)."""
    names = staged_files(folder)
    return tuple(t for t in schema.TABLES if any(n.startswith(f"{t}-") for n in names))


def _published_names(record: dict) -> list[str]:
    return record["files"] + ([record["log"]] if record.get("log") else [])


def staged_files(folder: str) -> list[str]:
    """The table files of a run or result folder, as names relative to it."""
    return sorted(path.rsplit("/", 1)[-1] for table in schema.TABLES for path in table_files(folder, table))


def _is_unstaged_result(folder: str) -> bool:
    names = os.listdir(folder)
    tables = tuple(f"{table}-" for table in schema.TABLES)
    return bool(names) and all(
        n.startswith(tables) and n.endswith(".parquet") or n.startswith("beam-temp-") for n in names
    )


def _publish_link(plan: OutputPlan, files: list[str]) -> None:
    for name in files:  # the tables must be on disk before a link makes them the result
        with open(os.path.join(plan.staging, name), "rb") as f:
            os.fsync(f.fileno())
    link = f"{plan.output}.{uuid.uuid4().hex}.link"
    os.symlink(os.path.relpath(plan.staging, os.path.dirname(plan.output)), link)
    if os.path.isdir(plan.output) and not os.path.islink(plan.output):
        # An empty folder given as OUTPUT, or tables an earlier vidlabel wrote in place (checked in check_output):
        # removed just before the switch, the one publication that is not atomic.
        shutil.rmtree(plan.output)
    os.replace(link, plan.output)
    _fsync_dir(os.path.dirname(plan.output))
    keep = {os.path.basename(plan.staging), os.path.basename(plan.previous or "")}
    for name in os.listdir(plan.runs):  # older run folders, and the logs of failed runs
        path = os.path.join(plan.runs, name)
        if name != LOCK_FILE and name not in keep:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


def remove_unpublished(output: str, keep: str) -> list[str]:
    """Removes the run folders of a local OUTPUT that hold no run record (killed runs), except `keep` (the one this
    run continues or writes); returns the run ids removed. Failed runs' logs stay. Called with the lock held."""
    runs = runs_folder(output)
    if has_scheme(output) or not os.path.isdir(runs):
        return []
    removed = []
    for name in sorted(os.listdir(runs)):
        path = os.path.join(runs, name)
        if name != keep and os.path.isdir(path) and not os.path.exists(os.path.join(path, RUN_RECORD)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def _publish_objects(staging: str, output: str, files: list[str]) -> None:
    output = output.rstrip("/")
    marker = _join(output, RUN_RECORD)
    if FileSystems.exists(marker):
        FileSystems.delete([marker])  # from here until the new marker, readers see no complete result
    old = [_join(output, name) for name in staged_files(output)]
    if FileSystems.exists(_join(output, RUN_LOG)):
        old.append(_join(output, RUN_LOG))
    if old:
        FileSystems.delete(old)
    FileSystems.copy([_join(staging, f) for f in files], [_join(output, f) for f in files])
    FileSystems.copy([_join(staging, RUN_RECORD)], [marker])  # last: the result is complete
    FileSystems.delete([staging.rstrip("/") + "/"])  # a trailing slash: the whole folder (Beam's GCS file system)


def _finish_interrupted_publication(output: str) -> None:
    """gs://: a run killed while publishing left no marker but a complete staging folder; publish it now."""
    if FileSystems.exists(_join(output, RUN_RECORD)):
        return
    complete = [
        m.path.rsplit("/", 2)[-2] for m in FileSystems.match([f"{runs_folder(output)}/*/{RUN_RECORD}"])[0].metadata_list
    ]
    if complete:
        staging = _join(runs_folder(output), max(complete))  # run ids start with their UTC start time
        _publish_objects(staging, output, _published_names(read_record(staging)))


def _write(path: str, text: str) -> None:
    if has_scheme(path):
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(text.encode("utf-8"))
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())  # the record is the run's "complete" mark: it must not be lost after the switch
    _fsync_dir(os.path.dirname(path))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}"
