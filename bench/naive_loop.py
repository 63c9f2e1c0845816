"""`vidlabel run` against the tutorial-style loop on the same model and videos, for a base and a stream model.

    .venv/bin/python bench/naive_loop.py [--files 6] [--forms base,tflite]

The naive loop is what the official MoViNet tutorials do, applied to a folder of videos, one process:
decode every frame to an RGB NumPy array (PyAV, default settings), stack the video, scale to [0, 1] and
`tf.image.resize` every frame to the model's side, keep every frame that falls on the model's rate (so both
sides score the same frames), then
- base: call the SavedModel's `serving_default` clip by clip (the plain SavedModel, as `hub.load` gives it);
- tflite: the tutorial's LiteRT loop: one `runner(**states, image=frame)` per frame, states from zeros per clip.
`vidlabel run` gets the same folder, model and defaults (local runner, one worker per core, decoder isolation on).
Both wall times include loading the model; `vidlabel run`'s also includes Python, Beam and TensorFlow start-up.
Input: N links to the rendered 20-second 720p30 H.264 video (`decode_isolation.render_720p`).
Models: bench/.models/a0-base and a0-stream/model.tflite (`stream_vs_tflite_vs_base.py` exports them).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import vidlabel_command
from decode_isolation import REPO, render_720p  # noqa: E402  (bench scripts are run as files)

MODELS = {
    "base": REPO / "bench" / ".models" / "a0-base",
    "tflite": REPO / "bench" / ".models" / "a0-stream" / "model.tflite",
}


def tutorial_frames(path: pathlib.Path, side: int, fps: float):
    """The whole video as float32 [T, side, side, 3], then the frames on the model's rate."""
    import av
    import tensorflow as tf

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        source_fps = float(stream.average_rate)
        video = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
    video = tf.image.resize(tf.image.convert_image_dtype(video, tf.float32), [side, side]).numpy()
    return video[np.round(np.arange(0, len(video), source_fps / fps)).astype(int)]


def naive_base(paths, model: pathlib.Path, metadata: dict) -> float:
    import tensorflow as tf

    start = time.perf_counter()
    serving = tf.saved_model.load(str(model)).signatures["serving_default"]
    for path in paths:
        frames = tutorial_frames(path, metadata["resolution"], metadata["fps"])
        for first in range(0, len(frames), metadata["clip_frames"]):
            clip = frames[None, first : first + metadata["clip_frames"]]
            tf.nn.softmax(serving(image=tf.constant(clip))["classifier_head"]).numpy()
    return time.perf_counter() - start


def naive_tflite(paths, model: pathlib.Path, metadata: dict) -> float:
    from ai_edge_litert.interpreter import Interpreter

    start = time.perf_counter()
    runner = Interpreter(model_path=str(model)).get_signature_runner()
    zeros = {
        name: np.zeros(d["shape"], d["dtype"]) for name, d in runner.get_input_details().items() if name != "image"
    }
    for path in paths:
        frames = tutorial_frames(path, metadata["resolution"], metadata["fps"])
        for first in range(0, len(frames), metadata["clip_frames"]):
            states = zeros
            for frame in frames[first : first + metadata["clip_frames"]]:
                states = runner(**states, image=frame[None, None])
                logits = states.pop("logits")
            np.exp(logits) / np.exp(logits).sum()
    return time.perf_counter() - start


def vidlabel_run(inputs: pathlib.Path, model: pathlib.Path, out: pathlib.Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        vidlabel_command("run", "--input", str(inputs), "--output", str(out), "--model", str(model)),
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--forms", default="base,tflite")
    args = parser.parse_args()
    video = REPO / "bench" / ".inputs" / "gradient_720p30_20s.mp4"
    render_720p(video)
    naive = {"base": naive_base, "tflite": naive_tflite}
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidlabel-naive-") as tmp:
        inputs = pathlib.Path(tmp) / "videos"
        inputs.mkdir()
        for i in range(args.files):
            (inputs / f"v{i:03d}.mp4").symlink_to(video)
        paths = sorted(inputs.iterdir())
        for form in args.forms.split(","):
            model = MODELS[form]
            if not model.exists():
                sys.exit(f"{model} is missing: `bench/stream_vs_tflite_vs_base.py` exports it")
            metadata = json.loads(((model if model.is_dir() else model.parent) / "vidlabel.json").read_text())
            run_s = vidlabel_run(inputs, model, pathlib.Path(tmp) / f"out-{form}")
            naive_s = naive[form](paths, model, metadata)
            rows.append((form, naive_s, run_s))
            print(f"{form}: naive {naive_s:.1f} s, vidlabel run {run_s:.1f} s", flush=True)
    seconds = args.files * 20
    print(f"\n{args.files} files, {seconds} s of 720p30 H.264; A0 at 172 px / 5 fps")
    print("| model | tutorial-style loop | `vidlabel run` | speed-up (target >= 5) |")
    print("| --- | --- | --- | --- |")
    for form, naive_s, run_s in rows:
        print(f"| A0 {form} | {naive_s:.1f} s | {run_s:.1f} s | {naive_s / run_s:.1f}x |")


if __name__ == "__main__":
    main()
