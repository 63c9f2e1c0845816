"""vidlabel's decoding (decode + resample to the model's rate + resize to its side, in the isolated decoder process
`vidlabel run` uses) against the C ceiling: a PyAV loop that only decodes, with FFmpeg's threads on and no
conversion, on the same file and the same FFmpeg build. Target: ratio <= 1.3 for each codec.

    .venv/bin/python bench/decode_ceiling.py [--seconds 20]

Inputs (rendered once under bench/.inputs with the ffmpeg CLI from the 720p30 H.264 bench video,
`decode_isolation.render_720p`): H.264 720p and 1080p (libx264), VP9 720p (libvpx-vp9), AV1 720p (libsvtav1).
Clip spec: A0's, 172 px at 5 fps, clips of 50 frames. Each figure is the best of three rounds, alternating them.
vidlabel is measured as `vidlabel run` decodes by default (thumbnails every 10 s and one per shot) and with
`--thumbnails off`, so the last column is what the thumbnails cost.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from decode_isolation import REPO, render_720p, sandboxed  # noqa: E402  (bench scripts are run as files)
from end_to_end import decode_only  # noqa: E402

INPUTS = REPO / "bench" / ".inputs"
ENCODINGS = {
    "h264_720p": ("mp4", ["-c:v", "libx264", "-preset", "medium", "-crf", "23"]),
    "h264_1080p": ("mp4", ["-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "medium", "-crf", "23"]),
    "vp9_720p": (
        "webm",
        [
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "3M",
            "-row-mt",
            "1",
            "-tile-columns",
            "2",
        ],
    ),
    "av1_720p": ("mp4", ["-c:v", "libsvtav1", "-preset", "10", "-crf", "35"]),
}


def render(name: str, source: pathlib.Path, seconds: int) -> pathlib.Path:
    extension, codec_args = ENCODINGS[name]
    path = INPUTS / f"{name}_{seconds}s.{extension}"
    if not path.exists():
        partial = path.with_name("partial-" + path.name)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-t", str(seconds), *codec_args, "-an", str(partial)],
            check=True,
        )
        partial.rename(path)
    return path


def main() -> None:
    from vidlabel.transforms.sandbox import DecoderProcess
    from vidlabel.transforms.thumbnails import DEFAULT_EVERY_S
    from vidlabel.transforms.types import ClipSpec, DecodeLimits, DecodeOptions

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    source = INPUTS / "gradient_720p30_20s.mp4"
    render_720p(source)
    spec = ClipSpec(fps=5, resolution=172, clip_frames=50, stride_frames=50)
    decoder = DecoderProcess(spec, DecodeLimits(), DecodeOptions(thumbnails_every_s=DEFAULT_EVERY_S))  # as `run`
    plain_decoder = DecoderProcess(spec, DecodeLimits())  # --thumbnails off
    decoder.start()
    plain_decoder.start()
    rows = []
    for name in ENCODINGS:
        path = render(name, source, args.seconds)
        for warm in (decoder, plain_decoder):  # the decoder process is started once per worker, not per file
            sandboxed(warm, [str(path)])
        ceiling, ours, plain = [], [], []
        for _ in range(3):
            ceiling.append(decode_only([path]))
            ours.append(sandboxed(decoder, [str(path)]))
            plain.append(sandboxed(plain_decoder, [str(path)]))
        (c_s, c_frames), (o_s, o_frames), (p_s, _) = min(ceiling), min(ours), min(plain)
        rows.append((name, c_frames, o_frames, c_s, o_s, p_s))
        print(
            f"{name}: decode-only {c_s:.2f} s ({c_frames} frames), vidlabel {o_s:.2f} s ({o_frames} model frames), "
            f"without thumbnails {p_s:.2f} s",
            flush=True,
        )
    decoder.close()
    plain_decoder.close()
    print(f"\n{args.seconds}-s inputs; vidlabel: decode + 5 fps + 172 px through the isolated decoder process")
    print(
        "| input | source frames | decode-only s (frames/s) | vidlabel s | ratio (target <= 1.3) "
        "| --thumbnails off s | thumbnails' cost |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, c_frames, _, c_s, o_s, p_s in rows:
        print(
            f"| {name} | {c_frames} | {c_s:.2f} ({c_frames / c_s:.0f}) | {o_s:.2f} | {o_s / c_s:.2f} | {p_s:.2f} "
            f"| {o_s / p_s:.3f} |"
        )


if __name__ == "__main__":
    main()
