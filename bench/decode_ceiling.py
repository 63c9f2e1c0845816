"""vidlabel's decoding (decode + resample to the model's rate + resize to its side, in the isolated decoder process
`vidlabel run` uses) against the C ceiling: a PyAV loop that only decodes, with FFmpeg's threads on and no
conversion, on the same file and the same FFmpeg build. Target: ratio <= 1.3 for each codec.

    .venv/bin/python bench/decode_ceiling.py [--seconds 20]

Inputs (rendered once under bench/.inputs with the ffmpeg CLI from the 720p30 H.264 bench video,
`decode_isolation.render_720p`): H.264 720p and 1080p (libx264 defaults at -preset medium: 3 B-frames with a
B-pyramid, as archive exports come), H.264 720p without B-frames (-bf 0, as phones record), HEVC 720p (libx265
defaults at -preset medium: B-frames and B-pyramid), VP9 720p (libvpx-vp9), AV1 720p (libsvtav1); and the shared
real H.264 videos with B-frames. Clip spec: A0's, 172 px at 5 fps, clips of 50 frames. Each figure is the best of
three rounds, alternating them.

Per input:
- decode all: the C ceiling above; NONREF: the same loop with FFmpeg's `skip_frame = NONREF` (every
  non-reference frame left undecoded: the floor for exact sparse decoding, which must still decode the few that a
  tick shows); sparse: vidlabel's planner (`transforms/sparse.py`) feeding the same decoder, frames not converted.
  Goal: sparse within 5% of NONREF on every B-frame input.
- vidlabel, as `vidlabel run` decodes by default (thumbnails on, `--sparse_decode off`), with `--sparse_decode on`,
  and with `--thumbnails off` (what the thumbnails cost).
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from decode_isolation import REPO, SHARED_VIDEOS, render_720p, sandboxed  # noqa: E402  (bench scripts run as files)

INPUTS = REPO / "bench" / ".inputs"
ENCODINGS = {
    "h264_720p": ("mp4", ["-c:v", "libx264", "-preset", "medium", "-crf", "23"]),
    "h264_1080p": ("mp4", ["-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "medium", "-crf", "23"]),
    "h264_720p_no_b": ("mp4", ["-c:v", "libx264", "-preset", "medium", "-crf", "23", "-bf", "0"]),
    "hevc_720p": ("mp4", ["-c:v", "libx265", "-preset", "medium", "-crf", "26", "-x265-params", "log-level=error"]),
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


def pyav_decode(path: pathlib.Path, mode: str) -> tuple[float, int]:
    """Seconds to decode the file with PyAV, threads on, no conversion: every frame ("all"), FFmpeg's NONREF skip
    ("nonref") or vidlabel's sparse planner ("sparse"); and the frames decoded."""
    import av

    from vidlabel.transforms.decode import decoded_frames, sparse_planner
    from vidlabel.transforms.sparse import SkippedFrame

    start, frames = time.perf_counter(), 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if mode == "nonref":
            stream.codec_context.skip_frame = "NONREF"
        planner = sparse_planner(stream, 5.0) if mode == "sparse" else None
        for frame in decoded_frames(container, stream, planner):
            frames += not isinstance(frame, (SkippedFrame, Exception))
    return time.perf_counter() - start, frames


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
    thumbnails = DecodeOptions(thumbnails_every_s=DEFAULT_EVERY_S)
    decoders = {  # as `vidlabel run` by default, with --sparse_decode on, with --thumbnails off
        "run": DecoderProcess(spec, DecodeLimits(), thumbnails),
        "run_sparse": DecoderProcess(spec, DecodeLimits(), thumbnails._replace(sparse=True)),
        "no_thumbnails": DecoderProcess(spec, DecodeLimits()),
    }
    for decoder in decoders.values():
        decoder.start()
    inputs = {name: render(name, source, args.seconds) for name in ENCODINGS}
    inputs.update({name: SHARED_VIDEOS / f"{name}.mp4" for name in ("k400_arm_wrestling_h264", "mug_rotate270_h264")})
    rows = []
    for name, path in inputs.items():
        for decoder in decoders.values():  # the decoder process is started once per worker, not per file
            sandboxed(decoder, [str(path)])
        best = {}
        for _ in range(3):
            for mode in ("all", "nonref", "sparse"):
                best.setdefault(mode, []).append(pyav_decode(path, mode))
            for label, decoder in decoders.items():
                best.setdefault(label, []).append(sandboxed(decoder, [str(path)]))
        row = {mode: min(times) for mode, times in best.items()}
        rows.append((name, row))
        print(name, {mode: f"{s:.3f} s, {n} frames" for mode, (s, n) in row.items()}, flush=True)
    for decoder in decoders.values():
        decoder.close()
    print(
        f"\n{args.seconds}-s inputs (the shared videos as they are); 5 fps, 172 px through the isolated decoder process"
    )
    print(
        "| input | frames decoded: all / NONREF / sparse | decode all s | NONREF / all | sparse / all "
        "| sparse / NONREF (goal <= 1.05) | vidlabel s | vidlabel / all (target <= 1.3) "
        "| --sparse_decode on / off | thumbnails' cost |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, row in rows:
        (all_s, all_n), (nonref_s, nonref_n), (sparse_s, sparse_n) = row["all"], row["nonref"], row["sparse"]
        run_s, on_s, plain_s = row["run"][0], row["run_sparse"][0], row["no_thumbnails"][0]
        print(
            f"| {name} | {all_n} / {nonref_n} / {sparse_n} | {all_s:.2f} | {nonref_s / all_s:.2f} "
            f"| {sparse_s / all_s:.2f} | {sparse_s / nonref_s:.2f} | {run_s:.2f} | {run_s / all_s:.2f} "
            f"| {on_s / run_s:.2f} | {run_s / plain_s:.3f} |"
        )


if __name__ == "__main__":
    main()
