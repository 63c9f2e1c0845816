"""Benchmark: the three MoViNet-A0 forms on the same video, model-only and through `vidlabel run`.

    python bench/stream_vs_tflite_vs_base.py [--video PATH] [--models DIR]

Exports (once, into --models) A0 base and A0 stream + TFLite at the published resolution (172 px, 5 fps, random
weights: speed does not depend on the weights), then for each form measures
- model frames/s: the model alone on the video's preprocessed clips (decoding excluded, warm-up excluded);
- end-to-end frames/s: wall time of `vidlabel run` on the video (in-process runner, one worker), start-up included
  and reported apart.
Prints one table with ratios to the base model, measured in the same run.
"""

import argparse
import pathlib
import subprocess
import sys
import time

from common import random_model

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def export(models: pathlib.Path) -> dict:
    base = random_model(models / "a0-base", "a0", "base")
    stream = random_model(models / "a0-stream", "a0", "stream", "--tflite")
    return {"base": base, "stream": stream, "tflite": stream / "model.tflite"}


def model_only(path: pathlib.Path, video: pathlib.Path) -> float:
    from vidlabel import movinet
    from vidlabel.movinet.classifiers import load_classifier
    from vidlabel.transforms.clips import model_input
    from vidlabel.transforms.decode import DecodeClips
    from vidlabel.transforms.types import ClipSpec, VideoFile

    fn = DecodeClips(ClipSpec(fps=5, resolution=172, clip_frames=50, stride_frames=50))
    fn.setup()
    clips = [model_input(o[1]) for o in fn.process(VideoFile(str(video), None, None)) if isinstance(o, tuple)]
    fn.teardown()
    classifier = load_classifier(str(path), movinet.read_signature(str(path)))
    classifier.logits(clips[0][None])  # warm-up: tracing / XLA compilation / interpreter allocation
    start = time.perf_counter()
    for clip in clips:
        classifier.logits(clip[None])
    return sum(len(c) for c in clips) / (time.perf_counter() - start)


def end_to_end(path: pathlib.Path, video: pathlib.Path, out: pathlib.Path) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [
            str(pathlib.Path(sys.executable).with_name("vidlabel")),
            "run",
            "--input",
            str(video),
            "--output",
            str(out),
            "--overwrite",
            "--model",
            str(path),
            "--direct_running_mode",
            "in_memory",
            "--direct_num_workers",
            "1",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start, result.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", default=str(SHARED / "videos" / "k400_arm_wrestling_h264.mp4"))
    parser.add_argument("--models", default=str(REPO / "bench" / ".models"))
    args = parser.parse_args()
    video = pathlib.Path(args.video)
    forms = export(pathlib.Path(args.models))
    rows = {}
    for name, path in forms.items():
        fps = model_only(path, video)
        wall, _ = end_to_end(path, video, pathlib.Path(args.models) / f"out-{name}")
        rows[name] = (fps, wall)
        print(f"{name}: model {fps:.1f} frames/s, vidlabel run {wall:.1f} s", flush=True)
    frames = 50  # 10 s at 5 fps
    base_fps, base_wall = rows["base"]
    print(f"\nA0, 172 px, 5 fps, {video.name} ({frames} model frames); ratios to base measured in this run")
    print("| form | model frames/s | x base | `vidlabel run` wall s (incl. start-up) | x base |")
    print("| --- | --- | --- | --- | --- |")
    for name, (fps, wall) in rows.items():
        print(f"| {name} | {fps:.1f} | {fps / base_fps:.1f} | {wall:.1f} | {base_wall / wall:.2f} |")


if __name__ == "__main__":
    main()
