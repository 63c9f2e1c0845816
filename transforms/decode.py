"""Step 2 of a video's path: decode it with PyAV and cut it into model-ready clips.

`DecodeClips` takes a URI and yields `(ClipKey, frames)` pairs as each clip fills, then exactly one `VideoInfo`
(on the "video_info" output) or one `VideoError` (on the "video_error" output). A video is never held whole in
memory: frames are resampled to the model's rate by presentation time, and only frames that sampling keeps are
converted (colour conversion and scaling in FFmpeg's swscale), turned upright and cropped.
"""
from __future__ import annotations

import math
from typing import Iterator, Optional

import apache_beam as beam
import av
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from vidlabel.transforms import clips
from vidlabel.transforms.listing import to_local_path
from vidlabel.transforms.types import ClipKey, ClipSpec, VideoError, VideoInfo

VIDEO_INFO = "video_info"
VIDEO_ERROR = "video_error"


class NoVideoError(Exception):
    """The file holds no decodable video stream (audio only, no frames, or every packet corrupt)."""


def open_container(uri: str) -> av.container.InputContainer:
    """Local files go to FFmpeg by path (its own buffered, seekable I/O); others through Beam's file systems."""
    local = to_local_path(uri)
    if local is not None:
        return av.open(local, mode="r")
    return av.open(FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED), mode="r")


def pick_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The first real video stream: cover art (attached pictures) is not the video."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    kinds = sorted({s.type for s in container.streams}) or ["none"]
    raise NoVideoError(f"no video stream in the file (streams found: {', '.join(kinds)})")


def to_model_frame(frame: av.VideoFrame, spec: ClipSpec) -> np.ndarray:
    """One decoded frame as the model sees it: upright RGB float32 [resolution, resolution, 3] in [0, 1]."""
    rotation = frame.rotation % 360
    shown_w, shown_h = clips.displayed_size(frame.width, frame.height, rotation)
    scaled_w, scaled_h = clips.target_size(shown_w, shown_h, spec.resolution, spec.resize)
    stored_w, stored_h = clips.displayed_size(scaled_w, scaled_h, rotation)  # back to the stored orientation
    rgb = frame.reformat(width=stored_w, height=stored_h, format="rgb24", interpolation="BILINEAR").to_ndarray()
    rgb = clips.centre_crop(clips.rotate_upright(rgb, rotation), spec.resolution)
    return rgb.astype(np.float32) * np.float32(1 / 255)


class DecodeClips(beam.DoFn):
    """URI -> (ClipKey, float32 [T, H, W, 3]) per clip, then one VideoInfo or one VideoError for the file."""

    def __init__(self, spec: ClipSpec):
        self._spec = spec
        self._videos_ok = Metrics.counter(self.__class__, "videos_ok")
        self._videos_failed = Metrics.counter(self.__class__, "videos_failed")
        self._clips_emitted = Metrics.counter(self.__class__, "clips_emitted")

    def setup(self):
        # FFmpeg log callbacks from decoder threads can deadlock Python (PyAV caveats); errors still raise.
        av.logging.set_level(None)

    def process(self, uri: str):
        stage = "open"
        try:
            with open_container(uri) as container:
                stream = pick_video_stream(container)
                stage = "decode"
                yield from self._clips(uri, container, stream)
        except Exception as exc:  # a bad file becomes one error row; the job goes on
            self._videos_failed.inc()
            yield beam.pvalue.TaggedOutput(VIDEO_ERROR, video_error(uri, stage, exc))

    def _clips(self, uri: str, container, stream) -> Iterator:
        facts = DecodeFacts()
        num_clips = 0
        for clip in video_clips(uri, container, stream, self._spec, facts):
            num_clips += 1
            self._clips_emitted.inc()
            yield clip

        last = facts.last_frame
        width, height = clips.displayed_size(last.width, last.height, last.rotation % 360)
        self._videos_ok.inc()
        yield beam.pvalue.TaggedOutput(
            VIDEO_INFO,
            VideoInfo(
                video_uri=uri,
                duration_s=facts.end_s,
                source_fps=float(stream.average_rate) if stream.average_rate else None,
                width=width,
                height=height,
                rotation=last.rotation % 360,
                codec=stream.codec_context.name,
                num_frames=facts.num_frames,
                num_clips=num_clips,
            ),
        )


def video_clips(uri: str, container, stream, spec: ClipSpec, facts: "DecodeFacts") -> Iterator[tuple[ClipKey, np.ndarray]]:
    """A video's clips as (ClipKey, float32 [T, H, W, 3]), cut as frames arrive. Fine-tuning reads its training clips
    through this same generator, so a model is trained on exactly what `vidlabel run` will feed it."""
    windower = clips.ClipWindower(spec.clip_frames, spec.stride_frames)

    def keyed(windows, video_end_s=math.inf):
        for w in windows:
            key = ClipKey(
                video_uri=uri,
                clip_index=w.index,
                start_s=w.start / spec.fps,
                end_s=min(w.end / spec.fps, video_end_s),
                start_frame=w.source_start,
                end_frame=w.source_end,
            )
            yield key, w.frames

    for frame, index, ticks in sampled_frames(container, stream, spec.fps, facts):
        model_frame = to_model_frame(frame, spec)  # converted once, however many ticks it fills
        for _ in range(ticks):
            yield from keyed(windower.push(model_frame, index))
    yield from keyed(windower.finish(), video_end_s=facts.end_s)


class DecodeFacts:
    """What `sampled_frames` learns about a video as it goes; complete once the generator is exhausted."""

    def __init__(self):
        self.num_frames = 0
        self.end_s = 0.0  # seconds from the first frame to the end of the last one
        self.last_frame: Optional[av.VideoFrame] = None


def sampled_frames(container, stream, fps: float, facts: DecodeFacts) -> Iterator[tuple[av.VideoFrame, int, int]]:
    """The decoded frames that resampling to `fps` keeps, in order, as (frame, source index, ticks it fills).

    A frame's ticks are known when the next frame arrives (or at the end of the video), so frames are released one
    behind the decoder. Frames that fill no tick are dropped without being converted. Raises NoVideoError when no
    frame decodes at all.
    """
    stream.thread_type = "AUTO"
    sampler = clips.FrameSampler(fps)
    shown = None  # (frame, source index, start time) of the frame on screen now
    first_time = None
    failed_packets, first_failure = 0, None
    fallback_period = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
    for frame in decoded_frames(container, stream):
        if isinstance(frame, Exception):
            failed_packets += 1
            first_failure = first_failure or frame
            continue
        t = frame.time if frame.time is not None else (shown[2] + fallback_period if shown else 0.0)
        if first_time is None:
            first_time = t
        t = max(t - first_time, shown[2] if shown else 0.0)  # never step back in time
        if shown is not None:
            ticks = sampler.ticks_until(t)
            if ticks:
                yield shown[0], shown[1], ticks
        shown = (frame, facts.num_frames, t)
        facts.num_frames += 1

    if shown is None:
        detail = f": {failed_packets} packets failed, first: {first_failure}" if failed_packets else ""
        raise NoVideoError(f"no video frame could be decoded{detail}")
    last_frame, last_index, last_start = shown
    frame_period = float(last_frame.duration * last_frame.time_base) if last_frame.duration else fallback_period
    facts.end_s = last_start + frame_period
    facts.last_frame = last_frame
    ticks = sampler.ticks_until(facts.end_s) or (1 if sampler.ticks == 0 else 0)  # every video gives a clip
    if ticks:
        yield last_frame, last_index, ticks


def decoded_frames(container, stream) -> Iterator:
    """Frames in presentation order. A packet the decoder rejects is yielded as its exception and skipped, as
    FFmpeg's own tools do; a demuxer error (a truncated file) ends the stream like an end of file."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:
            packet = None
        try:
            if packet is None:
                yield from stream.decode(None)  # flush what the decoder still holds
                return
            yield from packet.decode()
        except av.error.FFmpegError as exc:
            yield exc


def video_error(uri: str, stage: str, exc: Exception) -> VideoError:
    if isinstance(exc, NoVideoError):
        message = str(exc)
    elif isinstance(exc, av.error.InvalidDataError) and stage == "open":
        message = "not a readable video file (FFmpeg found no known container format in it)"
    elif isinstance(exc, (FileNotFoundError, av.error.FileNotFoundError)):
        message = "file not found"
    elif isinstance(exc, (PermissionError, av.error.PermissionError)):
        message = "permission denied"
    else:
        message = str(exc) or type(exc).__name__
    return VideoError(video_uri=uri, stage=stage, error_class=type(exc).__name__, message=message)
