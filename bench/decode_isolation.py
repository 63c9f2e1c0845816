"""What running the decoder in its own process costs: the same videos decoded to model clips in this process
(`decode.decode_video`) and through the sandboxed `DecoderProcess` that `vidlabel run` uses, side by side.

    .venv/bin/python bench/decode_isolation.py

Inputs: a rendered 20-second 1280x720 30 fps H.264 video (made once under bench/.inputs) and the shared videos.
Two clip specs: the A0 default (172 px at 5 fps, clips of 50 frames) and a worst case for the pipe (every source
frame kept: 30 fps). Each measurement is the best of three rounds, alternating the two ways.
Prints the ratio sandbox / in-process time per spec, and the raw figures.
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_VIDEOS = pathlib.Path(os.environ.get("VIDLABEL_SHARED", REPO.parent / "shared")) / "videos"


def render_720p(path: pathlib.Path, seconds: int = 20, fps: int = 30) -> None:
    """A moving gradient with noise, so the encoder has real work and the decoder too."""
    from vidlabel.pipeline.commands.synth import write_video

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:720, 0:1280]

    def frames():
        for i in range(seconds * fps):
            base = ((xs + 8 * i) % 256 + (ys // 4)) % 256
            image = np.stack([base, (base + 85) % 256, (255 - base)], axis=-1).astype(np.uint8)
            image[rng.integers(0, 720, 2000), rng.integers(0, 1280, 2000)] = 255
            yield image

    write_video(str(path), frames(), fps, 1280, 720)


def in_process(uris, spec, limits) -> tuple[float, int]:
    import av

    from vidlabel.transforms.decode import decode_video
    from vidlabel.transforms.types import VideoError, VideoInfo

    av.logging.set_level(None)
    start, frames = time.perf_counter(), 0
    for uri in uris:
        for item in decode_video(uri, spec, limits):
            if not isinstance(item, (VideoInfo, VideoError)):  # a (ClipKey, frames) clip
                frames += len(item[1])
    return time.perf_counter() - start, frames


def sandboxed(decoder, uris) -> tuple[float, int]:
    from vidlabel.transforms.types import Thumbnail, VideoError, VideoInfo

    start, frames = time.perf_counter(), 0
    for uri in uris:
        for item in decoder.decode(uri):
            if not isinstance(item, (VideoInfo, VideoError, Thumbnail)):  # a (ClipKey, frames) clip
                frames += len(item[1])
    return time.perf_counter() - start, frames


def main() -> None:
    from vidlabel.transforms.sandbox import DecoderProcess
    from vidlabel.transforms.types import ClipSpec, DecodeLimits

    video = REPO / "bench" / ".inputs" / "gradient_720p30_20s.mp4"
    render_720p(video)
    shared = sorted(str(p) for p in SHARED_VIDEOS.iterdir() if p.name != "MANIFEST.md")
    limits = DecodeLimits()
    results = {}
    for label, spec in {
        "a0_172px_5fps": ClipSpec(fps=5, resolution=172, clip_frames=50, stride_frames=50),
        "every_frame_172px_30fps": ClipSpec(fps=30, resolution=172, clip_frames=50, stride_frames=50),
    }.items():
        decoder = DecoderProcess(spec, limits)
        decoder.start()
        start = time.perf_counter()
        list(decoder.decode(str(SHARED_VIDEOS / "neuro_mjpeg_160x120_3frames.avi")))  # start-up: once per worker
        startup = time.perf_counter() - start
        for name, uris in {"720p30_h264": [str(video)], "shared_videos": shared}.items():
            plain, isolated = [], []
            for _ in range(3):
                plain.append(in_process(uris, spec, limits))
                isolated.append(sandboxed(decoder, uris))
            assert plain[0][1] == isolated[0][1], "both ways must give the same frames"
            best_plain, best_isolated = min(t for t, _ in plain), min(t for t, _ in isolated)
            results[f"{label}/{name}"] = {
                "model_frames": plain[0][1],
                "in_process_s": round(best_plain, 3),
                "sandboxed_s": round(best_isolated, 3),
                "ratio": round(best_isolated / best_plain, 3),
            }
        results[f"{label}/decoder_start_s"] = round(startup, 2)
        decoder.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
