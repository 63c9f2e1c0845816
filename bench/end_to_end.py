"""`vidlabel run` against its two irreducible parts on the same files: wall time of the whole run vs a PyAV
decode-only loop plus the model alone on as many frames as the run samples. The performance issue's first target
is run <= 1.25 x (decode + model).

    .venv/bin/python bench/end_to_end.py [--files 45] [--model bench/.models/a0-stream/model.tflite]

Input: N links to the rendered 20-second 1280x720 30 fps H.264 video (`decode_isolation.render_720p`); 45 files are
15 minutes of video, so start-up does not dominate.
- decode-only: PyAV with frame threading (`thread_type = "AUTO"`), every frame decoded, nothing converted (the C
  ceiling of the same FFmpeg build), files one after another;
- model-only: the TFLite classifier vidlabel uses (`classifiers.TfliteClassifier`), fresh states per clip, on clips of
  random frames adding up to the run's sampled frames;
- run: the `vidlabel run` command on the default local runner (one worker process per core), start-up included;
- with `--sparse`, also the same run with `--sparse_decode on` (the input has B-frames: libx264's defaults), and the
  two runs' predictions compared.
Prints the ratio and the raw figures.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import vidlabel_command
from decode_isolation import REPO, render_720p  # noqa: E402  (bench scripts are run as files)


def decode_only(paths: list[pathlib.Path]) -> tuple[float, int]:
    import av

    start, frames = time.perf_counter(), 0
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in container.decode(stream):
                frames += 1
    return time.perf_counter() - start, frames


def model_only(model: pathlib.Path, frames: int, clip_frames: int, side: int) -> float:
    from vidlabel import movinet
    from vidlabel.movinet.classifiers import load_classifier
    from vidlabel.transforms import clips

    classifier = load_classifier(str(model), movinet.read_signature(str(model)))
    clip = np.random.default_rng(0).integers(0, 256, (1, clip_frames, side, side, 3), dtype=np.uint8)
    classifier.logits(clips.model_input(clip[:, :2]))  # warm-up: allocations, XNNPACK packing
    start = time.perf_counter()
    for first in range(0, frames, clip_frames):
        classifier.logits(clips.model_input(clip[:, : min(clip_frames, frames - first)]))
    return time.perf_counter() - start


def run(inputs: pathlib.Path, model: pathlib.Path, out: pathlib.Path, *flags: str) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run(
        vidlabel_command("run", "--input", str(inputs), "--output", str(out), "--model", str(model), *flags),
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    return wall, json.loads((out / "run.json").read_text())["counts"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=45)
    parser.add_argument("--model", type=pathlib.Path, default=REPO / "bench" / ".models" / "a0-stream" / "model.tflite")
    parser.add_argument("--sparse", action="store_true", help="also run with --sparse_decode on and compare")
    args = parser.parse_args()
    if not args.model.exists():
        sys.exit(f"{args.model} is missing: `bench/stream_vs_tflite_vs_base.py` exports it (or pass --model)")
    metadata = json.loads((args.model.parent / "vidlabel.json").read_text())
    video = REPO / "bench" / ".inputs" / "gradient_720p30_20s.mp4"
    render_720p(video)

    with tempfile.TemporaryDirectory(prefix="vidlabel-e2e-") as tmp:
        inputs = pathlib.Path(tmp) / "videos"
        inputs.mkdir()
        for i in range(args.files):
            (inputs / f"v{i:03d}.mp4").symlink_to(video)
        run_s, counts = run(inputs, args.model, pathlib.Path(tmp) / "out")
        if args.sparse:
            sparse_s, _ = run(inputs, args.model, pathlib.Path(tmp) / "sparse", "--sparse_decode", "on")
            same = same_predictions(pathlib.Path(tmp) / "out", pathlib.Path(tmp) / "sparse")
        decode_s, decoded = decode_only(sorted(inputs.iterdir()))
        sampled = round(counts["video_seconds"] * metadata["fps"])  # the model's frames (run.json counts source frames)
        model_s = model_only(args.model, sampled, metadata["clip_frames"], metadata["resolution"])
        shutil.rmtree(pathlib.Path(tmp) / "out.runs", ignore_errors=True)

    parts = decode_s + model_s
    print(f"{args.files} files, {counts['video_seconds']:.0f} s of 720p30 H.264 video; model {args.model}")
    print(
        f"  decode-only (PyAV, threads, no conversion): {decode_s:7.1f} s  "
        f"({decoded} frames, {decoded / decode_s:.0f} frames/s)"
    )
    print(f"  model-only ({sampled} sampled frames):        {model_s:7.1f} s  ({sampled / model_s:.0f} frames/s)")
    print(
        f"  vidlabel run (start-up included):          {run_s:7.1f} s  "
        f"({counts['video_seconds'] / run_s:.1f}x real time)"
    )
    print(f"  ratio run / (decode + model) = {run_s / parts:.2f}  (target <= 1.25)")
    if args.sparse:
        print(
            f"  vidlabel run --sparse_decode on:           {sparse_s:7.1f} s  ({sparse_s / run_s:.2f} of the run "
            f"above; predictions {'identical' if same else 'DIFFERENT'})"
        )


def same_predictions(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Whether two results hold the same clips with the same top k (the decoded clips are bit for bit the same)."""
    import duckdb

    query = (
        "select video_uri, clip_index, start_s, end_s, start_frame, end_frame, top_k "
        "from '{}/predictions-*.parquet' order by all"
    )
    return duckdb.sql(query.format(a)).fetchall() == duckdb.sql(query.format(b)).fetchall()


if __name__ == "__main__":
    main()
