"""Cost curve and flat memory: `vidlabel run` wall time and peak memory against total video duration.

    .venv/bin/python bench/cost_curve.py [--forms a0-tflite,a0-base] [--points 1x60,10x60,1x600,1x3600] [--many 10,1000]
        [--many_video small|720p] [--run_flags "--windows shots --frame_labels"]

Inputs are made once under bench/.inputs from the rendered 20-second 720p30 H.264 video
(`decode_isolation.render_720p`) by stream copy (ffmpeg concat, no re-encoding): 1-, 10- and 60-minute files, and
a 2-second file. A point `NxS` is N links to the S-second file. Each point is one `vidlabel run` with the default
local runner (one worker process per core, decoder isolation on), start-up included; its memory is the peak of the
summed resident memory of the whole process tree (launcher, workers, decoder processes; sampled every 50 ms) and
the peak of its largest process and of the launcher alone (and, for a run in several file batches, the launcher's
memory as each batch ends).
Prints per form the raw points, the least-squares line wall = start-up + slope x video seconds (slope as
video-hours per core-hour), and the memory ratios the performance issue asks for: one 60-minute video against one
1-minute video, and `--many` short files (each count against the first; TFLite only, the model does not change
it). The many-files points link to one short file: `--many_video small` (default) is a 1-s 96x96 10-fps H.264 file,
so 10,000 or 100,000 files take minutes, not hours; `720p` is the 2-s 720p30 file the 2026-11-27 figures used.
Forms: `a0-tflite` (bench/.models/a0-stream/model.tflite) and export folders under bench/.models (`a0-base`,
`a0-stream`, `a1-base`, ...); see `model_path`. A0 forms missing there are exported (random weights).
`--run_flags` are passed to every `vidlabel run` (shell syntax) and printed with the tables.
"""

from __future__ import annotations

import argparse
import glob
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import random_model, vidlabel_command  # noqa: E402  (bench scripts are run as files)
from decode_isolation import REPO, render_720p  # noqa: E402  (bench scripts are run as files)

INPUTS = REPO / "bench" / ".inputs"
MODELS = REPO / "bench" / ".models"


def model_path(form: str) -> pathlib.Path:
    """`a0-tflite` is the TFLite file of the `a0-stream` export; other forms are export folders (`a1-base`...),
    made by `stream_vs_tflite_vs_base.py` (A0) and `base_model.py --variants a1,a2`; A0 forms are exported here
    when missing."""
    if form.endswith("-tflite"):
        folder = MODELS / form.replace("-tflite", "-stream")
        if form == "a0-tflite":
            random_model(folder, "a0", "stream", "--tflite")
        return folder / "model.tflite"
    if form in ("a0-base", "a0-stream"):
        random_model(MODELS / form, "a0", form.split("-")[1])
    return MODELS / form


def video_of(seconds: int) -> pathlib.Path:
    """A `seconds`-long 720p30 H.264 file: the 20-s bench video repeated (stream copy), or its first 2 s."""
    source = INPUTS / "gradient_720p30_20s.mp4"
    render_720p(source)
    path = INPUTS / f"gradient_720p30_{seconds}s.mp4"
    if seconds == 20 or path.exists():
        return source if seconds == 20 else path
    partial = path.with_name("partial-" + path.name)
    if seconds < 20:
        args = ["-i", str(source), "-t", str(seconds)]
    else:
        assert seconds % 20 == 0, "lengths above 20 s are whole repeats of the 20-s video"
        listing = INPUTS / f"concat-{seconds}.txt"
        listing.write_text(f"file '{source.name}'\n" * (seconds // 20))
        args = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-c", "copy", str(partial)], check=True)
    partial.rename(path)
    return path


def small_video() -> pathlib.Path:
    """A 1-s 96x96 10-fps H.264 file (ffmpeg's test pattern): the many-files points' file, cheap to label."""
    path = INPUTS / "testsrc_96px_10fps_1s.mp4"
    if not path.exists():
        INPUTS.mkdir(parents=True, exist_ok=True)
        partial = path.with_name("partial-" + path.name)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x96:rate=10", "-t", "1",
             "-pix_fmt", "yuv420p", "-c:v", "libx264", str(partial)],
            check=True,
        )  # fmt: skip
        partial.rename(path)
    return path


class TreeMemory(threading.Thread):
    """Samples the resident memory of a process and all its descendants."""

    def __init__(self, root: int, period_s: float = 0.05, batch_marks: str | None = None):
        super().__init__(daemon=True)
        self.root, self.period_s = root, period_s
        self.peak_total = self.peak_process = self.peak_root = 0
        self.batch_marks = batch_marks  # a glob of the run's batch marks (`batches/*.done`)
        self.root_at_batch_ends: list[int] = []  # the root's resident memory as each batch mark appeared
        self._stopped = threading.Event()

    def run(self):
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stopped.wait(self.period_s):
            parents, rss = {}, {}
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
                    with open(f"/proc/{pid}/statm") as f:
                        rss[int(pid)] = int(f.read().split()[1]) * page
                except (OSError, ValueError, IndexError):
                    continue
            tree, grew = {self.root}, True
            while grew:
                more = {pid for pid, parent in parents.items() if parent in tree} - tree
                tree |= more
                grew = bool(more)
            sizes = [rss.get(pid, 0) for pid in tree]
            self.peak_total = max(self.peak_total, sum(sizes))
            self.peak_process = max(self.peak_process, max(sizes))
            self.peak_root = max(self.peak_root, rss.get(self.root, 0))
            if self.batch_marks and len(glob.glob(self.batch_marks)) > len(self.root_at_batch_ends):
                self.root_at_batch_ends.append(rss.get(self.root, 0))

    def stop(self):
        self._stopped.set()
        self.join()


def run(inputs: pathlib.Path, model: pathlib.Path, out: pathlib.Path, flags: list[str]) -> dict:
    start = time.perf_counter()
    process = subprocess.Popen(
        vidlabel_command("run", "--input", str(inputs), "--output", str(out), "--model", str(model), *flags),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    memory = TreeMemory(process.pid, batch_marks=f"{glob.escape(str(out))}.runs/*/batches/*.done")
    memory.start()
    _, stderr = process.communicate()
    wall = time.perf_counter() - start
    memory.stop()
    if process.returncode:
        raise RuntimeError(f"vidlabel run failed ({process.returncode}):\n{stderr[-3000:]}")
    return {
        "wall_s": wall,
        "peak_total_mib": memory.peak_total / 2**20,
        "peak_process_mib": memory.peak_process / 2**20,
        "peak_launcher_mib": memory.peak_root / 2**20,
        "launcher_at_batch_ends_mib": [round(b / 2**20) for b in memory.root_at_batch_ends],
    }


def point(form: str, files: int, seconds: int, tmp: pathlib.Path, flags: list[str], small: bool = False) -> dict:
    folder = tmp / f"{form}-{files}x{seconds}{'-small' if small else ''}"
    folder.mkdir()
    video = small_video() if small else video_of(seconds)
    for i in range(files):
        (folder / f"v{i:06d}.mp4").symlink_to(video)
    model = model_path(form)  # exported first, so start-up is all `vidlabel run`'s
    result = run(folder, model, tmp / f"out-{folder.name}", flags)
    result.update(form=form, files=files, seconds=files * seconds, small=small)
    print(
        f"{form} {files}x{seconds}s{' (small)' if small else ''}: {result['wall_s']:.1f} s, peak "
        f"{result['peak_total_mib']:.0f} MiB in all, {result['peak_process_mib']:.0f} MiB largest process, "
        f"{result['peak_launcher_mib']:.0f} MiB launcher",
        flush=True,
    )
    if len(result["launcher_at_batch_ends_mib"]) > 1:
        print(f"  launcher at each batch's end (MiB): {result['launcher_at_batch_ends_mib']}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forms", default="a0-tflite,a0-base")
    parser.add_argument("--points", default="1x60,10x60,1x600,1x3600", help="FILESxSECONDS points ('' skips)")
    parser.add_argument("--many", default="10,1000", help="file counts of short files for the memory ratio ('' skips)")
    parser.add_argument("--many_video", choices=("small", "720p"), default="small", help="the short file")
    parser.add_argument("--run_flags", default="", help='extra `vidlabel run` flags, e.g. "--windows shots"')
    args = parser.parse_args()
    flags = shlex.split(args.run_flags)
    points = [tuple(int(x) for x in p.split("x")) for p in filter(None, args.points.split(","))]
    cores = os.cpu_count()
    results = []
    with tempfile.TemporaryDirectory(prefix="vidlabel-cost-") as tmp:
        for form in args.forms.split(","):
            results += [point(form, files, seconds, pathlib.Path(tmp), flags) for files, seconds in points]
        counts = [int(n) for n in filter(None, args.many.split(","))]
        small = args.many_video == "small"
        many = [point("a0-tflite", n, 1 if small else 2, pathlib.Path(tmp), flags, small) for n in counts]

    print(f"\n720p30 H.264, each model at its own resolution and rate, {cores} cores; wall includes start-up")
    print(f"`vidlabel run` flags: {shlex.join(flags) or '(defaults)'}")
    print(
        "| model | files x length | video | wall s | x real time | peak RSS, all processes (MiB) "
        "| largest process (MiB) | launcher (MiB) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results + many:
        length = f"{r['seconds'] // r['files']} s" + (" 96 px" if r["small"] else "")
        print(
            f"| {r['form']} | {r['files']} x {length} | {r['seconds'] / 60:g} min | {r['wall_s']:.1f} "
            f"| {r['seconds'] / r['wall_s']:.1f} | {r['peak_total_mib']:.0f} | {r['peak_process_mib']:.0f} "
            f"| {r['peak_launcher_mib']:.0f} |"
        )
    print(
        "\n| model | start-up s (intercept) | wall s per video s (slope) | video-hours per core-hour "
        "| largest residual |"
    )
    print("| --- | --- | --- | --- | --- |")
    for form in args.forms.split(","):
        rows = [r for r in results if r["form"] == form]
        if len(rows) < 2:
            continue  # a single point has no line
        x, y = np.array([r["seconds"] for r in rows], float), np.array([r["wall_s"] for r in rows])
        slope, intercept = np.polyfit(x, y, 1)
        residual = np.max(np.abs(y - (slope * x + intercept)) / y)
        print(f"| {form} | {intercept:.1f} | {slope:.4f} | {1 / (slope * cores):.1f} | {100 * residual:.0f}% |")
    print("\nmemory (peak RSS of all processes):")
    for form in args.forms.split(","):
        by_point = {(r["files"], r["seconds"] // r["files"]): r for r in results if r["form"] == form}
        if (1, 60) in by_point and (1, 3600) in by_point:
            ratio = by_point[(1, 3600)]["peak_total_mib"] / by_point[(1, 60)]["peak_total_mib"]
            print(f"  {form}: one 60-min video / one 1-min video = {ratio:.2f} (target within 1.10)")
    for r in many[1:]:
        print(
            f"  a0-tflite: {r['files']} files / {many[0]['files']} files = "
            f"{r['peak_total_mib'] / many[0]['peak_total_mib']:.2f}, launcher alone "
            f"{r['peak_launcher_mib'] / many[0]['peak_launcher_mib']:.2f}"
        )


if __name__ == "__main__":
    main()
