"""`--fast_decode on` against the default decoding and `--sparse_decode on`: how much faster, and how often it
changes what the demo's fine-tuned model says.

    .venv/bin/python bench/fast_decode.py          # ~10 min with the demo model in bench/.models/demo

1. Speed: `decode_video` (what `vidlabel run`'s decoder processes run: decode, resample, resize, shot detection,
   thumbnails) in this process, off / sparse / fast alternated, best of three, on the inputs `decode_ceiling.py`
   renders (H.264 720p and 1080p with B-frames, H.264 without B-frames, HEVC, VP9, AV1) and the shared real H.264
   videos with B-frames, at A0's clip spec (172 px, 5 fps).
2. Labels: `vidlabel run` with the demo's model (`segments.demo_model()`: bench/.models/demo/model, made by the
   full demo when missing) on (a) the demo's 60 held-out videos (H.264 with B-frames, 24 fps, 288x216) and (b) the
   shared real videos re-encoded here by libx264 with its defaults (-preset medium, 3 B-frames and a B-pyramid, as
   archive exports come), once with default flags and once with `--fast_decode on`. Reported: clips whose top-1
   label changed, videos whose top-1 label changed, the largest change of any clip's top-1 probability, and (a)
   accuracy against the true class of each held-out video.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import vidlabel_command  # noqa: E402  (bench scripts are run as files)
from decode_ceiling import ENCODINGS, render  # noqa: E402
from decode_isolation import REPO, SHARED_VIDEOS, render_720p  # noqa: E402
from segments import DEMO_OUT, demo_model  # noqa: E402

INPUTS = REPO / "bench" / ".inputs"
REAL_B_FRAMES = ["k400_arm_wrestling_h264.mp4", "anet_clean_and_jerk_h264.mp4"]
MODES = {"off": {}, "sparse": {"sparse": True}, "fast": {"fast": True}}


def decode_seconds(path: pathlib.Path, mode: str) -> float:
    import time

    import av

    from vidlabel.transforms.decode import decode_video
    from vidlabel.transforms.types import ClipSpec, DecodeLimits, DecodeOptions

    av.logging.set_level(None)
    spec = ClipSpec(fps=5, resolution=172, clip_frames=50, stride_frames=50)
    options = DecodeOptions(thumbnails_every_s=10.0, **MODES[mode])
    start = time.perf_counter()
    for _ in decode_video(str(path), spec, DecodeLimits(), options):
        pass
    return time.perf_counter() - start


def reencode(name: str) -> pathlib.Path:
    """A shared video re-encoded by libx264 with its defaults (B-frames), audio dropped."""
    path = INPUTS / f"x264_{pathlib.Path(name).stem}.mp4"
    if not path.exists():
        partial = path.with_name("partial-" + path.name)
        command = ["ffmpeg", "-v", "error", "-y", "-i", str(SHARED_VIDEOS / name), "-an", "-c:v", "libx264"]
        subprocess.run([*command, "-preset", "medium", "-pix_fmt", "yuv420p", str(partial)], check=True)
        partial.rename(path)
    return path


def label(inputs: pathlib.Path, model: pathlib.Path, out: pathlib.Path, *flags: str) -> None:
    command = vidlabel_command("run", "--input", inputs, "--output", out, "--model", model, *flags)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def compare(default: pathlib.Path, fast: pathlib.Path) -> dict:
    import duckdb

    clips = duckdb.sql(
        f"""
        select a.video_uri, a.top_k[1].label = b.top_k[1].label as same,
               abs(a.top_k[1].score - b.top_k[1].score) as moved
        from '{default}/predictions-*.parquet' a join '{fast}/predictions-*.parquet' b using (video_uri, clip_index)
        """
    ).fetchall()
    videos = duckdb.sql(
        f"""
        select a.video_uri, a.top_k[1].label, b.top_k[1].label
        from '{default}/videos-*.parquet' a join '{fast}/videos-*.parquet' b using (video_uri)
        where a.status = 'ok'
        """
    ).fetchall()

    def truth(uri):  # the held-out videos sit in one folder per class
        return uri.rstrip("/").split("/")[-2]

    return {
        "clips": len(clips),
        "clips_changed": sum(not same for _, same, _ in clips),
        "max_moved": max(moved for _, _, moved in clips),
        "videos": len(videos),
        "videos_changed": sum(a != b for _, a, b in videos),
        "correct_default": sum(a == truth(uri) for uri, a, _ in videos),
        "correct_fast": sum(b == truth(uri) for uri, _, b in videos),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--skip_speed", action="store_true")
    args = parser.parse_args()
    if not args.skip_speed:
        source = INPUTS / "gradient_720p30_20s.mp4"
        render_720p(source)
        inputs = {name: render(name, source, args.seconds) for name in ENCODINGS}
        inputs.update({name: SHARED_VIDEOS / name for name in REAL_B_FRAMES})
        best = {(name, mode): float("inf") for name in inputs for mode in MODES}
        for _ in range(3):
            for name, path in inputs.items():
                for mode in MODES:
                    best[name, mode] = min(best[name, mode], decode_seconds(path, mode))
        print("\n| input | decode everything s | sparse / everything | fast / everything | fast / sparse |")
        print("| --- | --- | --- | --- | --- |")
        for name in inputs:
            off, sparse, fast = (best[name, mode] for mode in MODES)
            print(f"| {name} | {off:.2f} | {sparse / off:.2f} | {fast / off:.2f} | {fast / sparse:.2f} |", flush=True)

    model = demo_model()
    held_out = DEMO_OUT / "videos" / "heldout"
    with tempfile.TemporaryDirectory(prefix="vidlabel-fast-") as tmp:
        real = pathlib.Path(tmp) / "real"
        real.mkdir()
        for name in sorted(p.name for p in SHARED_VIDEOS.iterdir()):
            if name.endswith((".mp4", ".mkv", ".webm", ".gif", ".avi")) and name not in ("zero_bytes.webm",):
                try:
                    (real / f"x264_{pathlib.Path(name).stem}.mp4").symlink_to(reencode(name))
                except subprocess.CalledProcessError:
                    continue  # no video stream, or undecodable: nothing to compare
        print("\n| videos | clips | clips whose top-1 changed | largest top-1 score change | videos whose top-1 "
              "changed | held-out accuracy, default -> fast |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- |")
        for name, folder in (("demo held-out", held_out), ("shared, re-encoded by x264", real)):
            default, fast = pathlib.Path(tmp) / f"{name}-default", pathlib.Path(tmp) / f"{name}-fast"
            label(folder, model, default)
            label(folder, model, fast, "--fast_decode", "on")
            c = compare(default, fast)
            accuracy = f"{c['correct_default']}/{c['videos']} -> {c['correct_fast']}/{c['videos']}"
            print(
                f"| {name} | {c['clips']} | {c['clips_changed']} ({100 * c['clips_changed'] / c['clips']:.1f}%) "
                f"| {c['max_moved']:.3f} | {c['videos_changed']} of {c['videos']} "
                f"| {accuracy if folder == held_out else '-'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
