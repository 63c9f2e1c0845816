"""Exact sparse decoding: leave undecoded the frames that nothing needs.

At 30 fps a model sampling 5 frames a second shows 1 frame in 6 (`clips.FrameSampler`), yet FFmpeg decodes every
frame, because most frames are predicted from others. Non-reference frames (`references.py`: most B-frames of H.264
and HEVC exports) are predicted from, by nothing: a non-reference frame that no model tick shows can be left
undecoded without changing any other frame, so the clips stay bit for bit what decoding everything gives.

`planned_packets` demuxes LOOKAHEAD packets ahead of the decoder, so that the presentation time of the frame after
each one is known (B-frames arrive out of presentation order). It leaves a packet out, as a `SkippedFrame`, when:

- the codec has a reference reader and the packet holds only non-reference pictures;
- it is neither the video's first frame (presentation order) nor its last: a later frame has been seen;
- no model tick falls between its time and the next frame's, computed as `FrameSampler` counts them (same
  floating-point expressions, same tolerance).

Decisions need presentation times that are regular: a packet without a timestamp, one earlier than the video's
first frame, or a jump of more than `decode.MAX_FRAME_GAP_S` (which `decode.sampled_frames` treats as a
discontinuity and shifts) turns skipping off for the rest of the video, and `sampled_frames` refuses a skipped frame
that would have filled a tick (an error row that says to use `--sparse_decode off`, never a wrong clip).

`--fast_decode` (`every_nonref`) drops the last rule: every non-reference frame but the first and last is left out,
and `sampled_frames` gives a tick that shows one the frame decoded before it.

Every frame still counts: `sampled_frames` sees a `SkippedFrame` in its place in presentation order, so frame
indices, `num_frames` and times are those of decoding everything. What does change is what the shot detector and
the thumbnails see: only decoded frames (a cut is found at the first decoded frame of the new shot).
"""

from __future__ import annotations

import bisect
import collections
import math
from collections.abc import Iterator
from typing import NamedTuple

import av

from vidlabel.transforms.clips import TICK_TOLERANCE_S
from vidlabel.transforms.references import reference_reader

LOOKAHEAD = 48  # packets demuxed ahead of the decoder: more than any encoder's reordering depth (x264: at most 16)


class SkippedFrame(NamedTuple):
    """A frame left undecoded: its presentation timestamp, and its time as PyAV's `VideoFrame.time` would give it."""

    pts: int
    time: float


def tick_between(start: float, end: float, period: float) -> bool:
    """Whether a frame shown from `start` until `end` (seconds from the first frame) fills a model tick: the first
    tick k with k * period >= start - tolerance also has k * period < end - tolerance (`FrameSampler.ticks_until`)."""
    k = max(0, math.floor((start - TICK_TOLERANCE_S) / period) - 1)
    while k * period < start - TICK_TOLERANCE_S:
        k += 1
    return k * period < end - TICK_TOLERANCE_S


class Planner:
    """Decides, packet by packet in decode order, which ones to leave undecoded (see the module's docstring)."""

    def __init__(self, stream, fps: float, max_gap_s: float, every_nonref: bool = False):
        context = stream.codec_context
        self._every_nonref = every_nonref
        self._reader = reference_reader(context.codec.canonical_name, context.extradata)
        self._time_base = stream.time_base
        self._period = 1.0 / fps
        self._max_gap = max_gap_s
        self.enabled = self._reader is not None
        self._first_pts: int | None = None
        self._max_pts: int | None = None
        self._pending: list[int] = []  # sorted presentation timestamps of packets not yet decided, and later ones

    def seen(self, pts: int | None) -> None:
        """A packet was demuxed (it enters the lookahead)."""
        if pts is None:
            self.enabled = False
            return
        if self._first_pts is not None and pts < self._first_pts:
            self.enabled = False  # earlier than the first frame: the times decided so far may be wrong
        if self._max_pts is not None and float((pts - self._max_pts) * self._time_base) > self._max_gap:
            self.enabled = False  # a discontinuity: `sampled_frames` shifts the times after it
        self._max_pts = pts if self._max_pts is None else max(self._max_pts, pts)
        bisect.insort(self._pending, pts)

    def skip(self, packet: av.Packet) -> bool:
        """Whether to leave this packet, leaving the lookahead, undecoded."""
        pts = packet.pts
        if pts is None or not packet.size:  # the demuxer's final empty packet, or one that disabled skipping
            return False
        if self._first_pts is None:
            self._first_pts = self._pending[0]  # the lookahead's earliest: the first frame
        skip = self.enabled and self._skippable(packet)
        # The earliest pending timestamps can no longer be anyone's successor.
        del self._pending[: max(0, bisect.bisect_left(self._pending, pts) - LOOKAHEAD)]
        return skip

    def _skippable(self, packet: av.Packet) -> bool:
        pts = packet.pts
        later = bisect.bisect_right(self._pending, pts)
        if pts <= self._first_pts or later == len(self._pending):
            return False  # the first frame, or no later frame seen yet (the last one)
        if self._reader.is_reference(bytes(packet)) or not self._reader.usable:
            return False
        if self._every_nonref:
            return True
        start, end = self.time(pts), self.time(self._pending[later])
        return not tick_between(start - self.time(self._first_pts), end - self.time(self._first_pts), self._period)

    def time(self, pts: int) -> float:
        return float(pts * self._time_base)  # as PyAV's VideoFrame.time


def planned_packets(container, stream, planner: Planner) -> Iterator[av.Packet | SkippedFrame]:
    """The stream's packets in decode order, each one the planner leaves out replaced by its SkippedFrame."""
    window: collections.deque = collections.deque()

    def release():
        packet = window.popleft()
        return SkippedFrame(packet.pts, planner.time(packet.pts)) if planner.skip(packet) else packet

    failure = None
    try:
        for packet in container.demux(stream):
            if packet.size:
                planner.seen(packet.pts)
            window.append(packet)
            if len(window) > LOOKAHEAD:
                yield release()
    except av.error.FFmpegError as exc:  # a demuxer error ends the stream after the packets before it
        failure = exc
    while window:
        yield release()
    if failure is not None:
        raise failure
