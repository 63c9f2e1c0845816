"""Pure NumPy pieces of turning decoded frames into model clips: resampling, geometry and windowing.

Nothing here touches PyAV or Beam, so each rule is tested on its own:
- `FrameSampler` resamples a variable-rate stream of presentation times to the model's fixed rate, choosing for
  each tick the frame on screen at that moment (sampling never converts a frame it drops).
- `target_size` says how big the displayed frame is scaled before the centre crop (Model Garden's eval
  preprocessing) or stretched (the tutorial's plain resize).
- `ClipWindower` cuts the resampled frames into clips as they arrive, holding at most one clip in memory; with
  `--windows shots` it also ends a clip where a shot ends (`cut`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

# Presentation times closer than this to a tick count as on it (container timestamps are rounded).
TICK_TOLERANCE_S = 1e-4


class FrameSampler:
    """Resamples a stream of frame start times (seconds from the first frame) to ticks at `fps`.

    Tick k sits at k / fps. The frame shown at a tick is the last one that started at or before it, which is
    correct on variable frame rate and repeats frames of slow sources (a 1 fps video at 5 fps repeats each frame 5x).
    """

    def __init__(self, fps: float):
        self._period = 1.0 / fps
        self.ticks = 0  # ticks assigned so far

    def ticks_until(self, t: float) -> int:
        """How many more ticks fall before time `t` (the next frame's start, or the video's end)."""
        start = self.ticks
        while self.ticks * self._period < t - TICK_TOLERANCE_S:
            self.ticks += 1
        return self.ticks - start


def model_input(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB frames (any leading shape) -> the models' float32 input in [0, 1]: value / 255, exactly the
    tutorial's `tf.image.convert_image_dtype` and what fine-tuning trains on."""
    return frames.astype(np.float32) * np.float32(1 / 255)


def displayed_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """Width and height as displayed: a quarter turn swaps them."""
    return (height, width) if rotation % 180 == 90 else (width, height)


def target_size(width: int, height: int, resolution: int, resize: str) -> tuple[int, int]:
    """Size (w, h) of the displayed frame after scaling, before the centre crop.

    "crop" scales the short side to `resolution` and keeps the aspect ratio; "stretch" scales both sides to it.
    """
    if resize == "stretch":
        return resolution, resolution
    if resize != "crop":
        raise ValueError(f"resize must be 'crop' or 'stretch', not {resize!r}")
    scale = resolution / min(width, height)
    return max(resolution, round(width * scale)), max(resolution, round(height * scale))


def rotate_upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turns a stored [H, W, C] image counter-clockwise by `rotation` degrees (FFmpeg display-matrix convention)."""
    quarter_turns = (rotation // 90) % 4
    return np.rot90(image, k=quarter_turns) if quarter_turns else image


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


class Window(NamedTuple):
    """A clip of resampled frames: ticks [start, end), the source frame shown at each tick, and the first tick no
    earlier clip holds (`new_from`: `start` unless clips overlap)."""

    index: int
    start: int
    end: int
    sources: tuple[int, ...]  # source frame index per tick
    new_from: int
    frames: np.ndarray  # [T, H, W, 3]

    @property
    def source_start(self) -> int:
        return self.sources[0]

    @property
    def source_end(self) -> int:
        return self.sources[-1]


class ClipWindower:
    """Cuts resampled frames into clips of `clip_frames`, starting every `stride_frames`, as the frames arrive.

    A full clip is released when the next frame arrives (so its end time is known to lie inside the video) or at
    `finish()`. The last clip may be shorter: it is kept as it is, never padded, since padding changes the model's
    probabilities. A video shorter than one clip gives one short clip. Memory: at most one clip plus one frame.

    `cut()` (`--windows shots`) ends the clip being filled where a shot ends and starts the next clip with the next
    shot, so no clip shows two shots. A piece shorter than `shortest_frames` is not cut off on its own (a model
    trained on 10-s clips judges a clip of a few frames badly): it stays with the next shot's first clip, unless an
    earlier, overlapping clip already holds it.
    """

    def __init__(self, clip_frames: int, stride_frames: int):
        if clip_frames < 1 or stride_frames < 1:
            raise ValueError("clip_frames and stride_frames must be >= 1")
        self._clip_frames = clip_frames
        self._stride = stride_frames
        self._buffer: deque[tuple[int, int, np.ndarray]] = deque()  # (tick, source index, frame)
        self._ticks = 0
        self._next_start = 0
        self._covered_until = 0  # ticks before this are in a released or pending clip
        self._pending: Window | None = None
        self._index = 0

    def cut(self, shortest_frames: int) -> Iterator[Window]:
        """A new shot starts with the next frame pushed: releases the clips that end before it (see the class)."""
        if self._pending is not None:
            yield self._pending
            self._pending = None
        uncovered = self._ticks - max(self._next_start, self._covered_until)
        if 0 < uncovered < shortest_frames:
            return  # too short to score alone: it joins the next shot's first clip
        if uncovered > 0:
            yield self._cut(self._next_start, self._ticks)
        self._buffer.clear()
        self._next_start = self._covered_until = self._ticks

    def push(self, frame: np.ndarray, source_index: int) -> Iterator[Window]:
        if self._pending is not None:
            yield self._pending
            self._pending = None
        if self._ticks >= self._next_start:
            self._buffer.append((self._ticks, source_index, frame))
        self._ticks += 1
        if self._ticks == self._next_start + self._clip_frames:
            self._pending = self._cut(self._next_start, self._ticks)
            self._next_start += self._stride
            while self._buffer and self._buffer[0][0] < self._next_start:
                self._buffer.popleft()

    def finish(self) -> Iterator[Window]:
        """Releases the held clip and the shorter tail clip, if frames remain that no clip covers."""
        if self._pending is not None:
            yield self._pending
            self._pending = None
        if self._ticks > self._covered_until and self._next_start < self._ticks:
            yield self._cut(self._next_start, self._ticks)
        self._buffer.clear()

    @property
    def ticks(self) -> int:
        return self._ticks

    def _cut(self, start: int, end: int) -> Window:
        items = [item for item in self._buffer if start <= item[0] < end]
        window = Window(
            index=self._index,
            start=start,
            end=end,
            sources=tuple(source for _, source, _ in items),
            new_from=max(start, self._covered_until),
            frames=np.stack([frame for _, _, frame in items]),
        )
        self._index += 1
        self._covered_until = end
        return window


def second_marks(start: int, new_from: int, end: int, fps: float) -> tuple[tuple[int, float], ...]:
    """(offset in the clip, time) of the ticks in [new_from, end) that are the first at or after a whole second."""
    marks = []
    second = math.ceil(new_from / fps - 1e-9)
    while (tick := math.ceil(second * fps - 1e-6)) < end:
        if tick >= new_from:
            marks.append((tick - start, tick / fps))
        second += 1
    return tuple(marks)
