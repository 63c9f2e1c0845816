"""Thumbnails of a video, taken in the decoding pass `vidlabel run` already does (`decode.video_clips`), so that the
archive report (`vidlabel report`) shows pictures without ever decoding a video again.

Which frames: one a short way into each shot (at least `SHOT_DELAY_S` after it starts, and once the shot detector
has decided its cut, which it does 0.8 s of frames on: past a dissolve's or a fade's middle, a picture that stands
for the shot rather than its first frame), and within a long shot one every `--thumbnails N` seconds since the
last. Never two closer than `MIN_GAP_S`, so fast-cut footage costs at most one a second; a shot shorter than its
delay may get none, and a video too short for any rule gets its last frame. Only the frames taken are converted:
scaled by FFmpeg (swscale) so that the longer displayed side is at most `MAX_SIDE` pixels, turned upright, and
compressed as JPEG with Pillow (a few kB each).

A thumbnail belongs to a shot by its time (`shots.start_s <= time_s < shots.end_s`): the picker decides as frames
arrive, before every cut after it is known.
"""

from __future__ import annotations

import io

import av
import numpy as np
from PIL import Image

from vidlabel.transforms import clips
from vidlabel.transforms.types import Thumbnail

MAX_SIDE = 192  # pixels: the longer displayed side
JPEG_QUALITY = 80
SHOT_DELAY_S = 0.5  # how far into a shot its thumbnail is taken
MIN_GAP_S = 1.0  # never two thumbnails closer than this
DEFAULT_EVERY_S = 10.0  # --thumbnails: seconds between thumbnails within one shot


def encode(frame: av.VideoFrame) -> tuple[bytes, int, int]:
    """A decoded frame as an upright JPEG whose longer side is at most MAX_SIDE: (bytes, width, height)."""
    rotation = frame.rotation % 360
    shown_w, shown_h = clips.displayed_size(frame.width, frame.height, rotation)
    scale = min(1.0, MAX_SIDE / max(shown_w, shown_h))
    width, height = max(1, round(shown_w * scale)), max(1, round(shown_h * scale))
    stored_w, stored_h = clips.displayed_size(width, height, rotation)
    rgb = frame.reformat(width=stored_w, height=stored_h, format="rgb24", interpolation="AREA").to_ndarray()
    upright = np.ascontiguousarray(clips.rotate_upright(rgb, rotation))
    buffer = io.BytesIO()
    Image.fromarray(upright).save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue(), width, height


class ThumbnailPicker:
    """Sees every decoded frame (`see`) and the start time of each shot as the shot detector finds it
    (`shot_started`); takes the frames the rules above pick. `take()` hands out the thumbnails taken so far."""

    def __init__(self, video_uri: str, every_s: float):
        self._uri = video_uri
        self._every_s = every_s
        self._shot_start: float | None = 0.0  # the start of the shot still waiting for its thumbnail
        self._last_s: float | None = None  # time of the last thumbnail taken
        self._last_seen: tuple[av.VideoFrame, float] | None = None  # for a video too short for any rule
        self._taken: list[Thumbnail] = []

    def shot_started(self, time_s: float) -> None:
        self._shot_start = time_s

    def see(self, frame: av.VideoFrame, time_s: float) -> None:
        due_for_shot = self._shot_start is not None and time_s - self._shot_start >= SHOT_DELAY_S
        due_in_shot = self._last_s is not None and time_s - self._last_s >= self._every_s
        self._last_seen = (frame, time_s)
        if due_for_shot:
            self._shot_start = None
        if (due_for_shot or due_in_shot) and (self._last_s is None or time_s - self._last_s >= MIN_GAP_S):
            self._take(frame, time_s)

    def finish(self) -> None:
        """The video's end: a video too short for any rule gets the last frame seen."""
        if self._last_s is None and self._last_seen is not None:
            self._take(*self._last_seen)

    def take(self) -> list[Thumbnail]:
        taken, self._taken = self._taken, []
        return taken

    def _take(self, frame: av.VideoFrame, time_s: float) -> None:
        jpeg, width, height = encode(frame)
        self._taken.append(Thumbnail(self._uri, time_s, width, height, jpeg))
        self._last_s = time_s
