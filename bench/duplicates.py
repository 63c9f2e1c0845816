"""Near-duplicates: does `vidlabel search --duplicates` find copies of a video, and leave distinct videos apart?

    .venv/bin/python bench/duplicates.py [--thresholds 0.9,0.95,0.97,0.98,0.99,0.995]

The set (in bench/.inputs/duplicates/, reused when there):
- originals: the four real shared videos of 3 s or more (clean-and-jerk 18 s, arm wrestling 10 s, the rotated mug
  3.7 s, the 10-minute 1-fps countdown) and four rendered ones (`vidlabel synth --sequences 4`: six actions each,
  hard cuts between scenes);
- four copies of each, made by FFmpeg: `crf` (libx264 at CRF 40, a tenth or less of the bitrate), `half` (half the
  width and height), `letterbox` (the picture unchanged in a frame a third taller, black bars above and below) and
  `trim` (the first second cut off);
- distractors: the demo's 60 held-out videos (10 of each of 6 classes): distinct videos, but alike within a class.

Each method labels the set once (`vidlabel run --embeddings`) and `duplicates.duplicate_groups` groups it at every
threshold, in this process:
- `demo`: the demo's model (`bench/.models/demo/model`, trained on the synthetic classes, 48 px, 1-s clips);
- `a0-random`: A0 with seeded random weights, TFLite (`bench/.models/a0-stream/model.tflite`), its default 10-s
  clips, and again with `--clip_seconds 1`;
- `thumbnails`: no model: each 1-s clip's signature is the mean of the 32x18 Y'CbCr thumbnails shot detection makes
  of its frames (`transforms/shots.thumbnail`), less its mean, L2-normalised; grouped by the same rule.

Scores are over pairs of videos: a found pair is two videos in one group; a true pair is two of one family
(an original and its copies). Recall is also given per kind of copy (the copy grouped with its original).

`--scale 10000,20000,40000`: instead, the time `duplicate_groups` takes over that many clips of random unit
embeddings of A0's dimension (100 clips a video, no twins: the N² comparison alone), in this process.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import subprocess
import sys
import time

import av
import duckdb
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import SHARED, random_model, vidlabel_command  # noqa: E402  (bench scripts are run as files)

from vidlabel.pipeline.commands import duplicates, search  # noqa: E402
from vidlabel.transforms import shots  # noqa: E402

BENCH = pathlib.Path(__file__).resolve().parent
WORK = BENCH / ".inputs" / "duplicates"
MODELS = BENCH / ".models"
DEMO = MODELS / "demo"
REAL = ("anet_clean_and_jerk_h264.mp4", "k400_arm_wrestling_h264.mp4", "mug_rotate270_h264.mp4")
LONG = "countdown_10min_1fps.mkv"
COPIES = {
    "crf": ["-c:v", "libx264", "-crf", "40"],
    "half": ["-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2", "-c:v", "libx264", "-crf", "23"],
    "letterbox": ["-vf", "pad=iw:trunc(ih*2/3)*2:0:(oh-ih)/2", "-c:v", "libx264", "-crf", "23"],
    "trim": ["-ss", "1", "-c:v", "libx264", "-crf", "23"],
}


def ffmpeg(source: pathlib.Path, target: pathlib.Path, flags: list[str]) -> None:
    if target.exists():
        return
    seek, flags = (flags[:2], flags[2:]) if flags[:1] == ["-ss"] else ([], flags)
    command = ["ffmpeg", "-v", "error", "-y", *seek, "-i", source, "-an", "-pix_fmt", "yuv420p", *flags, target]
    subprocess.run(command, check=True)


def make_set() -> tuple[pathlib.Path, dict[str, str]]:
    """The videos, and each one's family (its original's name; a distractor is its own family)."""
    videos = WORK / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    rendered = WORK / "rendered"
    if not (rendered / "sequences.csv").exists():
        classes = "move_left,move_right,move_up,move_down,grow,shrink"
        command = ("synth", "--out", rendered, "--classes", classes, "--videos_per_class", "0", "--sequences", "4")
        subprocess.run(vidlabel_command(*command, "--seed", "23"), check=True, stdout=subprocess.DEVNULL)
    originals = [SHARED / "videos" / name for name in (*REAL, LONG)] + sorted(rendered.glob("sequence-*.mp4"))
    family = {}
    for source in originals:
        stem = source.stem
        ffmpeg(source, videos / f"{stem}.mp4", ["-c:v", "libx264", "-crf", "18"])  # the original, as H.264
        family[f"{stem}.mp4"] = stem
        for kind, flags in COPIES.items():
            ffmpeg(source, videos / f"{stem}~{kind}.mp4", flags)
            family[f"{stem}~{kind}.mp4"] = stem
    for held_out in sorted((DEMO / "videos" / "heldout").glob("*/*.mp4")):
        link = videos / f"distractor-{held_out.name}"
        if not link.exists():
            link.symlink_to(held_out)
        family[link.name] = link.name
    return videos, family


def labelled(videos: pathlib.Path, name: str, model: pathlib.Path, *flags: str) -> pathlib.Path:
    out = WORK / f"result-{name}"
    if not (out / "run.json").exists():
        command = ("run", "--input", videos, "--output", out, "--model", model, "--embeddings", "--overwrite")
        subprocess.run(vidlabel_command(*command, *flags), check=True, stdout=subprocess.DEVNULL)
    return out


def stored_clips(out: pathlib.Path) -> duplicates.StoredClips:
    con = duckdb.connect()
    source, params = search.predictions_source(con, str(out))
    dim = len(
        con.sql(f"SELECT embedding FROM {source} WHERE embedding IS NOT NULL LIMIT 1", params=params).fetchall()[0][0]
    )
    return duplicates.read_clips(con, source, params, dim)


def thumbnail_clips(videos: pathlib.Path, clip_s: float = 1.0) -> duplicates.StoredClips:
    """The model-free signature: per `clip_s` of each video, the mean thumbnail of its frames, centred, unit length."""
    uris, video, starts, ends, vectors = [], [], [], [], []
    for path in sorted(videos.iterdir()):
        sums: dict[int, list] = {}
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                index = int(float(frame.time) // clip_s)
                entry = sums.setdefault(index, [np.zeros(3 * shots.THUMB_HEIGHT * shots.THUMB_WIDTH), 0])
                entry[0] += shots.thumbnail(frame).ravel()
                entry[1] += 1
        uris.append(str(path))
        for index, (total, count) in sorted(sums.items()):
            signature = total / count
            signature -= signature.mean()
            norm = np.linalg.norm(signature)
            vectors.append(signature / norm if norm else signature)
            video.append(len(uris) - 1)
            starts.append(index * clip_s)
            ends.append((index + 1) * clip_s)
    return duplicates.StoredClips(
        uris, np.array(video), np.array(starts), np.array(ends), np.array(vectors, np.float32)
    )


def scores(groups, family: dict[str, str]) -> dict:
    found = set()
    by_group: dict[int, list[str]] = {}
    for group, uri in zip(groups["group"].to_pylist(), groups["video_uri"].to_pylist()):
        by_group.setdefault(group, []).append(pathlib.Path(uri).name)
    for members in by_group.values():
        found |= {frozenset(pair) for pair in itertools.combinations(members, 2)}
    true = {frozenset(pair) for pair in itertools.combinations(family, 2) if family[pair[0]] == family[pair[1]]}
    hits = found & true
    kinds = {}
    for kind in COPIES:
        wanted = {frozenset((f"{family[name]}.mp4", name)) for name in family if name.endswith(f"~{kind}.mp4")}
        kinds[kind] = len(wanted & found) / len(wanted)
    false = found - true
    return {
        "precision": len(hits) / len(found) if found else 1.0,
        "recall": len(hits) / len(true),
        "false": len(false),
        "false_distractor": sum(all(name.startswith("distractor-") for name in pair) for pair in false),
        **kinds,
    }


def scale(sizes: list[int]) -> None:
    rng = np.random.default_rng(0)
    print("| clips | duplicate_groups s | clips² / s |")
    print("| --- | --- | --- |")
    for n in sizes:
        vectors = rng.standard_normal((n, 480), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        video = np.arange(n) // 100
        clips = duplicates.StoredClips([f"v{i}" for i in range(video[-1] + 1)], video, np.zeros(n), np.ones(n), vectors)
        started = time.perf_counter()
        duplicates.duplicate_groups(clips, duplicates.DEFAULT_THRESHOLD)
        seconds = time.perf_counter() - started
        print(f"| {n} | {seconds:.1f} | {n * n / seconds:.2e} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--thresholds", default="0.9,0.95,0.97,0.98,0.99,0.995")
    parser.add_argument("--scale", help="Comma-separated clip counts: time the grouping alone instead.")
    args = parser.parse_args()
    if args.scale:
        scale([int(n) for n in args.scale.split(",")])
        return
    thresholds = [float(t) for t in args.thresholds.split(",")]
    videos, family = make_set()
    originals = sum(1 for name in family if family[name] + ".mp4" == name and not name.startswith("distractor-"))
    distractors = len(family) - 5 * originals
    print(f"{len(family)} videos: {originals} originals, each with 4 copies, and {distractors} distractors")
    lite = random_model(MODELS / "a0-stream", "a0", "stream", "--tflite") / "model.tflite"
    methods = {
        "demo (1-s clips)": lambda: stored_clips(labelled(videos, "demo", DEMO / "model")),
        "a0-random (10-s clips)": lambda: stored_clips(labelled(videos, "a0", lite)),
        "a0-random (1-s clips)": lambda: stored_clips(labelled(videos, "a0-1s", lite, "--clip_seconds", "1")),
        "thumbnails (1-s clips)": lambda: thumbnail_clips(videos),
    }
    print(
        "| method | threshold | precision | recall | false pairs (distractor-distractor) | " + " | ".join(COPIES) + " |"
    )
    print("| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in COPIES) + " |")
    for method, clips_of in methods.items():
        clips = clips_of()
        for threshold in thresholds:
            s = scores(duplicates.duplicate_groups(clips, threshold), family)
            print(
                f"| {method} | {threshold:g} | {s['precision']:.2f} | {s['recall']:.2f} | "
                f"{s['false']} ({s['false_distractor']}) | " + " | ".join(f"{s[k]:.2f}" for k in COPIES) + " |",
                flush=True,
            )


if __name__ == "__main__":
    main()
