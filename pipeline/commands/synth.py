"""`vidlabel synth`: render labelled synthetic action videos, real H.264 files, for training and for checking labels.

No pretrained weights can be downloaded everywhere vidlabel runs, so the only way to show that the pipeline labels
videos correctly is a model trained on videos whose labels are known. Each class here needs motion over time to be
told apart: one frame of an object moving left looks like one frame of it moving right, and a reversed video has the
opposite label (left <-> right, up <-> down, clockwise <-> anticlockwise, grow <-> shrink). Two more classes
differ only by the object's colour (`red`, `blue`, random motion) and catch swapped colour channels.

Everything else is random per video: shape, colours, size, background (flat or gradient), noise, frame rate,
resolution and length, so that a model can only learn the class. Videos are encoded with libx264 through PyAV as
`OUT/<class>/<class>-NNNN.mp4`, the folder layout `vidlabel finetune --data OUT` reads.

A video of one class cannot show that vidlabel finds *where* an action changes, so `--sequences N` also renders N
videos that concatenate several actions (`OUT/sequence-NNNN.mp4`, 3-5 actions of 2-6 s by default, no two
consecutive actions of the same class). Each action is a new scene in the video's one size and frame rate (a hard
cut: new background, shape, colours and noise), so a shot boundary falls where the action changes too. Their truth is
`OUT/sequences.csv`, one row per action in time order: `video,action_index,label,start_s,end_s`, `video` being the
file's name in OUT and the seconds those of its first frame and of the frame after its last, so the ranges tile the
video. They sit directly in OUT, where `vidlabel finetune --data OUT` looks for no class and reads none of them.
"""

from __future__ import annotations

import argparse
import colorsys
import concurrent.futures
import csv
import itertools
import multiprocessing
import os
from collections.abc import Callable
from typing import NamedTuple

import av
import numpy as np

from vidlabel.transforms.errors import EXIT_OK, UsageError

MOTION_CLASSES = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_clockwise",
    "rotate_anticlockwise",
    "grow",
    "shrink",
)
COLOUR_CLASSES = ("red", "blue")
CLASSES = MOTION_CLASSES + COLOUR_CLASSES
# The label a video of each motion class gets when played backwards.
REVERSED = {
    "move_left": "move_right",
    "move_right": "move_left",
    "move_up": "move_down",
    "move_down": "move_up",
    "rotate_clockwise": "rotate_anticlockwise",
    "rotate_anticlockwise": "rotate_clockwise",
    "grow": "shrink",
    "shrink": "grow",
}

SIZES = ((160, 120), (192, 144), (224, 168), (256, 192), (320, 240), (240, 320), (176, 176), (288, 216))
FRAME_RATES = (12, 15, 24, 25, 30)
SHAPES = ("square", "triangle", "bar", "arrow", "disc")

# --sequences: the truth file written beside the sequence videos, and its columns.
SEQUENCES_CSV = "sequences.csv"
SEQUENCE_COLUMNS = ("video", "action_index", "label", "start_s", "end_s")


class Scene(NamedTuple):
    """Everything random about one video; `pose(t)` gives the object's centre (x, y in pixels), scale and angle."""

    width: int
    height: int
    fps: int
    num_frames: int
    shape: str
    radius: float  # pixels from the object's centre to its outer points, at scale 1
    object_rgb: np.ndarray  # uint8 [3]
    background: np.ndarray  # uint8 [H, W, 3]
    noise: float  # std of per-frame Gaussian pixel noise, in 0..255 units
    pose: Callable[[float], tuple[float, float, float, float]]


def random_scene(label: str, rng: np.random.Generator, seconds: tuple[float, float]) -> Scene:
    width, height = SIZES[rng.integers(len(SIZES))]
    fps = int(FRAME_RATES[rng.integers(len(FRAME_RATES))])
    return scene_in_format(label, rng, width, height, fps, rng.uniform(*seconds))


def scene_in_format(label: str, rng: np.random.Generator, width: int, height: int, fps: int, duration: float) -> Scene:
    """Everything random about a scene but its size, rate and length, which a sequence video shares between scenes."""
    short = min(width, height)
    motion = label if label in MOTION_CLASSES else MOTION_CLASSES[rng.integers(len(MOTION_CLASSES))]
    shape = SHAPES[rng.integers(len(SHAPES) - 1)] if motion.startswith("rotate") else SHAPES[rng.integers(len(SHAPES))]
    # Motion stays inside the centred square of the short side: what a centre-cropping model sees.
    cx, cy = width / 2 + rng.uniform(-0.1, 0.1) * short, height / 2 + rng.uniform(-0.1, 0.1) * short
    angle0 = rng.uniform(0, 2 * np.pi)
    travel_x, travel_y = rng.uniform(0.4, 0.6) * short, rng.uniform(0.4, 0.6) * short
    turn = rng.uniform(0.6, 1.0) * np.pi  # radians per second
    spin = rng.uniform(-0.3, 0.3)  # slow drift of the angle for non-rotating classes
    zoom = rng.uniform(1.8, 2.6)

    def pose(t: float) -> tuple[float, float, float, float]:
        u = t / duration - 0.5  # -0.5 .. 0.5 over the video
        x, y, scale, angle = cx, cy, 1.0, angle0 + spin * t
        if motion == "move_left":
            x = cx - u * travel_x
        elif motion == "move_right":
            x = cx + u * travel_x
        elif motion == "move_up":
            y = cy - u * travel_y
        elif motion == "move_down":
            y = cy + u * travel_y
        elif motion == "rotate_clockwise":  # image y points down: increasing angle turns clockwise on screen
            angle = angle0 + turn * t
        elif motion == "rotate_anticlockwise":
            angle = angle0 - turn * t
        elif motion in ("grow", "shrink"):
            scale = zoom ** (u if motion == "grow" else -u) * 0.8
        return x, y, scale, angle

    return Scene(
        width=width,
        height=height,
        fps=fps,
        num_frames=max(2, round(duration * fps)),
        shape=shape,
        radius=rng.uniform(0.15, 0.25) * short,
        object_rgb=object_colour(label, rng),
        background=background(width, height, rng, vivid=label not in COLOUR_CLASSES),
        noise=rng.uniform(0, 8),
        pose=pose,
    )


def object_colour(label: str, rng: np.random.Generator) -> np.ndarray:
    if label == "red":
        hue = rng.uniform(-0.03, 0.03) % 1.0
    elif label == "blue":
        hue = rng.uniform(0.6, 0.67)
    else:
        hue = rng.uniform(0, 1)
    return (np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))) * 255).astype(np.uint8)


def background(width: int, height: int, rng: np.random.Generator, vivid: bool) -> np.ndarray:
    """A flat or gradient background; without vivid colours where the object's colour is the class."""
    saturation = rng.uniform(0, 0.6) if vivid else rng.uniform(0, 0.15)
    ends = [np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), saturation, rng.uniform(0.1, 0.6))) for _ in range(2)]
    if rng.uniform() < 0.5:
        ends[1] = ends[0]
    ramp = np.linspace(0, 1, width if rng.uniform() < 0.5 else height, dtype=np.float32)
    ramp = ramp[None, :, None] if len(ramp) == width else ramp[:, None, None]
    image = ends[0] * (1 - ramp) + ends[1] * ramp
    return (np.broadcast_to(image, (height, width, 3)) * 255).astype(np.uint8)


def object_mask(shape: str, x: float, y: float, radius: float, angle: float, grid: tuple[np.ndarray, np.ndarray]):
    """Boolean [H, W] mask of the shape centred at (x, y), `radius` pixels from centre to its outer points."""
    gx, gy = grid
    dx, dy = gx - x, gy - y
    if shape == "disc":
        return dx * dx + dy * dy <= radius * radius
    # Coordinates in the shape's own frame (rotated by -angle).
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * dx + s * dy) / radius, (-s * dx + c * dy) / radius
    if shape == "square":
        return (np.abs(u) <= 0.7) & (np.abs(v) <= 0.7)
    if shape == "bar":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.3)
    if shape == "triangle":  # points along +u
        return (u >= -0.5) & (u <= 1.0) & (np.abs(v) <= (1.0 - u) * 0.6)
    if shape == "arrow":  # a shaft with a head along +u
        shaft = (u >= -1.0) & (u <= 0.2) & (np.abs(v) <= 0.2)
        head = (u >= 0.2) & (u <= 1.0) & (np.abs(v) <= (1.0 - u) * 0.75)
        return shaft | head
    raise ValueError(f"unknown shape {shape}")


def render_frames(scene: Scene, rng: np.random.Generator):
    """Yields the scene's frames as uint8 [H, W, 3] RGB."""
    grid = np.meshgrid(np.arange(scene.width, dtype=np.float32), np.arange(scene.height, dtype=np.float32))
    for i in range(scene.num_frames):
        x, y, scale, angle = scene.pose(i / scene.fps)
        frame = scene.background.copy()
        frame[object_mask(scene.shape, x, y, scene.radius * scale, angle, grid)] = scene.object_rgb
        if scene.noise:
            noise = rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(scene.noise)
            frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
        yield frame


def write_video(path: str, frames, fps: int, width: int, height: int) -> None:
    """H.264 (yuv420p) in MP4 via PyAV; written to a temporary name and renamed, so a file that exists is whole."""
    partial = path + ".partial"
    with av.open(partial, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    os.replace(partial, path)


def render_video(out: str, label: str, class_index: int, index: int, seed: int, seconds: tuple[float, float]) -> str:
    """Renders video `index` of class `label`; its randomness depends only on (seed, class, index)."""
    rng = np.random.default_rng([seed, class_index, index])
    scene = random_scene(label, rng, seconds)
    path = os.path.join(out, label, f"{label}-{index:04d}.mp4")
    write_video(path, render_frames(scene, rng), scene.fps, scene.width, scene.height)
    return path


def render_dataset(out: str, classes, videos_per_class: int, seed: int, seconds=(1.2, 2.0), progress=None) -> list:
    """Renders `videos_per_class` videos per class into OUT/<class>/ on every core; returns [(path, class)].

    The same seed gives the same files, whatever the number of cores."""
    for label in classes:
        os.makedirs(os.path.join(out, label), exist_ok=True)
    seconds = tuple(seconds)
    jobs = [(out, label, c, i, seed, seconds) for c, label in enumerate(classes) for i in range(videos_per_class)]
    paths = in_parallel(render_video, jobs, progress)
    return [(path, job[1]) for path, job in zip(paths, jobs)]


class Action(NamedTuple):
    """One action of a sequence video: its class, and the seconds of its first frame and of the frame after its last."""

    label: str
    start_s: float
    end_s: float


def render_sequence(
    out: str, classes, index: int, seed: int, actions: tuple[int, int], seconds: tuple[float, float]
) -> tuple[str, list[Action]]:
    """Renders OUT/sequence-NNNN.mp4: `actions` (min, max) actions of `seconds` (min, max) each, rounded to whole
    frames, one new scene per action, no two consecutive actions of the same class; its randomness depends only on
    (seed, index) and the classes. Returns the path and the actions in time order."""
    rng = np.random.default_rng([seed, index])
    width, height = SIZES[rng.integers(len(SIZES))]
    fps = int(FRAME_RATES[rng.integers(len(FRAME_RATES))])
    labels: list[str] = []
    for _ in range(rng.integers(actions[0], actions[1] + 1)):
        choices = [c for c in classes if not labels or c != labels[-1]]
        labels.append(choices[rng.integers(len(choices))])
    scenes, timeline, start = [], [], 0
    for label in labels:
        frames = max(2, round(rng.uniform(*seconds) * fps))
        scenes.append(scene_in_format(label, rng, width, height, fps, frames / fps))
        timeline.append(Action(label, start / fps, (start + frames) / fps))
        start += frames
    path = os.path.join(out, f"sequence-{index:04d}.mp4")
    write_video(path, itertools.chain.from_iterable(render_frames(s, rng) for s in scenes), fps, width, height)
    return path, timeline


def render_sequences(out: str, classes, count: int, seed: int, actions, seconds, progress=None) -> list:
    """Renders `count` sequence videos into OUT on every core and writes their truth, OUT/sequences.csv (renamed
    into place once whole); returns [(path, [Action])]."""
    os.makedirs(out, exist_ok=True)
    jobs = [(out, tuple(classes), i, seed, tuple(actions), tuple(seconds)) for i in range(count)]
    written = in_parallel(render_sequence, jobs, progress)
    partial = os.path.join(out, SEQUENCES_CSV + ".partial")
    with open(partial, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SEQUENCE_COLUMNS)
        for path, timeline in written:
            for i, action in enumerate(timeline):
                writer.writerow([os.path.basename(path), i, action.label, action.start_s, action.end_s])
    os.replace(partial, os.path.join(out, SEQUENCES_CSV))
    return written


def in_parallel(function, jobs: list[tuple], progress=None) -> list:
    """`function(*job)` for every job on every core, results in the jobs' order."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow threads
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context) as pool:
        futures = [pool.submit(function, *job) for job in jobs]
        results = []
        for future in futures:
            results.append(future.result())
            if progress:
                progress.update(1)
    return results


def span(flag: str, text: str, kind: type) -> tuple:
    """A `MIN-MAX` flag value (or one number, MIN = MAX) as (min, max) of `kind`."""
    try:
        low, _, high = text.partition("-")
        low, high = kind(low), kind(high or low)
    except ValueError:
        raise UsageError(f"{flag}: expected MIN-MAX, got {text!r}") from None
    if not 0 < low <= high:
        raise UsageError(f"{flag}: expected 0 < MIN <= MAX, got {text!r}")
    return low, high


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidlabel synth",
        description="Render labelled synthetic action videos (H.264 MP4) as OUT/<class>/*.mp4 for `vidlabel finetune`.",
    )
    p.add_argument("--out", required=True, help="Folder to write (one sub-folder per class).")
    p.add_argument(
        "--classes",
        default=",".join(MOTION_CLASSES),
        help=f"Comma-separated classes from: {', '.join(CLASSES)} (default: the {len(MOTION_CLASSES)} motion classes).",
    )
    p.add_argument("--videos_per_class", type=int, default=80, help="In OUT/<class>/; 0 (none) with --sequences.")
    p.add_argument("--min_seconds", type=float, default=1.2)
    p.add_argument("--max_seconds", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0, help="Same seed, same videos.")
    p.add_argument(
        "--sequences",
        type=int,
        default=0,
        help="Also render this many videos that concatenate actions of the classes, OUT/sequence-NNNN.mp4, one new "
        "scene per action (a hard cut), no two consecutive actions alike; their truth (video, action_index, label, "
        f"start_s, end_s) is OUT/{SEQUENCES_CSV}. `vidlabel finetune --data OUT` does not read them.",
    )
    p.add_argument("--actions_per_video", default="3-5", help="MIN-MAX actions per --sequences video (default 3-5).")
    p.add_argument(
        "--action_seconds", default="2-6", help="MIN-MAX seconds of each action of a --sequences video (default 2-6)."
    )
    return p


def main(argv: list[str]) -> int:
    from tqdm import tqdm

    args = parser().parse_args(argv)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    unknown = sorted(set(classes) - set(CLASSES))
    if unknown or not classes:
        raise UsageError(f"--classes: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CLASSES)}")
    if args.videos_per_class < (0 if args.sequences > 0 else 1) or not 0 < args.min_seconds <= args.max_seconds:
        raise UsageError(
            "--videos_per_class must be >= 1 (>= 0 with --sequences) and 0 < --min_seconds <= --max_seconds"
        )
    actions = span("--actions_per_video", args.actions_per_video, int)
    seconds = span("--action_seconds", args.action_seconds, float)
    if args.sequences < 0 or (args.sequences and len(set(classes)) < 2):
        raise UsageError("--sequences must be >= 0, and needs at least two --classes")
    written = []
    with tqdm(total=len(classes) * args.videos_per_class + args.sequences, desc="rendering", unit="video") as bar:
        if args.videos_per_class:
            written = render_dataset(
                args.out, classes, args.videos_per_class, args.seed, (args.min_seconds, args.max_seconds), bar
            )
        if args.sequences:
            render_sequences(args.out, classes, args.sequences, args.seed, actions, seconds, bar)
    if written:
        print(f"wrote {len(written)} videos of {len(classes)} classes to {args.out}")
    if args.sequences:
        print(f"wrote {args.sequences} sequence videos and their truth, {os.path.join(args.out, SEQUENCES_CSV)}")
    return EXIT_OK
