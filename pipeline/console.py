"""What `vidlabel run` shows on the console, and where everything else goes: the run's log.

The console holds the plan line, the progress bar (`run_with_progress_bar`) and the summary (and, when a job stops,
its error in full).
TensorFlow's and absl's C++ logging, CUDA probing, FFmpeg's warnings, Beam's worker messages and Python warnings
from dependencies go to the log. C++ libraries write to file descriptor 2 before Python's logging exists, and the
processes a run starts (Beam's SDK workers, the decoder children) inherit it, so the log is made at that level:
descriptor 2 is pointed at the log file for the length of the run, and the console keeps a duplicate of the
original. On Dataflow the workers' messages stay in Cloud Logging; the log holds the launcher's.

The log is kept with the result: a successful run publishes it as `OUTPUT/run.log`; a failed run leaves it beside
the result (`OUTPUT.runs/RUN_ID.log`, or in the temp folder for gs:// outputs) until the next success, and the error
message names it. `--verbose` leaves descriptor 2 alone: everything shows live.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import TextIO

from vidlabel.transforms.progress import ProgressFile


class RunConsole:
    """A context for one run: `stream` is the console; descriptor 2 (and so every child's) is the log."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.stream: TextIO = sys.stderr
        self.log_path: str | None = None  # where the log is now (None with --verbose)
        self._temp: str | None = None  # the file descriptor 2 writes to during the run
        self._saved_fd: int | None = None
        self._kept = False

    def __enter__(self) -> RunConsole:
        if self.verbose:
            return self
        sys.stderr.flush()
        log_fd, self._temp = tempfile.mkstemp(prefix="vidlabel-run-", suffix=".log")
        self.log_path = self._temp
        self._saved_fd = os.dup(2)
        if _writes_to_fd2(sys.stderr):
            self.stream = open(os.dup(self._saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        # else sys.stderr is not descriptor 2 (an embedding program's, or a test's capture): it stays the console
        os.dup2(log_fd, 2)
        os.close(log_fd)
        return self

    def snapshot(self) -> str | None:
        """The log so far, flushed: what a successful run publishes with its result."""
        sys.stderr.flush()
        return self.log_path

    def keep(self, target: str | None) -> str | None:
        """Keeps the log after the run (a failed run's), copied to `target` when given and writable; returns its
        path."""
        if self.log_path is None:
            return None
        sys.stderr.flush()
        if target:
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(self._temp, target)
                self.log_path = target
            except OSError:
                pass  # kept where it is, in the temp folder
        self._kept = True
        return self.log_path

    def __exit__(self, *exc_info) -> None:
        if self._saved_fd is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved_fd, 2)
        os.close(self._saved_fd)
        self._saved_fd = None
        if self.stream is not sys.stderr:
            self.stream.close()
        if not (self._kept and self.log_path == self._temp):
            os.remove(self._temp)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def run_with_progress_bar(
    run: Callable[[], None], total: int, progress_path: str, out: TextIO, initial: int = 0
) -> None:
    """Calls `run` (the pipelines) in a thread while this one draws a progress bar from the workers' progress file
    (`progress.ReportProgress`), starting at `initial` videos (those a continued run had done); an exception in
    `run` is raised here."""
    from tqdm import tqdm

    failure: list[BaseException] = []

    def target():
        try:
            run()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=target, name="vidlabel-pipeline", daemon=True)
    worker.start()
    progress = ProgressFile(progress_path)
    failed = clips = 0
    try:  # a terminal that reports no size (0 columns) would get an empty bar
        sized = os.get_terminal_size(out.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):
        sized = False
    width = {"dynamic_ncols": True} if sized else {"ncols": 100}
    with tqdm(total=total, initial=initial, unit="video", desc="labelling", file=out, **width) as bar:
        while worker.is_alive() or bar.n < total:
            for record in progress.new_records():
                failed += not record["ok"]
                clips += record["clips"]
                bar.update(1)
                bar.set_postfix(clips=clips, failed=failed, refresh=False)
            if not worker.is_alive():
                break
            worker.join(timeout=0.5)
    if failure:
        raise failure[0]
