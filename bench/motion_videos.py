"""A second generator of labelled motion videos, written apart from `vidlabel synth` to check that fine-tuning
generalises beyond the demo's own renderer (issue 18).

    .venv/bin/python bench/motion_videos.py --out DIR [--directions axis|diagonal] [--videos_per_class 30]
        [--seed 0] [--shuffle_labels]

DIR/<class>/<n>.mp4, one class per direction the main object travels: `axis` gives left, right, up, down;
`diagonal` up_left, up_right, down_left, down_right (different classes, for training a backbone to start from).
Unlike synth's flat scenes, each video has:
- a textured background (coarse colour blocks plus fine grain) that drifts in its own random direction, across
  2-10% of the picture over the video (the main object travels 5-40 times as far);
- a main object of a random shape (disc, ring, triangle, cross, diamond), colour and size (10-18% of the short
  side), travelling across 50-80% of the centre square (the part the model sees) at a steady speed;
- 1-3 distractor objects of other shapes that jiggle back and forth several times a second (no net motion
  within a clip: a distractor swaying once a second would look, over a 1-s clip, like a labelled motion);
- camera shake: the whole picture jitters each frame (standard deviation 0.5-2.5 px);
- a random frame rate (24-30 fps), short side 256-480 px in landscape, portrait or square, 3-6 s, H.264.
`--shuffle_labels` files each video under a random class instead of its own: a deliberately unlearnable set.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os

import numpy as np

DIRECTIONS = {
    "axis": {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)},
    "diagonal": {
        "up_left": (-1, -1),
        "up_right": (1, -1),
        "down_left": (-1, 1),
        "down_right": (1, 1),
    },
}
SHAPES = ("disc", "ring", "triangle", "cross", "diamond")


def shape_mask(shape: str, size: int) -> np.ndarray:
    """A boolean [size, size] mask of the shape."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1  # [-1, 1]
    r = np.hypot(x, y)
    if shape == "disc":
        return r <= 1
    if shape == "ring":
        return (r <= 1) & (r >= 0.55)
    if shape == "triangle":
        return (y <= 0.8) & (y >= 2 * np.abs(x) - 1.1)
    if shape == "cross":
        return ((np.abs(x) <= 0.3) | (np.abs(y) <= 0.3)) & (np.maximum(np.abs(x), np.abs(y)) <= 1)
    return np.abs(x) + np.abs(y) <= 1  # diamond


def bright_colour(rng) -> np.ndarray:
    hue = rng.random() * 6
    channel = np.clip(np.abs((hue + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)  # HSV -> RGB at full saturation
    return (60 + 195 * (rng.uniform(0.6, 1.0) * channel + rng.uniform(0, 0.35) * (1 - channel))).astype(np.uint8)


def texture(rng, height: int, width: int) -> np.ndarray:
    """Coarse colour blocks (upsampled) plus fine grain, uint8 [height, width, 3], mid-dark so objects show."""
    block = int(rng.integers(12, 40))
    coarse = rng.integers(40, 120, (height // block + 2, width // block + 2, 3)).astype(np.uint8)
    picture = np.repeat(np.repeat(coarse, block, axis=0), block, axis=1)[:height, :width]
    grain = rng.integers(-18, 19, (height, width, 3))
    return np.clip(picture.astype(np.int16) + grain, 0, 255).astype(np.uint8)


def stamp(frame: np.ndarray, mask: np.ndarray, colour: np.ndarray, cx: float, cy: float) -> None:
    size = mask.shape[0]
    top, left = int(round(cy - size / 2)), int(round(cx - size / 2))
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + size, frame.shape[0]), min(left + size, frame.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    region = mask[y0 - top : y1 - top, x0 - left : x1 - left]
    frame[y0:y1, x0:x1][region] = colour


def render(path: str, direction: tuple[int, int], seed: int) -> None:
    import av

    rng = np.random.default_rng(seed)
    fps = int(rng.integers(24, 31))
    short = int(rng.integers(128, 241)) * 2  # even sides for yuv420p
    aspect = rng.choice([1.0, 4 / 3, 16 / 9])
    long_side = int(round(short * aspect / 2)) * 2
    width, height = (long_side, short) if rng.random() < 0.7 else (short, long_side)
    frames = int(round(rng.uniform(3, 6) * fps))

    drift = rng.normal(0, 1, 2)
    drift = drift / np.linalg.norm(drift) * rng.uniform(0.02, 0.1) * short / frames  # px per frame
    margin = int(abs(drift).max() * frames) + 16
    background = texture(rng, height + 2 * margin, width + 2 * margin)

    # The centre square the model sees, and the main object's path inside it.
    side = short
    square_x, square_y = (width - side) / 2, (height - side) / 2
    size = int(side * rng.uniform(0.1, 0.18))
    travel = side * rng.uniform(0.5, 0.8)
    dx, dy = np.array(direction, float) / np.hypot(*direction)
    span_x, span_y = abs(dx) * travel, abs(dy) * travel
    free = side - size - 8
    start_x = square_x + size / 2 + 4 + rng.uniform(0, max(free - span_x, 0)) + (span_x if dx < 0 else 0)
    start_y = square_y + size / 2 + 4 + rng.uniform(0, max(free - span_y, 0)) + (span_y if dy < 0 else 0)
    shape = str(rng.choice(SHAPES))
    main = (shape_mask(shape, size), bright_colour(rng))

    distractors = []
    for _ in range(int(rng.integers(1, 4))):
        d_size = int(side * rng.uniform(0.05, 0.1))
        angle = rng.uniform(0, math.pi)
        distractors.append(
            {
                "mask": shape_mask(str(rng.choice([s for s in SHAPES if s != shape])), d_size),
                "colour": bright_colour(rng),
                "centre": (square_x + rng.uniform(0.1, 0.9) * side, square_y + rng.uniform(0.1, 0.9) * side),
                "sway": rng.uniform(0.01, 0.03) * side * np.array([math.cos(angle), math.sin(angle)]),
                "period": rng.uniform(0.25, 0.5) * fps,
                "phase": rng.uniform(0, 2 * math.pi),
            }
        )
    shake = rng.uniform(0.5, 2.5)

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for t in range(frames):
            ox, oy = margin + drift * t
            frame = background[int(oy) : int(oy) + height, int(ox) : int(ox) + width].copy()
            for d in distractors:
                offset = d["sway"] * math.sin(2 * math.pi * t / d["period"] + d["phase"])
                stamp(frame, d["mask"], d["colour"], d["centre"][0] + offset[0], d["centre"][1] + offset[1])
            progress = t / max(frames - 1, 1)
            stamp(frame, *main, start_x + dx * travel * progress, start_y + dy * travel * progress)
            jitter = np.round(rng.normal(0, shake, 2)).astype(int)
            frame = np.roll(frame, tuple(jitter), axis=(0, 1))
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--directions", choices=sorted(DIRECTIONS), default="axis")
    parser.add_argument("--videos_per_class", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shuffle_labels", action="store_true")
    args = parser.parse_args(argv)
    classes = DIRECTIONS[args.directions]
    rng = np.random.default_rng(args.seed)
    jobs = []
    for label, direction in classes.items():
        for n in range(args.videos_per_class):
            folder = str(rng.choice(list(classes))) if args.shuffle_labels else label
            os.makedirs(os.path.join(args.out, folder), exist_ok=True)
            path = os.path.join(args.out, folder, f"{label}_{n:03d}.mp4")
            jobs.append((path, direction, int(rng.integers(2**31))))
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(render, *zip(*jobs)))
    print(f"{len(jobs)} videos in {len(classes)} classes written to {args.out}")


if __name__ == "__main__":
    main()
