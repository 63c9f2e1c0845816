"""Shot boundaries (cuts) found in the decoding pass: every decoded frame becomes a tiny thumbnail for a detector.

`thumbnail` reads a 32x18 Y'CbCr image straight from the decoded planes (a few samples per thumbnail pixel, never
the whole frame), so that it costs little next to decoding the frame. `ShotDetector` takes the thumbnails in
order and reports each boundary as the first frame of the new shot, of one of three kinds:

- "cut": the difference between a frame and the one before it (mean absolute difference of the thumbnails) stands
  out from the differences of its neighbours (an adaptive threshold, as PySceneDetect's AdaptiveDetector; the zero
  differences of repeated frames, as a frame-rate conversion leaves, are left out), is large in absolute terms, and
  changes most of the picture, in luma or in hue (a countdown's digits or a small moving object do not): strongly,
  or, between shots of like colours, mildly however the picture is shifted by up to a fifth of its size (a camera
  jolt);
- "fade": a run of blank frames (all but 1% of the pixels near black, or near white) after a picture, reported in
  the middle of the run (at most `lookahead // 2` frames into it, so that a long black hold is still reported in
  time); a hard cut into or out of such a run is part of the same boundary; a video that opens or ends on black
  has no boundary there;
- "dissolve": over a window of `dissolve_half` frames each side of a frame, the frames at the two ends differ much
  more than the picture changes within either end's own shot, and the middle frame is the average of the two ends
  (as in a cross-fade, unlike in a pan or fast motion), of those or of a narrower window's (2/3 or 1/2 as wide)
  that still spans the change: a short dissolve between moving shots is measured with its ends just outside it.

False positives it guards against: a camera flash (up to `flash_frames`, 0.12 s, of bright or blank frames after
which the scene comes back, right away or, after blank frames, fading back over up to another 0.12 s: a frame shortly
before the jump resembles one shortly after it more than the scene's own motion over as many frames explains), camera
jolts (see "cut"), steady fast motion and pans (their differences are high
on every frame, so no single one stands out, and their middle frames are not averages of the ends), small changing
areas such as a countdown's digits (too little of the picture changes), and jitter around one boundary (no two
boundaries closer than `min_shot_frames`, about 0.4 s). Known misses: a hard cut in steady fast motion (its jump
does not stand out from the motion's); a dissolve between shots moving fast for their texture (their motion keeps
the middle frame from the ends' average: 0.5 s at 3-4 px a frame on 320 px passes with little margin, mix error
0.25 against 0.3); a cut between shots of like colours that a shift of one picture nearly matches. Known false
positives: a lighting change over less than 0.8 s can pass for a dissolve, and a camera jolt of more than a fifth
of the picture between two frames, or one with blur whose jump stands out 3x from its neighbours', for a cut.

`lookahead`, the number of frames after frame i the detector must have seen before it decides whether a boundary
is at i, is twice `dissolve_half` (0.4 s of frames): 24 frames at 30 fps, 20 at 25, 48 at 60 and more, never under 4. A
detector holds about twice that many thumbnails of 3.5 kB and a few numbers per frame, whatever the video's length.
"""

from __future__ import annotations

import functools
import math
import re
from collections import deque
from typing import NamedTuple

import av
import numpy as np

THUMB_WIDTH, THUMB_HEIGHT = 32, 18

# Formats read straight from their planes (others are converted by FFmpeg first, see `thumbnail`), by name:
# planar Y'CbCr, 8 bits or more (little-endian) a sample.
PLANAR_YUV = re.compile(r"yuvj?4[1-4][0-4]p(?:(9|10|12|14|16)le)?")
SEMI_PLANAR_CHROMA = {"nv12": (0, 1), "nv21": (1, 0)}  # Cb's and Cr's positions in the interleaved chroma plane
PACKED_RGB = {  # bytes a pixel, then the positions of R, G and B in it
    "rgb24": (3, 0, 1, 2),
    "bgr24": (3, 2, 1, 0),
    **{name: (4, 0, 1, 2) for name in ("rgba", "rgb0")},
    **{name: (4, 2, 1, 0) for name in ("bgra", "bgr0")},
    **{name: (4, 1, 2, 3) for name in ("argb", "0rgb")},
    **{name: (4, 3, 2, 1) for name in ("abgr", "0bgr")},
}
NEUTRAL_CHROMA = 128
RGB_TO_YCBCR = np.array(  # BT.601, full range
    [[0.299, 0.587, 0.114], [-0.1687, -0.3313, 0.5], [0.5, -0.4187, -0.0813]], np.float32
)


class Cut(NamedTuple):
    frame_index: int  # source frame index (0-based, decode order = presentation order) of the new shot's first frame
    kind: str  # "cut" (hard cut), "fade" (through black or white) or "dissolve" (cross-fade)


@functools.lru_cache(maxsize=64)
def sample_offsets(width: int, height: int, row_stride: int, samples: int, pixel_stride: int) -> np.ndarray:
    """Indices into a plane of the points sampled for each thumbnail pixel: [samples², H, W], spread evenly inside
    each pixel's cell (so that odd and tiny planes work: a small plane's points may repeat)."""
    rows = ((np.arange(THUMB_HEIGHT * samples) + 0.5) * height / (THUMB_HEIGHT * samples)).astype(np.intp)
    cols = ((np.arange(THUMB_WIDTH * samples) + 0.5) * width / (THUMB_WIDTH * samples)).astype(np.intp)
    offsets = rows[:, None] * row_stride + cols[None, :] * pixel_stride
    offsets = offsets.reshape(THUMB_HEIGHT, samples, THUMB_WIDTH, samples).transpose(1, 3, 0, 2)
    return offsets.reshape(samples * samples, THUMB_HEIGHT, THUMB_WIDTH).copy()


def sampled_plane(plane, samples: int = 1, pixel_stride: int = 1, channel: int = 0, bits: int = 8) -> np.ndarray:
    """A plane sampled onto the thumbnail grid, [H, W]: the mean of samples x samples points per pixel (1 or 2), of
    the plane's `channel`-th value of every `pixel_stride` (interleaved planes), scaled from `bits` to 8."""
    dtype = np.dtype(np.uint8 if bits == 8 else "<u2")
    offsets = sample_offsets(plane.width, plane.height, plane.line_size // dtype.itemsize, samples, pixel_stride)
    points = np.frombuffer(plane, dtype)[offsets + channel if channel else offsets]
    if samples == 1 and bits == 8:
        return points[0]
    total = np.add.reduce(points, axis=0, dtype=np.uint32)
    total >>= bits - 8 + 2 * (samples - 1)  # the mean of 4 points, in 8 bits
    return total


def thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """The frame as the detector sees it: uint8 [3, 18, 32], the planes Y', Cb and Cr (stretched to 32x18 whatever
    the aspect ratio). Luma averages 2x2 points per pixel, which damps the aliasing of fine textures in motion;
    chroma, already smoother, takes one point. Planar Y'CbCr of any depth, NV12 and packed RGB are read straight
    from the frame's buffers; other formats (palettes, packed Y'CbCr, floats) are first scaled down by FFmpeg,
    which costs more but is the exception."""
    name = frame.format.name
    thumb = np.empty((3, THUMB_HEIGHT, THUMB_WIDTH), np.uint8)
    if planar := PLANAR_YUV.fullmatch(name):
        bits = int(planar.group(1) or 8)
        for i, plane in enumerate(frame.planes[:3]):
            thumb[i] = sampled_plane(plane, samples=2 if i == 0 else 1, bits=bits)
    elif name in SEMI_PLANAR_CHROMA:
        luma, chroma = frame.planes
        thumb[0] = sampled_plane(luma, samples=2)
        for i, channel in enumerate(SEMI_PLANAR_CHROMA[name], 1):
            thumb[i] = sampled_plane(chroma, pixel_stride=2, channel=channel)
    elif name in ("gray", "gray8"):
        thumb[0] = sampled_plane(frame.planes[0], samples=2)
        thumb[1:] = NEUTRAL_CHROMA
    elif name in PACKED_RGB:
        pixel_bytes, *positions = PACKED_RGB[name]
        plane = frame.planes[0]
        rgb = np.stack([sampled_plane(plane, 2, pixel_bytes, position) for position in positions])
        ycbcr = np.tensordot(RGB_TO_YCBCR, rgb.astype(np.float32), axes=1)
        ycbcr[1:] += NEUTRAL_CHROMA
        np.clip(ycbcr, 0, 255, out=ycbcr)
        thumb[:] = ycbcr
    else:
        return thumbnail(frame.reformat(THUMB_WIDTH, THUMB_HEIGHT, format="yuv444p", interpolation="POINT"))
    return thumb


MIN_SHOT_S = 0.4  # no two boundaries closer than this
DISSOLVE_HALF_S = 0.4  # dissolves up to twice this long are seen whole within the window
MAX_DISSOLVE_HALF = 30  # frames: bounds the lookahead and the memory for high frame rates
FLASH_S = 0.12  # the longest flash, 3 frames at 25 fps
FLASH_DECAY_S = 0.12  # ... which may fade back to the scene over as long again
CUT_NEIGHBOURS = 3  # frame differences each side that a cut's difference is compared with
DEFAULT_FPS = 30.0
DUPLICATE_DIFF = 0.25  # a frame difference below this is a repeated frame (the codec's noise), not motion

CUT_MIN_DIFF = 6.0  # mean absolute difference of the thumbnails (0-255) below which nothing is a cut
CUT_RATIO = 3.0  # a cut's difference over the mean of its neighbours' (AdaptiveDetector's default)
CHANGED_LEVEL = 20  # a difference in luma or chroma above this is a changed pixel
CUT_MIN_CHANGED = 0.3  # the fraction of the picture a cut changes at least
MILD_CHANGED_LEVEL = 10  # ... or changes by more than this (two shots of like colours), however the picture is
CUT_MAX_SHIFT = (6, 4)  # shifted by up to this many thumbnail pixels (x, y): a jolt of the camera by up to a fifth
# of the picture moves the picture, where a cut replaces it
RETURN_RATIO = 0.5  # after a flash, the scene comes back closer than this fraction of the jump,
RETURN_MOTION = 1.5  # ... and than this many times its own motion over as many frames before it
RETURN_FLOOR = 4.0  # (motion this small may be the codec's noise)
DISSOLVE_MIN_DIFF = 8.0  # the ends of a dissolve differ at least this much
DISSOLVE_RATIO = 2.0  # ... and this many times more than either end's shot changes over half that span
DISSOLVE_MIX_ERROR = 0.3  # the middle frame's distance from the ends' average, as a fraction of the ends' difference
DISSOLVE_SPANS = (1.0, 2 / 3, 1 / 2)  # half-widths tried for the mix, as fractions of `dissolve_half`
BLANK_DARK_LEVEL = 48  # luma (either range) at or below which a pixel is black
BLANK_LIGHT_LEVEL = 210  # ... and at or above which it is white
BLANK_MAX_OTHER = 0.01  # the fraction of pixels a blank frame may have that are neither (a logo, noise)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two int16 thumbnails, over every pixel and channel (0-255)."""
    return float(np.abs(a - b).sum()) / a.size


def is_blank(luma: np.ndarray) -> bool:
    """Black or white nearly everywhere: the middle of a fade, or a hard cut to black."""
    allowed = BLANK_MAX_OTHER * luma.size
    total = int(luma.sum())  # a picture's sum rules out both at once, sparing the counts on most frames
    if BLANK_DARK_LEVEL * luma.size + 255 * allowed < total < BLANK_LIGHT_LEVEL * (luma.size - allowed):
        return False
    return np.count_nonzero(luma > BLANK_DARK_LEVEL) <= allowed or np.count_nonzero(luma < BLANK_LIGHT_LEVEL) <= allowed


def changes_most(before: np.ndarray, after: np.ndarray) -> bool:
    """Whether a jump from the thumbnail `before` to `after` (int16 [3, H, W]) changes most of the picture: more
    than `CUT_MIN_CHANGED` of its pixels change by more than `CHANGED_LEVEL` in luma or in either chroma plane (a
    cut between shots of like brightness changes the hue), or, where the shots' colours are alike, by more than
    `MILD_CHANGED_LEVEL` over the overlap at every shift of one picture against the other by up to
    `CUT_MAX_SHIFT`. A countdown's digits or a small moving object change too little of the picture, and a jolt of
    the camera shifts it. (The shifts, ~0.2 ms, are tried only for jumps that pass everything else but the
    first test.)"""
    change = np.abs(after - before).max(axis=0)
    if np.count_nonzero(change > CHANGED_LEVEL) >= CUT_MIN_CHANGED * change.size:
        return True
    if np.count_nonzero(change > MILD_CHANGED_LEVEL) < CUT_MIN_CHANGED * change.size:
        return False
    shift_x, shift_y = CUT_MAX_SHIFT
    channels, height, width = before.shape
    padded = np.full((channels, height + 2 * shift_y, width + 2 * shift_x), -1024, np.int16)  # outside: changed
    padded[:, shift_y : shift_y + height, shift_x : shift_x + width] = before
    shifted = np.lib.stride_tricks.sliding_window_view(padded, before.shape)[0] - after  # [shifts y, x, 3, H, W]
    np.abs(shifted, out=shifted)
    shared = overlaps(height, width).ravel()
    changed = (shifted.max(axis=2) > MILD_CHANGED_LEVEL).reshape(shared.size, -1).sum(axis=1) - (change.size - shared)
    return bool((changed >= CUT_MIN_CHANGED * shared).all())


@functools.lru_cache(maxsize=4)
def overlaps(height: int, width: int) -> np.ndarray:
    """Pixels two pictures of that size share at each shift up to `CUT_MAX_SHIFT`, [shifts y, shifts x] (as the
    windows of `changes_most`)."""
    shift_x, shift_y = CUT_MAX_SHIFT
    rows = height - np.abs(np.arange(-shift_y, shift_y + 1))
    return rows[:, None] * (width - np.abs(np.arange(-shift_x, shift_x + 1)))[None, :]


class ShotDetector:
    """Finds the boundaries of one video's shots from its thumbnails, fed in order; see the module's docstring."""

    def __init__(self, fps: float | None = None):
        rate = fps if fps is not None and math.isfinite(fps) and fps > 0 else DEFAULT_FPS
        self.min_shot_frames = max(1, round(MIN_SHOT_S * rate))
        self.dissolve_half = max(2, min(round(DISSOLVE_HALF_S * rate), MAX_DISSOLVE_HALF))
        self.flash_frames = max(1, round(FLASH_S * rate))
        self.flash_decay_frames = max(1, round(FLASH_DECAY_S * rate))
        self.lookahead = max(2 * self.dissolve_half, self.flash_frames + 1, CUT_NEIGHBOURS)
        # Half-widths of the windows over which a dissolve's mix is measured, the widest first.
        self._mix_halves = sorted({max(2, round(f * self.dissolve_half)) for f in DISSOLVE_SPANS}, reverse=True)
        # How far before the frame it decides a decision reads: a dissolve's window (its shot before, which has no
        # blank frame), and the frames around a flash with the scene's motion before it.
        flash_reach = self.flash_frames + self.flash_frames // 2 + self.flash_decay_frames + 2
        self._history = max(2 * self.dissolve_half, 2 * self.flash_frames + 3, flash_reach, CUT_NEIGHBOURS)
        self._thumbs: dict[int, np.ndarray] = {}  # int16 [3, H, W] by frame index
        self._diffs: dict[int, float] = {}  # frame i against frame i-1
        self._blank: dict[int, bool] = {}
        self._span_diffs: dict[int, float] = {}  # frame i - dissolve_half against frame i + dissolve_half
        # Measured only around dissolve candidates, when first needed:
        self._far_diffs: dict[int, float] = {}  # frame i against frame i - dissolve_half
        self._spans: dict[int, dict[int, float]] = {}  # frame i - h against frame i + h, by h (narrower windows)
        self._mix_errors: dict[int, dict[int, float]] = {}  # frame i against the average of i - h and i + h, by h
        self._blank_start: int | None = None  # the first frame of the blank run going on
        self._blank_reported = False  # its fade is already queued
        # Fades found, not yet decided: (boundary, the blank run's first frame, the first frame after it, or None
        # where the run was queued before it ended).
        self._fades: deque[tuple[int, int, int | None]] = deque()
        self._next_frame = 0
        self._next_decision = 1  # frame 0 is never a boundary
        self._last_cut = -math.inf

    def push(self, thumb: np.ndarray, frame_index: int) -> list[Cut]:
        """Feed frames in order (frame_index increases by 1 each call). Returns the boundaries decided by this call,
        in order: after push(thumb, i), every boundary at or before i - lookahead has been returned."""
        if frame_index != self._next_frame:
            raise ValueError(f"frame {frame_index} pushed where frame {self._next_frame} was expected")
        self._next_frame += 1
        self._measure(thumb.astype(np.int16), frame_index)
        decided = frame_index - self.lookahead
        cuts = self._decide_until(decided, frame_index)
        stores = (self._thumbs, self._diffs, self._blank, self._span_diffs, self._far_diffs, self._spans)
        for store in (*stores, self._mix_errors):
            store.pop(decided - self._history - 1, None)  # one a frame: what no decision will read again
        return cuts

    def finish(self) -> list[Cut]:
        """End of video: returns the remaining boundaries (a fade to black at the very end is not one)."""
        last = self._next_frame - 1
        return self._decide_until(last, last)

    def _measure(self, pixels: np.ndarray, n: int) -> None:
        self._thumbs[n] = pixels
        if n >= 1:
            self._diffs[n] = distance(pixels, self._thumbs[n - 1])
        if n >= 2 * self.dissolve_half:
            self._span_diffs[n - self.dissolve_half] = distance(pixels, self._thumbs[n - 2 * self.dissolve_half])
        self._track_blank_run(is_blank(pixels[0]), n)

    def _track_blank_run(self, blank: bool, n: int) -> None:
        """Queues a fade at the middle of each blank run that follows a picture: when the run ends (whether it was
        a flash is decided with the fade, once the frames after it are in), or once it is long enough that its
        boundary, `lookahead // 2` frames in, is due."""
        self._blank[n] = blank
        if blank and self._blank_start is None:
            self._blank_start, self._blank_reported = n, False
        start = self._blank_start
        if start is None or start == 0 or self._blank_reported:  # a video that opens on black has no boundary there
            if not blank:
                self._blank_start = None
            return
        longest = self.lookahead // 2
        if not blank:
            self._fades.append((start + (n - start) // 2, start, n))
            self._blank_start = None
        elif n - start == 2 * longest:
            self._fades.append((start + longest, start, None))
            self._blank_reported = True

    def _is_flash(self, start: int, end: int, last: int) -> bool:
        """Whether the blank frames from `start` to before `end` are a flash: few, jumped into, and followed, right
        away or after a short decay (frames still brightened), by the picture that came before them (a fade's
        frames either side are dim, so they differ from the jump)."""
        if end - start > self.flash_frames:
            return False
        jump = distance(self._thumbs[start - 1], self._thumbs[start])
        latest = min(start + self.flash_frames + self.flash_decay_frames, last)
        return any(self._scene_returns(start - 1, after, jump) for after in range(end, latest + 1))

    def _decide_until(self, decision_end: int, last: int) -> list[Cut]:
        cuts = []
        for c in range(self._next_decision, decision_end + 1):
            kind = self._boundary_kind(c, last)
            if kind is not None and c - self._last_cut >= self.min_shot_frames:
                cuts.append(Cut(c, kind))
                self._last_cut = c
        self._next_decision = max(self._next_decision, decision_end + 1)
        return cuts

    def _boundary_kind(self, c: int, last: int) -> str | None:
        if self._fades and self._fades[0][0] == c:
            _, start, end = self._fades.popleft()
            if end is None or not self._is_flash(start, end, last):
                return "fade"
        if self._is_cut(c):
            return "cut"
        if self._is_dissolve(c, last):
            return "dissolve"
        return None

    def _is_cut(self, c: int) -> bool:
        jump = self._diffs[c]
        if jump < CUT_MIN_DIFF or self._blank[c - 1] or self._blank[c]:
            return False
        window = range(max(1, c - CUT_NEIGHBOURS), c + CUT_NEIGHBOURS + 1)
        # A repeated frame (a frame-rate conversion's) has no difference: it says nothing of the motion around.
        neighbours = [d for j in window if j != c and (d := self._diffs.get(j, 0.0)) >= DUPLICATE_DIFF]
        if neighbours and jump < CUT_RATIO * sum(neighbours) / len(neighbours):
            return False
        if not changes_most(self._thumbs[c - 1], self._thumbs[c]):
            return False
        return not self._flash_around(c, jump)

    def _flash_around(self, c: int, jump: float) -> bool:
        """Whether c starts or ends a flash of up to `flash_frames` frames: a frame shortly before c resembles one
        shortly after it (other than c-1 and c themselves)."""
        for gap in range(2, self.flash_frames + 2):
            for before in range(max(0, c - gap), c):
                if before + gap in self._thumbs and self._scene_returns(before, before + gap, jump):
                    return True
        return False

    def _scene_returns(self, before: int, after: int, jump: float) -> bool:
        """Whether frame `after` shows the scene of frame `before`: it is much closer to it than the jump between
        them was, and no further than the scene's own motion over as many frames before explains."""
        gap_diff = distance(self._thumbs[before], self._thumbs[after])
        earlier = self._thumbs.get(before - (after - before))
        motion = 0.0 if earlier is None else distance(earlier, self._thumbs[before])
        return gap_diff < RETURN_RATIO * jump and gap_diff < max(RETURN_FLOOR, RETURN_MOTION * motion)

    def _is_dissolve(self, c: int, last: int) -> bool:
        half = self.dissolve_half
        if c - 2 * half < 0 or c + 2 * half > last or self._span_diffs[c] < DISSOLVE_MIN_DIFF:
            return False
        floor = DISSOLVE_RATIO * max(self._far_diff(c - half), self._far_diff(c + 2 * half))
        if self._span_diffs[c] < floor:
            return False
        floor = max(floor, DISSOLVE_MIN_DIFF)  # what a narrower window's ends must differ by to count
        mix_error = self._best_mix(c, floor)
        if mix_error > DISSOLVE_MIX_ERROR:
            return False
        earlier = min(self._best_mix(j, floor) for j in range(c - half, c))
        later = min(self._best_mix(j, floor) for j in range(c + 1, c + half + 1))
        if mix_error >= earlier or mix_error > later:  # the middle of the transition: the best mix
            return False
        return not any(self._blank[j] for j in range(c - 2 * half, c + 2 * half + 1))  # fades are found as fades

    def _far_diff(self, i: int) -> float:
        if i not in self._far_diffs:
            self._far_diffs[i] = distance(self._thumbs[i], self._thumbs[i - self.dissolve_half])
        return self._far_diffs[i]

    def _best_mix(self, i: int, floor: float) -> float:
        """The lowest mix error of frame i over the window half-widths: `dissolve_half`, and the narrower ones whose
        ends differ by `floor` at least (the transition lies within them). A window as long as the dissolve puts
        its ends just outside it: in moving shots, ends further into the shots have moved further from the
        middle frame's pictures."""
        return min(
            self._mix_error(i, h) for h in self._mix_halves if h == self.dissolve_half or self._span(i, h) >= floor
        )

    def _span(self, i: int, h: int) -> float:
        if h == self.dissolve_half:
            return self._span_diffs[i]
        spans = self._spans.setdefault(i, {})
        if h not in spans:
            spans[h] = distance(self._thumbs[i - h], self._thumbs[i + h])
        return spans[h]

    def _mix_error(self, i: int, h: int) -> float:
        """How far frame i is from the average of the frames h before and after it, as a fraction of their
        difference: 0 in the middle of a cross-fade between still pictures, about 0.5 at a hard cut."""
        errors = self._mix_errors.setdefault(i, {})
        if h not in errors:
            first, middle, end = self._thumbs[i - h], self._thumbs[i], self._thumbs[i + h]
            span = max(self._span(i, h), 1.0)
            errors[h] = float(np.abs(2 * middle - first - end).sum()) / (2 * middle.size * span)
        return errors[h]
