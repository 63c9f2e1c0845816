"""Capacity planning: what a video-hour costs in CPU-hours, decoding per codec and resolution and the model per
form measured apart, their sum as video-hours per core-hour, checked end to end with `vidlabel run`.

    .venv/bin/python bench/cost_table.py [--seconds 10] [--forms a0-tflite,a0-base,a2-base]
        [--check h264_720p:a0-tflite,hevc_1080p:a0-tflite,h264_720p:a0-base] [--copies 6]

Costs are CPU time (user + system, every thread: FFmpeg's and TensorFlow's included), the quantity a cloud bills
per vCPU-hour, not wall time; the best of three rounds, alternated.

- Decoding: `decode_video`, the function `vidlabel run`'s decoder processes run (decode, resample to the model's
  rate, resize to its side, shot detection and thumbnails, `--sparse_decode off`), in this process, on the
  benchmark's inputs: the rendered 720p30 gradient video (`decode_isolation.render_720p`) encoded by the ffmpeg CLI
  at 480p (854x480), 720p and 1080p as H.264 (libx264 -preset medium: 3 B-frames, B-pyramid, as archive exports
  come), H.264 without B-frames (-bf 0, as phones record), HEVC (libx265 -preset medium), VP9 (libvpx-vp9
  realtime, as `decode_ceiling.py`) and AV1 (libsvtav1 preset 10). A0's clip spec (172 px, 5 fps); A2's 224 px
  resize costs the same decoding.
- Model: each form alone on random 50-frame clips at its own side, in batches of 4 (`--batch_size`'s default; one
  clip a call for TFLite, as `vidlabel run` calls it), after one warm-up batch: CPU seconds per clip of 10 s
  (A0-A2 take 5 fps) = per video second.
- Video-hours per core-hour = 1 / (decode + model CPU seconds per video second).
- Check: `vidlabel run` (default local runner, one worker per core) over `--copies` links to an input, with its
  start-up taken out by the same run over one 1-s file of the same kind; measured CPU of the whole process tree
  (launcher, SDK workers, decoder processes) against decode + model x the video seconds, and wall time x cores
  (what a cloud bills: idle cores included) against the same.

Forms: `a0-tflite`, `a0-base` and `a0-stream` are exported when `bench/.models` lacks them (random weights: speed
does not depend on them); `a2-base` comes from `base_model.py --variants a2` (exported here too when missing, a few
minutes).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import random_model, vidlabel_command  # noqa: E402  (bench scripts are run as files)
from decode_ceiling import ENCODINGS  # noqa: E402
from decode_isolation import REPO, render_720p  # noqa: E402

INPUTS = REPO / "bench" / ".inputs"
MODELS = REPO / "bench" / ".models"
SIDES = {"480p": "scale=854:480", "720p": None, "1080p": "scale=1920:1080"}
CODECS = {  # decode_ceiling's encoder settings, at every resolution
    "h264": ENCODINGS["h264_720p"],
    "h264_no_b": ENCODINGS["h264_720p_no_b"],
    "hevc": ENCODINGS["hevc_720p"],
    "vp9": ENCODINGS["vp9_720p"],
    "av1": ENCODINGS["av1_720p"],
}
FORMS = {"a0-tflite": ("a0", 172), "a0-base": ("a0", 172), "a0-stream": ("a0", 172), "a2-base": ("a2", 224)}
CLIP_FRAMES, FPS, BATCH = 50, 5.0, 4


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def encode(codec: str, side: str, seconds: int) -> pathlib.Path:
    extension, codec_args = CODECS[codec]
    path = INPUTS / f"cost_{codec}_{side}_{seconds}s.{extension}"
    if not path.exists():
        source = INPUTS / "gradient_720p30_20s.mp4"
        render_720p(source)
        scale = ["-vf", SIDES[side]] if SIDES[side] else []
        partial = path.with_name("partial-" + path.name)
        command = ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-t", str(seconds), *scale, *codec_args, "-an"]
        subprocess.run([*command, str(partial)], check=True)
        partial.rename(path)
    return path


def model_path(form: str) -> pathlib.Path:
    variant, _ = FORMS[form]
    if form.endswith("-tflite"):
        return random_model(MODELS / f"{variant}-stream", variant, "stream", "--tflite") / "model.tflite"
    mode = form.split("-")[1]
    return random_model(MODELS / form, variant, mode)


def decode_cost(path: pathlib.Path) -> tuple[float, float]:
    """CPU seconds and wall seconds of vidlabel decoding the file once; the video's duration comes with the
    VideoInfo."""
    import av

    from vidlabel.transforms.decode import decode_video
    from vidlabel.transforms.types import ClipSpec, DecodeLimits, VideoInfo

    av.logging.set_level(None)
    spec = ClipSpec(fps=FPS, resolution=172, clip_frames=CLIP_FRAMES, stride_frames=CLIP_FRAMES)
    cpu, duration = cpu_seconds(), None
    for item in decode_video(str(path), spec, DecodeLimits()):
        if isinstance(item, VideoInfo):
            duration = item.duration_s
    return cpu_seconds() - cpu, duration


def model_cost(form: str, rounds: int) -> float:
    """CPU seconds per video second of the form alone (best of `rounds` batches)."""
    from vidlabel import movinet
    from vidlabel.movinet.classifiers import load_classifier
    from vidlabel.transforms.clips import model_input

    _, side = FORMS[form]
    path = str(model_path(form))
    classifier = load_classifier(path, movinet.read_signature(path))
    batch = classifier.max_batch or BATCH  # as `vidlabel run` calls it: TFLite interpreters take one clip
    rng = np.random.default_rng(0)
    clips = model_input(rng.integers(0, 256, (batch, CLIP_FRAMES, side, side, 3), dtype=np.uint8))
    classifier.predict(clips)  # warm-up: tracing, rewriting, interpreter allocation
    best = float("inf")
    for _ in range(rounds):
        cpu = cpu_seconds()
        classifier.predict(clips)
        best = min(best, cpu_seconds() - cpu)
    return best / (batch * CLIP_FRAMES / FPS)


def run_cpu(files: list[pathlib.Path], model: pathlib.Path, tmp: pathlib.Path) -> tuple[float, float]:
    """CPU seconds of the whole `vidlabel run` process tree and its wall seconds."""
    folder = pathlib.Path(tempfile.mkdtemp(dir=tmp))
    for i, path in enumerate(files):
        (folder / f"v{i:03d}{path.suffix}").symlink_to(path)
    cpu, start = cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    command = vidlabel_command("run", "--input", folder, "--output", folder / "out", "--model", model)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cpu_seconds(resource.RUSAGE_CHILDREN) - cpu, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each rendered input")
    parser.add_argument("--forms", default="a0-tflite,a0-base,a2-base")
    parser.add_argument("--codecs", default=",".join(CODECS))
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--check", default="h264_720p:a0-tflite,hevc_1080p:a0-tflite,h264_720p:a0-base")
    parser.add_argument("--copies", type=int, default=6, help="links to the input in each checking run")
    args = parser.parse_args()
    forms = args.forms.split(",")
    inputs = {f"{c}_{s}": encode(c, s, args.seconds) for c in args.codecs.split(",") for s in args.sides.split(",")}
    for form in forms:
        model_path(form)  # exported before anything is timed

    decode = {name: float("inf") for name in inputs}
    for _ in range(3):  # rounds alternate the inputs
        for name, path in inputs.items():
            cpu, duration = decode_cost(path)
            decode[name] = min(decode[name], cpu / duration)
    model = {form: model_cost(form, 3) for form in forms}

    cores = os.cpu_count()
    print(f"\nCPU seconds per video second, {cores} CPUs, 30 fps inputs of {args.seconds} s, A0's clip spec")
    print("| input | Mbit/s | decode | " + " | ".join(f"+ {f}: video-hours per core-hour" for f in forms) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in forms) + " |")
    for name, cost in decode.items():
        rate = inputs[name].stat().st_size * 8 / args.seconds / 1e6  # decoding cost follows the bit rate
        per_form = " | ".join(f"{1 / (cost + model[f]):.1f}" for f in forms)
        print(f"| {name} | {rate:.1f} | {cost:.3f} | {per_form} |")
    print("\n| model form | CPU s per video second | video-hours per core-hour, model alone |")
    print("| --- | --- | --- |")
    for form, cost in model.items():
        print(f"| {form} | {cost:.3f} | {1 / cost:.1f} |")

    checks = [c.split(":") for c in filter(None, args.check.split(","))]
    if not checks:
        return
    print(f"\nEnd to end: `vidlabel run` over {args.copies} links, start-up (one 1-s file) taken out")
    print(
        "| input | form | wall s | CPU s | start-up: wall s, CPU s | predicted CPU s | CPU / predicted "
        f"| core-seconds (wall x {cores}) / predicted |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    short = {}
    with tempfile.TemporaryDirectory(prefix="vidlabel-cost-table-") as tmp:
        for name, form in checks:
            codec, side = name.rsplit("_", 1)
            if (codec, side) not in short:
                short[(codec, side)] = encode(codec, side, 1)
            path = inputs.get(name) or encode(codec, side, args.seconds)
            if name not in decode:
                decode[name] = decode_cost(path)[0] / args.seconds
            model.setdefault(form, model_cost(form, 3))
            startup, startup_wall = run_cpu([short[(codec, side)]], model_path(form), pathlib.Path(tmp))
            cpu, wall = run_cpu([path] * args.copies, model_path(form), pathlib.Path(tmp))
            predicted = (decode[name] + model[form]) * args.seconds * args.copies
            print(
                f"| {name} | {form} | {wall:.1f} | {cpu:.1f} | {startup_wall:.1f}, {startup:.1f} | {predicted:.1f} "
                f"| {(cpu - startup) / predicted:.2f} | {(wall - startup_wall) * cores / predicted:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
