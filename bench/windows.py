"""What shots cost: the shot detector inside vidlabel's decoding pass, and `--windows shots` against fixed windows.

    .venv/bin/python bench/windows.py [--rounds 3] [--forms a0-tflite,a0-base] [--sequences 6]

1. Decoding. The same files decoded to model clips (the A0 default: 172 px at 5 fps, clips of 50 frames) two ways,
   in this process, alternating, best of `--rounds`: vidlabel 0.4's pass (every frame decoded, the kept ones
   converted and cropped: `decode.sampled_frames` + `decode.to_model_frame`) and 0.5's (`decode.video_clips`: the
   same, plus a thumbnail of every decoded frame for the shot detector, the detector, and the clips held back for
   its lookahead). Files: the decodable shared videos, the rendered 20-s 720p30 video of `decode_isolation.py`, and
   `vidlabel synth --sequences` videos (hard cuts every 2-6 s). The ratio 0.5 / 0.4 is what shots add to decoding.
2. Scoring. `vidlabel run` on the sequence videos with `--windows fixed` and `--windows shots`, per model form
   (random weights, the speed does not depend on them), alternating, best of two: wall time, clips, and the ratio
   shots / fixed. Only clips of one length share a model call, so the shorter clips of shot windows batch less.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import random_model, vidlabel_command  # noqa: E402  (bench scripts are run as files)
from decode_isolation import REPO, SHARED_VIDEOS, render_720p  # noqa: E402

INPUTS = REPO / "bench" / ".inputs"
MODELS = REPO / "bench" / ".models"
DECODABLE = (
    "anet_clean_and_jerk_h264.mp4",
    "bbb_vp8_vorbis_1s.webm",
    "bear_vp9_161x121_odd.webm",
    "countdown_10min_1fps.mkv",
    "k400_arm_wrestling_h264.mp4",
    "mug_rotate270_h264.mp4",
    "selfie_av1_aac.mp4",
    "swimming_person.gif",
)


def decode_without_shots(uri: str, spec) -> int:
    """vidlabel 0.4's decoding pass: every frame decoded, the frames sampling keeps converted. Returns clips' frames."""
    from vidlabel.transforms import decode

    frames = 0
    with decode.open_container(uri) as container:
        for frame, _, ticks in decode.sampled_frames(container, decode.pick_video_stream(container), spec.fps):
            decode.to_model_frame(frame, spec)
            frames += ticks
    return frames


def decode_with_shots(uri: str, spec) -> int:
    """vidlabel 0.5's decoding pass (`video_clips`): the same, with the shot detector on every decoded frame."""
    from vidlabel.transforms import decode

    with decode.open_container(uri) as container:
        clips = decode.video_clips(uri, container, decode.pick_video_stream(container), spec)
        return sum(len(frames) for _, frames in clips)


def decoding(files: list[pathlib.Path], rounds: int) -> None:
    import av

    from vidlabel.transforms.types import ClipSpec

    av.logging.set_level(None)
    spec = ClipSpec(fps=5, resolution=172, clip_frames=50, stride_frames=50)
    print("| file | frames | 0.4 pass (s) | 0.5 pass, with shots (s) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    totals = [0.0, 0.0]
    for path in files:
        best = [float("inf"), float("inf")]
        for _ in range(rounds):
            for i, way in enumerate((decode_without_shots, decode_with_shots)):
                start = time.perf_counter()
                kept = way(str(path), spec)
                best[i] = min(best[i], time.perf_counter() - start)
        with av.open(str(path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        totals = [t + b for t, b in zip(totals, best)]
        print(f"| {path.name} | {frames} ({kept} kept) | {best[0]:.3f} | {best[1]:.3f} | {best[1] / best[0]:.3f} |")
    print(f"| all | | {totals[0]:.3f} | {totals[1]:.3f} | **{totals[1] / totals[0]:.3f}** |", flush=True)


def model_for(form: str) -> pathlib.Path:
    if form == "a0-tflite":
        return random_model(MODELS / "a0-stream", "a0", "stream", "--tflite") / "model.tflite"
    return random_model(MODELS / form, "a0", form.split("-")[1])


def scoring(folder: pathlib.Path, forms: list[str], tmp: pathlib.Path) -> None:
    import duckdb

    print("\n| model | windows | wall s (best of 2) | clips | mean clip s | shots / fixed wall |")
    print("| --- | --- | --- | --- | --- | --- |")
    for form in forms:
        model, best, clips = model_for(form), {}, {}
        for attempt in range(2):
            for windows in ("fixed", "shots"):
                out = tmp / f"{form}-{windows}-{attempt}"
                start = time.perf_counter()
                command = ("run", "--input", folder, "--output", out, "--model", model, "--windows", windows)
                subprocess.run(vidlabel_command(*command), check=True, capture_output=True)
                best[windows] = min(best.get(windows, float("inf")), time.perf_counter() - start)
                clips[windows] = duckdb.sql(
                    f"select count(*), avg(end_s - start_s) from '{out}/predictions-*.parquet'"
                ).fetchall()[0]
        for windows in ("fixed", "shots"):
            ratio = f"**{best['shots'] / best['fixed']:.2f}**" if windows == "shots" else ""
            count, mean = clips[windows]
            print(f"| {form} | {windows} | {best[windows]:.1f} | {count} | {mean:.2f} | {ratio} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--forms", default="a0-tflite,a0-base")
    parser.add_argument("--sequences", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidlabel-windows-") as tmp:
        tmp = pathlib.Path(tmp)
        sequences = tmp / "sequences"
        command = ("synth", "--out", sequences, "--videos_per_class", 0, "--sequences", args.sequences, "--seed", 5)
        subprocess.run(vidlabel_command(*command), check=True, capture_output=True)
        render_720p(INPUTS / "gradient_720p30_20s.mp4")
        files = [SHARED_VIDEOS / name for name in DECODABLE]
        files += [INPUTS / "gradient_720p30_20s.mp4", *sorted(sequences.glob("sequence-*.mp4"))[:2]]
        decoding(files, args.rounds)
        scoring(sequences, [f for f in args.forms.split(",") if f], tmp)


if __name__ == "__main__":
    main()
