"""Live progress of a local run: workers append one JSON line per finished video to a file that the launcher
tails to draw its progress bar.

Local runners keep their SDK workers on the launcher's machine, so a plain file is the simplest channel that
works for in-process and multi-process workers alike (Beam metrics reach the launcher only when a stage ends).
On Dataflow no progress file is given and the job's own monitoring page shows progress.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import apache_beam as beam

from vidlabel.transforms.types import VideoError, VideoInfo


class ReportProgress(beam.DoFn):
    """VideoInfo | VideoError -> nothing; appends {"ok", "clips", "seconds"} for each finished video."""

    def __init__(self, path: str | None):
        self._path = path

    def process(self, done: VideoInfo | VideoError):
        if not self._path:
            return
        ok = isinstance(done, VideoInfo)
        line = json.dumps({"ok": ok, "clips": done.num_clips if ok else 0, "seconds": done.duration_s if ok else 0.0})
        # One short write in append mode is atomic on local file systems, so lines from processes never interleave.
        with open(self._path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class ProgressFile:
    """The launcher's side: yields the records appended since the last call."""

    def __init__(self, path: str):
        self.path = path
        self._offset = 0

    def new_records(self) -> Iterator[dict]:
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            f.seek(self._offset)
            data = f.read()
        complete = data[: data.rfind("\n") + 1]
        self._offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            yield json.loads(line)
