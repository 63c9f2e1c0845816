"""File batches: a local run labels its files a batch at a time, so its memory stays flat on any archive, and a
killed run resumes where it stopped.

Beam's local runner keeps a few records per file (its facts, its partial top-k sums, its shots) in memory until a
pipeline ends: tens of kB a file, so one pipeline over 100,000 files would hold gigabytes. `vidlabel run` therefore
runs one pipeline per batch of `--files_per_batch` files (default 2,000 on local runners, every file in one batch
on Dataflow, whose runner keeps nothing per file in one machine's memory), one after another, into the run's one
staging folder. Batch N writes `TABLE-bNNNNN-SSSSS-of-MMMMM.parquet`; with `--incremental` the published rows
kept are written first, by a pass of their own (`TABLE-kept-...`). The result is published once, when every batch
is done, exactly as a run of one batch would publish it.

The staging folder holds the batches' record, `batches/`: the settings the rows depend on (`settings.json`), each
batch's file list (`NNNNN.jsonl`) and, once its pipeline has succeeded, its mark (`NNNNN.done`). A local run killed
part-way leaves that folder (the output lock guarantees nobody else writes there), and the next run into the same
output continues it when it has the same settings and finds the files of the done batches still listed and
unchanged: their tables are kept, what a killed batch had written is removed, and every other file to label
(new files included) is labelled in new batches. Any other unpublished folder is removed, as before batches
existed, and the launcher says what was discarded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import NamedTuple

from vidlabel.pipeline.publish import RUN_RECORD
from vidlabel.transforms import listing
from vidlabel.transforms.storage import has_scheme
from vidlabel.transforms.types import VideoFile

DEFAULT_FILES_PER_BATCH = 2000  # local runners; one batch elsewhere
RECORD = "batches"  # the staging folder's subfolder holding the batches' record
SETTINGS = "settings.json"
KEPT = "kept"  # the tag of the pass that writes the published rows --incremental keeps


class FileBatch(NamedTuple):
    """One pipeline's share of a run: the files it labels (or, for the kept pass, none)."""

    tag: str  # in its table files' names: "b00003", or KEPT
    files: str  # its file list (`listing.write_job_files`); "" for the kept pass
    num_files: int

    @property
    def is_kept_pass(self) -> bool:
        return self.tag == KEPT


class Resumed(NamedTuple):
    """The interrupted run a new one continues."""

    run_id: str
    done_tags: tuple[str, ...]
    done_files: frozenset[VideoFile]  # the files the done batches labelled


def batch_tag(index: int) -> str:
    return f"b{index:05d}"


def settings_digest(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def find_resumable(runs: str, settings: dict, to_label: list[VideoFile]) -> Resumed | None:
    """The unpublished run folder under `runs` (OUTPUT.runs, local) that this run can continue, or None: same
    settings, and every file its done batches labelled is among the files to label now, unchanged."""
    if has_scheme(runs) or not os.path.isdir(runs):
        return None
    wanted = set(to_label)
    digest = settings_digest(settings)
    for run_id in sorted(os.listdir(runs), reverse=True):  # newest first: run ids start with their start time
        staging = os.path.join(runs, run_id)
        record = os.path.join(staging, RECORD)
        if os.path.exists(os.path.join(staging, RUN_RECORD)) or not os.path.isfile(os.path.join(record, SETTINGS)):
            continue
        with open(os.path.join(record, SETTINGS), encoding="utf-8") as f:
            if json.load(f).get("digest") != digest:
                continue
        done = tuple(sorted(name[: -len(".done")] for name in os.listdir(record) if name.endswith(".done")))
        files = frozenset(f for tag in done if tag != KEPT for f in _read_files(os.path.join(record, f"{tag}.jsonl")))
        if files <= wanted:
            return Resumed(run_id, done, files)
    return None


def write_batches(
    staging: str, settings: dict, to_label: list[VideoFile], files_per_batch: int, keep: bool, resumed: Resumed | None
) -> tuple[FileBatch, ...]:
    """Writes the record of the batches still to run (all of them for a new run) and returns them in order: the
    kept pass first (when `keep` and not done), then the files to label, `files_per_batch` at a time (0: one
    batch)."""
    record = f"{staging.rstrip('/')}/{RECORD}"
    done_tags = resumed.done_tags if resumed else ()
    if resumed is None and not has_scheme(staging):
        os.makedirs(record)
        with open(os.path.join(record, SETTINGS), "w", encoding="utf-8") as f:
            json.dump({"digest": settings_digest(settings), "settings": settings}, f, indent=2, sort_keys=True)
    batches = [FileBatch(KEPT, "", 0)] if keep and KEPT not in done_tags else []
    remaining = [f for f in to_label if resumed is None or f not in resumed.done_files]
    size = files_per_batch or len(remaining) or 1
    first = 1 + max((int(t[1:]) for t in done_tags if t != KEPT), default=-1)
    for n, start in enumerate(range(0, len(remaining), size)):
        part = remaining[start : start + size]
        tag = batch_tag(first + n)
        path = f"{record}/{tag}.jsonl"
        listing.write_job_files(part, path)
        batches.append(FileBatch(tag, path, len(part)))
    return tuple(batches)


def mark_done(staging: str, batch: FileBatch) -> None:
    """Called once the batch's pipeline has succeeded: a resumed run keeps its tables."""
    if has_scheme(staging):
        return  # gs:// outputs are not resumed (no lock: the folder may be another launcher's)
    path = os.path.join(staging, RECORD, f"{batch.tag}.done")
    with open(path, "w") as f:
        f.flush()
        os.fsync(f.fileno())


def remove_partial(staging: str, done_tags: tuple[str, ...]) -> int:
    """Removes what killed batches wrote into a resumed staging folder (table files of batches not done, Beam's
    temporary folders) and the file lists of batches not done (the files are batched anew); returns how many files
    and folders went."""
    removed = 0
    record = os.path.join(staging, RECORD)
    for name in os.listdir(record):
        if name.endswith(".jsonl") and name[: -len(".jsonl")] not in done_tags:
            os.remove(os.path.join(record, name))
    for name in os.listdir(staging):
        path = os.path.join(staging, name)
        if name.startswith("beam-temp-"):
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
            removed += 1
        elif name.endswith(".parquet") and _tag_of(name) not in done_tags:
            os.remove(path)
            removed += 1
    return removed


def _tag_of(table_file: str) -> str:
    """ "frame_labels-b00003-00000-of-00002.parquet" -> "b00003" (table names hold no '-')."""
    return table_file.split("-")[1]


def _read_files(path: str) -> list[VideoFile]:
    with open(path, encoding="utf-8") as f:
        return [VideoFile(**json.loads(line)) for line in f if line.strip()]
