"""Shot detection: vidlabel's detector (`transforms/shots.py`, run on every frame of the decoding pass) against
PySceneDetect's ContentDetector and AdaptiveDetector (their defaults), on the same files, with the same scoring.

    .venv/bin/pip install --no-deps scenedetect && .venv/bin/pip install click platformdirs   # once (see below)
    .venv/bin/python bench/shots.py [--quick] [--videos DIR]

Two sets, scored apart:
- rendered: eight H.264 / MPEG-4 Part 2 videos of 320x240 at 25 or 30 fps, rendered here with PyAV (into DIR, or a
  temporary folder) from moving, textured synthetic scenes, one per category: hard cuts, fades to and from black,
  dissolves, camera flashes (no cut), fast motion (no cut), pans (no cut), a slide-show of stills (each change a
  cut) and a countdown with large digits changing every second (no cut). Their truth comes from the rendering;
- real: the shared videos in ../shared/videos that decode, with the truth in bench/shot_truth.json (set by eye
  from contact sheets of every frame).

A truth boundary is a frame index (the first frame of the new shot) or a [first, last] range for a gradual
transition (a detection anywhere inside it counts). At a tolerance of T frames a detection matches a boundary when
it lies within [first - T, last + T]; each detection matches at most one boundary and each boundary one detection
(a maximum matching). Detections inside an `ignore` range (+-T) are neither right nor wrong: a video's opening fade
from black and closing fade to black, and stretches whose picture is damaged in the file itself. Scores: precision,
recall and F1 over each set's summed counts, at +-1 frame and at +-0.5 s (rounded to frames at the video's rate).

Timing, best of three rounds (one with --quick), the methods alternating within each round, every file:
- decode-only: PyAV as vidlabel decodes (`stream.thread_type = "AUTO"`, `decode.decoded_frames`), nothing converted;
- vidlabel: the same decoding plus `shots.thumbnail` and `ShotDetector.push` on every frame, then `finish`, with
  the detector made as `vidlabel run` makes it (`ShotDetector(stream.average_rate)`);
- PySceneDetect: `open_video(path, backend="pyav")` (its defaults: single-threaded decoding, each frame converted to
  BGR), a `SceneManager` with its default auto-downscale (frames wider than 256 px scaled to 256 px wide, the
  factor printed per video) and one detector; its cut times are mapped to decoded frame indices by presentation
  time.
Speed is each method's seconds over decode-only's seconds, summed over the set, measured in the same run.

PySceneDetect is a benchmark-only tool, not a dependency of vidlabel. `pip install scenedetect` also pulls
`opencv-python`, whose files overwrite the `opencv-python-headless` that Model Garden brings into .venv (the same
`cv2` folder), hence the `--no-deps` install above (PySceneDetect only needs `cv2`, `numpy`, `tqdm`, `click` and
`platformdirs`).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidlabel.transforms import shots
from vidlabel.transforms.decode import ShotBoundaries, decoded_frames, sparse_planner
from vidlabel.transforms.sparse import SkippedFrame

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import SHARED  # noqa: E402  (bench scripts are run as files)

TRUTH_FILE = pathlib.Path(__file__).resolve().parent / "shot_truth.json"
WIDTH, HEIGHT = 320, 240
TEXTURE_H, TEXTURE_W = 480, 640  # periodic, so a pan can run forever without a seam
METHODS = ("decode-only", "vidlabel", "vidlabel sparse", "ContentDetector", "AdaptiveDetector")
DETECTORS = METHODS[1:]

# --------------------------------------------------------------------------------------------------------------
# The rendered set


@dataclass
class Video:
    name: str
    category: str
    fps: int
    codec: str
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    boundaries: list = field(default_factory=list)  # int (hard cut) or [first, last] (gradual)
    ignore: list = field(default_factory=list)  # [first, last] ranges
    note: str = ""

    def add(self, frames) -> tuple[int, int]:
        """Appends frames; returns the [first, last] indices they got."""
        first = len(self.frames)
        self.frames.extend(frames)
        return first, len(self.frames) - 1


def periodic_noise(rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Tileable 1/f^exponent noise over the texture, scaled to [-1, 1]."""
    fy = np.fft.fftfreq(TEXTURE_H)[:, None]
    fx = np.fft.fftfreq(TEXTURE_W)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) / radius**exponent
    spectrum[0, 0] = 0
    field_ = np.fft.ifft2(spectrum).real
    return field_ / np.abs(field_).max()


class Scene:
    """A camera moving over a textured, coloured plane (tileable) with a disk circling in front of it."""

    _ys, _xs = np.mgrid[0:HEIGHT, 0:WIDTH]

    def __init__(self, seed: int, palette: int | None = None, velocity=(3.0, 1.0), brightness: float = 1.0):
        rng = np.random.default_rng(seed)
        colours = np.random.default_rng(1000 + (seed if palette is None else palette))
        base = colours.uniform(60, 190, 3)
        amplitude = colours.uniform(50, 80, 3)
        coarse = np.stack([periodic_noise(rng, 1.6) for _ in range(3)], axis=-1)
        fine = periodic_noise(rng, 0.9)[..., None]
        texture = base + amplitude * coarse + 40 * fine
        self.texture = np.clip(texture * brightness, 0, 255).astype(np.uint8)
        self.velocity = velocity
        self.origin = rng.uniform(0, [TEXTURE_W, TEXTURE_H])
        self.sprite_colour = colours.uniform(0, 255, 3).astype(np.uint8)
        self.sprite_phase = rng.uniform(0, 2 * math.pi)
        self.sprite_speed = 0.08  # radians per frame
        self.sprite_radius = 26
        self.sprite_orbit = 70

    def frame(self, k: int, offset=(0.0, 0.0)) -> np.ndarray:
        x = int(round(self.origin[0] + self.velocity[0] * k + offset[0]))
        y = int(round(self.origin[1] + self.velocity[1] * k + offset[1]))
        rows = (y + np.arange(HEIGHT)) % TEXTURE_H
        cols = (x + np.arange(WIDTH)) % TEXTURE_W
        image = self.texture.take(rows, axis=0).take(cols, axis=1)
        angle = self.sprite_phase + self.sprite_speed * k
        cx = WIDTH / 2 + self.sprite_orbit * math.cos(angle)
        cy = HEIGHT / 2 + 0.7 * self.sprite_orbit * math.sin(angle)
        image[(self._xs - cx) ** 2 + (self._ys - cy) ** 2 < self.sprite_radius**2] = self.sprite_colour
        return image

    def shot(self, start: int, length: int) -> list[np.ndarray]:
        return [self.frame(k) for k in range(start, start + length)]


def scaled(image: np.ndarray, alpha: float) -> np.ndarray:
    """Faded towards black (alpha 0) from the image (alpha 1)."""
    return (image.astype(np.float32) * alpha).round().astype(np.uint8)


def blended(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """(1 - alpha) a + alpha b."""
    return ((1 - alpha) * a.astype(np.float32) + alpha * b.astype(np.float32)).round().astype(np.uint8)


def flashed(image: np.ndarray, strength: float) -> np.ndarray:
    """Brightened towards white by `strength` (1: white)."""
    return blended(image, np.full_like(image, 255), strength)


BLACK = np.zeros((HEIGHT, WIDTH, 3), np.uint8)


def hard_cuts() -> Video:
    v = Video(
        "hard_cuts", "hard cuts", 30, "libx264", note="5 shots; the cut at the 4th shot joins two scenes of one palette"
    )
    scenes = [Scene(1), Scene(2, velocity=(-4, 2)), Scene(3, velocity=(2, -3)), Scene(4, palette=3), Scene(5)]
    for i, (scene, length) in enumerate(zip(scenes, (40, 33, 45, 28, 50))):
        first, _ = v.add(scene.shot(len(v.frames), length))
        if i:
            v.boundaries.append(first)
    return v


def fades() -> Video:
    v = Video("fades", "fades", 25, "libx264", note="fade in at the start and fade out at the end (ignored)")
    a, b, c, d = Scene(11), Scene(12, velocity=(-3, 1)), Scene(13, velocity=(1, 3)), Scene(14)
    v.ignore.append(list(v.add(scaled(a.frame(k), (k + 1) / 11) for k in range(10))))
    v.add(a.shot(10, 40))
    n = len(v.frames)  # A fades out (12), 10 black frames, B fades in (12)
    first, _ = v.add(scaled(a.frame(n + j), 1 - (j + 1) / 13) for j in range(12))
    v.add([BLACK] * 10)
    n = len(v.frames)
    _, last = v.add(scaled(b.frame(n + j), (j + 1) / 13) for j in range(12))
    v.boundaries.append([first, last])
    v.add(b.shot(len(v.frames), 40))
    n = len(v.frames)  # a dip to black: B fades out (8, reaching black), C fades in (8)
    first, _ = v.add(scaled(b.frame(n + j), 1 - (j + 1) / 8) for j in range(8))
    n = len(v.frames)
    _, last = v.add(scaled(c.frame(n + j), (j + 1) / 9) for j in range(8))
    v.boundaries.append([first, last])
    v.add(c.shot(len(v.frames), 40))
    first, _ = v.add([BLACK] * 8)  # a hard cut to black, then D fades in (10)
    n = len(v.frames)
    _, last = v.add(scaled(d.frame(n + j), (j + 1) / 11) for j in range(10))
    v.boundaries.append([first, last])
    v.add(d.shot(len(v.frames), 40))
    n = len(v.frames)
    v.ignore.append([n, n + 16])
    v.add(scaled(d.frame(n + j), 1 - (j + 1) / 12) for j in range(12))
    v.add([BLACK] * 5)
    return v


def dissolves() -> Video:
    v = Video("dissolves", "dissolves", 30, "libx264", note="cross-fades of 24, 15 and 30 frames (0.8, 0.5, 1.0 s)")
    scenes = [Scene(21), Scene(22, velocity=(-3, -1)), Scene(23, velocity=(0, 4)), Scene(24, velocity=(5, 0))]
    v.add(scenes[0].shot(0, 45))
    for before, after, length in zip(scenes, scenes[1:], (24, 15, 30)):
        n = len(v.frames)
        mixed = [blended(before.frame(n + j), after.frame(n + j), (j + 1) / (length + 1)) for j in range(length)]
        v.boundaries.append(list(v.add(mixed)))
        v.add(after.shot(len(v.frames), 45))
    return v


def flashes() -> Video:
    v = Video("flashes", "flashes (no cut)", 25, "libx264", note="flashes of 1, 2, 3 and 1 frames; no cut")
    scene = Scene(31, velocity=(2, 1))
    strengths = {25: 1.0, 55: 0.85, 56: 0.85, 90: 1.0, 91: 0.7, 92: 0.4, 110: 0.6}
    v.add(flashed(scene.frame(k), strengths[k]) if k in strengths else scene.frame(k) for k in range(130))
    return v


def fast_motion() -> Video:
    v = Video("fast_motion", "fast motion (no cut)", 30, "libx264", note="camera at 15 px/frame with shake, fast disk")
    scene = Scene(41, velocity=(14, 5))
    scene.sprite_speed, scene.sprite_radius, scene.sprite_orbit = 0.35, 50, 80
    shake = np.random.default_rng(41).uniform(-8, 8, (120, 2))
    v.add(scene.frame(k, shake[k]) for k in range(120))
    return v


def pans() -> Video:
    v = Video("pans", "pans (no cut)", 30, "libx264", note="pan at 6 px/frame, whip pan at 40, tilt at 8")
    scene = Scene(51, velocity=(0, 0))
    scene.sprite_speed = 0.03
    x = y = 0.0
    for k in range(105):
        if k < 45:
            x += 6
        elif k < 60:
            x += 40
        else:
            y += 8
        v.add([scene.frame(k, (x, y))])
    return v


def slideshow() -> Video:
    v = Video("slideshow", "slide-show (cuts)", 25, "mpeg4", note="6 stills (MPEG-4 Part 2), each change a cut")
    for i, length in enumerate((30, 25, 35, 20, 30, 30)):
        first, _ = v.add([Scene(61 + i).frame(0)] * length)
        if i:
            v.boundaries.append(first)
    return v


def countdown() -> Video:
    v = Video("countdown", "countdown (no cut)", 30, "libx264", note="digits 5..0 of 150 px over a dark moving scene")
    scene = Scene(71, velocity=(2, 0), brightness=0.35)
    font = ImageFont.load_default(size=150)
    for k in range(180):
        image = Image.fromarray(scene.frame(k))
        ImageDraw.Draw(image).text((WIDTH / 2, HEIGHT / 2), str(5 - k // 30), font=font, fill="white", anchor="mm")
        v.add([np.asarray(image)])
    return v


CATEGORIES = (hard_cuts, fades, dissolves, flashes, fast_motion, pans, slideshow, countdown)


def encode(path: pathlib.Path, video: Video) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(video.codec, rate=video.fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if video.codec == "libx264":
            stream.options = {"crf": "20", "preset": "veryfast"}
        else:
            stream.bit_rate = 2_000_000
        for k, image in enumerate(video.frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, video.fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def render(folder: pathlib.Path) -> list[dict]:
    """Renders the set into FOLDER; returns each video's entry (path, truth) and writes them to truth.json there."""
    entries = []
    for make in CATEGORIES:
        video = make()
        path = folder / f"{video.name}.mp4"
        encode(path, video)
        entries.append(
            {
                "path": str(path),
                "name": path.name,
                "category": video.category,
                "frames": len(video.frames),
                "boundaries": video.boundaries,
                "ignore": video.ignore,
                "note": video.note,
            }
        )
    (folder / "truth.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries


def real_videos() -> list[dict]:
    truth = json.loads(TRUTH_FILE.read_text())["videos"]
    folder = SHARED / "videos"
    return [{"path": str(folder / name), "name": name, "category": "real", **entry} for name, entry in truth.items()]


# --------------------------------------------------------------------------------------------------------------
# The methods: each returns (seconds, cut frame indices, details)


def decode_only(path: str):
    start = time.perf_counter()
    frames = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in decoded_frames(container, stream):
            if not isinstance(frame, Exception):
                frames += 1
    return time.perf_counter() - start, [], {"frames": frames}


def vidlabel(path: str):
    start = time.perf_counter()
    cuts: list[shots.Cut] = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        detector = shots.ShotDetector(float(stream.average_rate) if stream.average_rate else None)
        index = 0
        for frame in decoded_frames(container, stream):
            if isinstance(frame, Exception):
                continue
            cuts += detector.push(shots.thumbnail(frame), index)
            index += 1
        cuts += detector.finish()
    seconds = time.perf_counter() - start
    return seconds, [c.frame_index for c in cuts], {"kinds": [c.kind for c in cuts], "lookahead": detector.lookahead}


def vidlabel_sparse(path: str, model_fps: float = 5.0):
    """As `vidlabel run --sparse_decode on` (A0's 5 fps): the detector sees only the frames decoded
    (`decode.ShotBoundaries` numbers them and maps each cut back to its source frame index)."""
    start = time.perf_counter()
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        boundaries = ShotBoundaries(float(stream.average_rate) if stream.average_rate else None)
        index = 0
        for frame in decoded_frames(container, stream, sparse_planner(stream, model_fps)):
            if isinstance(frame, Exception):
                continue
            if not isinstance(frame, SkippedFrame):
                boundaries.see(frame, index, 0.0)
            index += 1
        boundaries.finish()
    return time.perf_counter() - start, list(boundaries.cut_frames), {"decoded": boundaries.shown}


def pyscenedetect(path: str, detector_name: str, frame_times: np.ndarray):
    import scenedetect
    from scenedetect.scene_manager import compute_downscale_factor

    start = time.perf_counter()
    video = scenedetect.open_video(path, backend="pyav")
    manager = scenedetect.SceneManager()
    manager.add_detector(getattr(scenedetect, detector_name)())
    manager.detect_scenes(video)
    scenes = manager.get_scene_list()
    seconds = time.perf_counter() - start
    cut_times = [scene_start.seconds for scene_start, _ in scenes[1:]]
    indices = [int(np.abs(frame_times - t).argmin()) for t in cut_times]
    factor = compute_downscale_factor(max(video.frame_size))
    return seconds, indices, {"downscale": factor, "width": round(video.frame_size[0] / factor)}


def frame_times(path: str) -> np.ndarray:
    """Presentation time of each decoded frame from the stream's start (as PySceneDetect's PyAV backend counts)."""
    times = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = stream.start_time or 0
        for frame in decoded_frames(container, stream):
            if isinstance(frame, Exception):
                continue
            if frame.pts is None:
                times.append(times[-1] + 1 / float(stream.average_rate or 25) if times else 0.0)
            else:
                times.append(float((frame.pts - start) * stream.time_base))
    return np.asarray(times)


def video_fps(path: str) -> float:
    with av.open(path) as container:
        rate = container.streams.video[0].average_rate
        return float(rate) if rate else 25.0


# --------------------------------------------------------------------------------------------------------------
# Scoring


def ranges(boundaries) -> list[tuple[int, int]]:
    return [(b, b) if isinstance(b, int) else (b[0], b[1]) for b in boundaries]


def match(detections: list[int], boundaries, ignore, tolerance: int) -> dict:
    """Maximum one-to-one matching of detections to boundary ranges widened by the tolerance (greedy over ranges
    sorted by their end, each taking the earliest free detection inside it, which is optimal for points and
    intervals). Unmatched detections inside an ignore range are dropped."""
    windows = sorted(((a - tolerance, b + tolerance) for a, b in ranges(boundaries)), key=lambda w: w[1])
    free = sorted(detections)
    used = [False] * len(free)
    hits, misses = [], []
    for low, high in windows:
        for k, d in enumerate(free):
            if not used[k] and low <= d <= high:
                used[k] = True
                hits.append(d)
                break
        else:
            misses.append((low + tolerance, high - tolerance))
    extra = [d for k, d in enumerate(free) if not used[k]]
    ignored = [d for d in extra if any(a - tolerance <= d <= b + tolerance for a, b in ranges(ignore))]
    wrong = [d for d in extra if d not in ignored]
    return {"tp": len(hits), "fp": len(wrong), "fn": len(misses), "wrong": wrong, "missed": misses, "ignored": ignored}


def prf(tp: int, fp: int, fn: int) -> tuple[str, str, str]:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return tuple("—" if x is None else f"{x:.2f}" for x in (precision, recall, f1))


# --------------------------------------------------------------------------------------------------------------
# The run


def run(entries: list[dict], rounds: int) -> None:
    """Times every method on every video (best of `rounds`, alternating) and stores detections in the entries."""
    for entry in entries:
        entry["times"] = frame_times(entry["path"])
        entry["fps"] = video_fps(entry["path"])
        entry["best"] = {}
        if len(entry["times"]) != entry["frames"]:
            raise SystemExit(f"{entry['name']}: {len(entry['times'])} frames decoded, truth says {entry['frames']}")
    for r in range(rounds):
        for entry in entries:
            order = METHODS[r % len(METHODS) :] + METHODS[: r % len(METHODS)]
            for method in order:
                if method == "decode-only":
                    result = decode_only(entry["path"])
                elif method == "vidlabel":
                    result = vidlabel(entry["path"])
                elif method == "vidlabel sparse":
                    result = vidlabel_sparse(entry["path"])
                else:
                    result = pyscenedetect(entry["path"], method, entry["times"])
                seconds, detections, details = result
                best = entry["best"].get(method)
                if best is not None and best[1] != detections:
                    print(f"warning: {method} on {entry['name']} found {detections}, earlier {best[1]}")
                if best is None or seconds < best[0]:
                    entry["best"][method] = (seconds, detections, details)
        print(f"round {r + 1} of {rounds} done", file=sys.stderr)


def summary_rows(label: str, entries: list[dict]) -> list[str]:
    rows = []
    base = sum(e["best"]["decode-only"][0] for e in entries)
    frames = sum(e["frames"] for e in entries)
    rows.append(f"| {label} | decode-only | — | — | — | — | {base:.2f} | 1.00 | {1000 * base / frames:.3f} |")
    for method in DETECTORS:
        cells = []
        for tolerance in ("frame", "half-second"):
            tp = fp = fn = 0
            for e in entries:
                tol = 1 if tolerance == "frame" else round(0.5 * e["fps"])
                m = match(e["best"][method][1], e["boundaries"], e.get("ignore", []), tol)
                tp, fp, fn = tp + m["tp"], fp + m["fp"], fn + m["fn"]
            p, r, f = prf(tp, fp, fn)
            cells += [f"{p} / {r} / **{f}**", f"{tp} / {fp} / {fn}"]
        seconds = sum(e["best"][method][0] for e in entries)
        extra = 1000 * (seconds - base) / frames
        rows.append(
            f"| {label} | {method} | {' | '.join(cells)} | {seconds:.2f} | {seconds / base:.2f} | +{extra:.3f} |"
        )
    rows[0] = rows[0].replace("| — | — | — | — |", f"| {len(entries)} videos, {frames} frames | | | |")
    return rows


def shown(entry: dict, method: str, tolerance: int) -> str:
    _, detections, details = entry["best"][method]
    m = match(detections, entry["boundaries"], entry.get("ignore", []), tolerance)
    kinds = details.get("kinds", [None] * len(detections))
    marks = []
    for d, kind in zip(detections, kinds):
        label = f"{d}{kind[0] if kind else ''}"
        marks.append(f"~~{label}~~" if d in m["wrong"] else f"({label})" if d in m["ignored"] else label)
    missed = [f"miss {a}" if a == b else f"miss {a}-{b}" for a, b in m["missed"]]
    return ", ".join(marks + missed) or "—"


def truth_text(entry: dict) -> str:
    parts = [str(b) if isinstance(b, int) else f"{b[0]}-{b[1]}" for b in entry["boundaries"]]
    parts += [f"(ignore {a}-{b})" for a, b in entry.get("ignore", [])]
    return ", ".join(parts) or "none"


def report(rendered: list[dict], real: list[dict], rounds: int) -> None:
    print(f"\nShot boundaries, best of {rounds} round(s); P / R / F1 and TP / FP / FN summed over each set.\n")
    print(
        "| set | method | P / R / F1 at ±1 frame | TP / FP / FN | P / R / F1 at ±0.5 s | TP / FP / FN | seconds |"
        " x decode-only | ms per frame (decode-only; others: + over it) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, entries in (("rendered", rendered), ("real", real)):
        if entries:
            print("\n".join(summary_rows(label, entries)))
    print(
        "\nPer video at ±0.5 s: detections as first frames of the new shot (vidlabel's kind: c cut, f fade,"
        " d dissolve); ~~struck~~ = false positive, (in brackets) = inside an ignored range,"
        " 'miss' = boundary not found.\n"
    )
    print(
        "| video | fps | frames | truth | vidlabel | ContentDetector | AdaptiveDetector | PySceneDetect width |"
        " decode-only s | vidlabel x | Content x | Adaptive x |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for e in rendered + real:
        tol = round(0.5 * e["fps"])
        base = e["best"]["decode-only"][0]
        ratios = [f"{e['best'][m][0] / base:.2f}" for m in DETECTORS]
        details = e["best"]["ContentDetector"][2]
        width = f"{details['width']} (÷{details['downscale']:.2f})"
        cells = [shown(e, m, tol) for m in DETECTORS]
        print(
            f"| {e['name']} | {e['fps']:.2f} | {e['frames']} | {truth_text(e)} | {' | '.join(cells)} | {width} |"
            f" {base:.3f} | {' | '.join(ratios)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one timing round instead of three")
    parser.add_argument("--videos", type=pathlib.Path, help="render the set here (default: a temporary folder)")
    parser.add_argument("--rendered-only", action="store_true", help="skip the shared real videos")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3
    import scenedetect

    with tempfile.TemporaryDirectory(prefix="vidlabel-shots-") as temporary:
        folder = args.videos or pathlib.Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        rendered = render(folder)
        print(f"rendered {len(rendered)} videos into {folder} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        real = [] if args.rendered_only else real_videos()
        run(rendered + real, rounds)
    print(f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}), PySceneDetect {scenedetect.__version__}")
    report(rendered, real, rounds)


if __name__ == "__main__":
    main()
