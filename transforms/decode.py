"""Step 2 of a video's path: decode it with PyAV and cut it into model-ready clips.

`DecodeClips`, the pipeline's step, hands each file to a decoder child process (`sandbox.py`), so that a file
which crashes, hangs or exhausts the decoder costs only its own row. In the child, `decode_video` takes a URI and
yields `(ClipKey, frames)` pairs as each clip fills, then exactly one `VideoInfo` or one `VideoError`. A video is
never held whole in memory: frames are resampled to the model's rate by presentation time, and only frames that
sampling keeps are converted (colour conversion and scaling in FFmpeg's swscale), turned upright and cropped
(`clips.py` holds the arithmetic).
"""

from __future__ import annotations

import bisect
import collections
import heapq
import math
from collections.abc import Callable, Generator, Iterator
from typing import NamedTuple, TypeVar

import apache_beam as beam
import av
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from vidlabel.transforms import clips, shots, sparse
from vidlabel.transforms.sandbox import DecoderProcess
from vidlabel.transforms.sparse import Planner, SkippedFrame
from vidlabel.transforms.storage import to_local_path
from vidlabel.transforms.thumbnails import ThumbnailPicker
from vidlabel.transforms.types import (
    ClipKey,
    ClipSpec,
    DecodeLimits,
    DecodeOptions,
    ShotSpan,
    Thumbnail,
    VideoError,
    VideoFile,
    VideoInfo,
)


class NoVideoError(Exception):
    """The file holds no decodable video stream (audio only, no frames, or every packet corrupt)."""


class NoFrameError(NoVideoError):
    """A video stream gave no frame at all (no packets, or every packet corrupt): the next stream may play."""


def open_container(uri: str) -> av.container.InputContainer:
    """Local files go to FFmpeg by path (its own buffered, seekable I/O); others through Beam's file systems.
    Metadata that is not valid UTF-8 is read with replacement characters instead of failing the file."""
    local = to_local_path(uri)
    source = local if local is not None else FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)
    return av.open(source, mode="r", metadata_errors="replace")  # damaged tags must not cost the video


def video_streams(container: av.container.InputContainer) -> list[av.video.stream.VideoStream]:
    """The video streams worth decoding, in the order to try them: first the one FFmpeg's players choose
    (`av_find_best_stream`: a default-flagged stream, then the one with the most packets while probing, then the
    highest bit rate), then the others in index order. Files carry video streams that are not the video: a one-frame
    still before the real track, tracks declared in the header that never got a packet. Cover art (attached
    pictures) is never the video, and a stream whose codec FFmpeg cannot decode cannot be tried."""
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    decodable = [s for s in videos if s.codec_context is not None]
    if decodable:
        best = container.streams.best("video")
        return sorted(decodable, key=lambda s: best is None or s.index != best.index)  # stable: index order after it
    if videos:
        raise NoVideoError("the video stream's codec is unknown to FFmpeg (no decoder for it)")
    kinds = sorted({s.type for s in container.streams}) or ["none"]
    raise NoVideoError(f"no video stream in the file (streams found: {', '.join(kinds)})")


def pick_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The video stream to decode first (`video_streams`); `on_video_stream` also tries the others."""
    return video_streams(container)[0]


T = TypeVar("T")


def on_video_stream(
    uri: str, decode: Callable[[av.container.InputContainer, av.video.stream.VideoStream], Iterator[T]]
) -> Iterator[T]:
    """What `decode(container, stream)` yields for the file's video stream. When the first choice (`video_streams`)
    gives no frame at all, so that `decode` raised NoFrameError before yielding anything, the next is decoded from a
    container opened anew (the first one was read to its end), as FFmpeg's players would show the stream that plays.
    Once `decode` has yielded, its output stands: a stream is never switched mid-video."""
    attempt, first_failure = 0, None
    while True:
        with open_container(uri) as container:
            streams = video_streams(container)
            yielded = False
            try:
                for item in decode(container, streams[attempt]):
                    yielded = True
                    yield item
                return
            except NoFrameError as exc:
                if yielded:
                    raise
                first_failure = first_failure or exc
                attempt += 1
                if attempt == len(streams):
                    others = "; the file's other video streams gave none either" if attempt > 1 else ""
                    raise NoFrameError(f"{first_failure}{others}") from exc


# FFmpeg's decoders that wrap another library, by FFmpeg's names for them. A build without that library cannot look
# the name up (PyAV's wheels have libdav1d, not libaom), yet rows written with another build may hold it.
LIBRARY_DECODERS = {
    "libaom-av1": "av1",
    "libdav1d": "av1",
    "libgav1": "av1",
    "libvpx": "vp8",
    "libvpx-vp9": "vp9",
    "libopenh264": "h264",
    "libopenjpeg": "jpeg2000",
    "libjxl": "jpegxl",
    "libdavs2": "avs2",
    "libuavs3d": "avs3",
    "libxevd": "evc",
}


def codec_name(name: str) -> str:
    """The codec's name (FFmpeg's codec descriptor: 'av1', 'h264', 'vp9') for a decoder's, an encoder's or the codec's
    own name ('libdav1d', 'libaom-av1', 'libx264', 'h264'); an unknown name is returned as it is. The videos table
    says which codec a video is in, whichever decoder read it, so that `codec = 'av1'` finds every AV1 video."""
    for mode in ("r", "w"):
        try:
            return av.codec.Codec(name, mode).canonical_name
        except av.codec.codec.UnknownCodecError:
            pass
    return LIBRARY_DECODERS.get(name, name)


def to_model_frame(frame: av.VideoFrame, spec: ClipSpec) -> np.ndarray:
    """One decoded frame as the model sees it: upright RGB uint8 [resolution, resolution, 3]. Clips stay uint8 (a
    quarter of the bytes through the decoder pipe and RunInference's batches) until `clips.model_input` turns a
    batch into the model's float32 in [0, 1]."""
    rotation = frame.rotation % 360
    shown_w, shown_h = clips.displayed_size(frame.width, frame.height, rotation)
    scaled_w, scaled_h = clips.target_size(shown_w, shown_h, spec.resolution, spec.resize)
    stored_w, stored_h = clips.displayed_size(scaled_w, scaled_h, rotation)  # back to the stored orientation
    rgb = frame.reformat(width=stored_w, height=stored_h, format="rgb24", interpolation="BILINEAR").to_ndarray()
    return np.ascontiguousarray(clips.centre_crop(clips.rotate_upright(rgb, rotation), spec.resolution))


def decode_video(
    uri: str, spec: ClipSpec, limits: DecodeLimits, options: DecodeOptions = DecodeOptions()
) -> Iterator[tuple[ClipKey, np.ndarray] | Thumbnail | VideoInfo | VideoError]:
    """A video's clips as (ClipKey, uint8 [T, H, W, 3]) as they fill, then exactly one VideoInfo, or one VideoError
    if the file fails at any point (clips already yielded stay valid: they cover the part that decoded). The stream
    decoded is the one FFmpeg's players would show (`on_video_stream`). With `options.thumbnails_every_s`
    (--thumbnails), the video's `Thumbnail`s come among the clips (`thumbnails.py`); with `options.sparse`
    (--sparse_decode), the frames nothing needs are left undecoded (`sparse.py`).

    This is what runs inside the decoder process (`sandbox.py`); it holds one clip and the frames the decoder
    buffers, whatever the video's length.
    """
    stage = "open"

    def clips_and_info(container, stream):
        nonlocal stage
        check_frame_size(stream.codec_context.width, stream.codec_context.height, limits, "declared by the stream")
        stage = "decode"
        picker = ThumbnailPicker(uri, options.thumbnails_every_s) if options.thumbnails_every_s else None
        facts = yield from video_clips(uri, container, stream, spec, limits, picker, options.skip)
        last = facts.last_frame
        width, height = clips.displayed_size(last.width, last.height, last.rotation % 360)
        yield VideoInfo(
            video_uri=uri,
            duration_s=facts.end_s,
            source_fps=float(stream.average_rate) if stream.average_rate else None,
            width=width,
            height=height,
            rotation=last.rotation % 360,
            codec=stream.codec_context.codec.canonical_name,
            pix_fmt=last.format.name,
            bit_depth=max(c.bits for c in last.format.components),
            stream_index=stream.index,
            num_frames=facts.num_frames,
            num_clips=facts.num_clips,
            shots=facts.shots,
        )

    try:
        yield from on_video_stream(uri, clips_and_info)
    except Exception as exc:  # a bad file becomes one error; the caller goes on with the next
        yield video_error(uri, stage, exc)


class FrameTooLargeError(Exception):
    """A frame bigger than --max_frame_pixels: refused before it is allocated (crafted headers can declare any size)."""


def check_frame_size(width: int, height: int, limits: DecodeLimits, where: str) -> None:
    if width * height > limits.max_frame_pixels:
        raise FrameTooLargeError(
            f"frame size {width}x{height} {where} is over the limit of {limits.max_frame_pixels} pixels "
            "(raise it with --max_frame_pixels)"
        )


# --windows shots: a piece of a shot shorter than this, or than half a clip where clips are shorter than twice
# this, is not scored as a clip of its own (`clips.ClipWindower.cut`, `shortest_shot_frames`).
SHORTEST_SHOT_CLIP_S = 1.0


def shortest_shot_frames(spec: ClipSpec) -> int:
    """The fewest model frames a piece of a shot is scored alone with (`--windows shots`): 1 s, but never more than
    half a clip, so that short clips (1 s, the streaming models' usual) still end at cuts."""
    return max(1, min(math.ceil(SHORTEST_SHOT_CLIP_S * spec.fps), math.ceil(spec.clip_frames / 2)))


def video_clips(
    uri: str,
    container,
    stream,
    spec: ClipSpec,
    limits: DecodeLimits = DecodeLimits(),
    thumbnails: ThumbnailPicker | None = None,
    skip: str = "off",
) -> Generator[tuple[ClipKey, np.ndarray] | Thumbnail, None, DecodeFacts]:
    """A video's clips as (ClipKey, uint8 [T, H, W, 3]), cut as frames arrive; returns the video's DecodeFacts,
    its shots included. Fine-tuning reads its training clips through this same generator, so a model is trained on
    exactly what `vidlabel run` will feed it. With a `thumbnails` picker, the thumbnails it takes (it sees every
    frame and learns each shot's start) come among the clips as soon as they are taken.

    Every decoded frame goes to the shot detector (`shots.py`); a sampled frame waits in `waiting` until the
    detector has decided whether a cut comes before it (its lookahead), so that each clip knows the shots it shows
    and, with `--windows shots`, the clip can end where the shot ends. Memory: one clip plus the lookahead's frames.
    """
    windower = clips.ClipWindower(spec.clip_frames, spec.stride_frames)
    shortest_piece = shortest_shot_frames(spec)
    boundaries = ShotBoundaries(float(stream.average_rate) if stream.average_rate else None)
    num_clips = 0

    def keyed(windows, video_end_s=math.inf):
        nonlocal num_clips
        for w in windows:
            start_s, end_s = w.start / spec.fps, min(w.end / spec.fps, video_end_s)
            shot_ticks = collections.Counter(boundaries.shot_of(source) for source in w.sources)
            key = ClipKey(
                video_uri=uri,
                clip_index=w.index,
                start_s=start_s,
                end_s=end_s,
                start_frame=w.source_start,
                end_frame=w.source_end,
                shot_seconds=tuple((shot, n / len(w.sources) * (end_s - start_s)) for shot, n in shot_ticks.items()),
                second_marks=clips.second_marks(w.start, w.new_from, w.end, spec.fps),
            )
            num_clips += 1
            yield key, w.frames

    waiting: collections.deque[tuple[np.ndarray, int, int]] = collections.deque()  # (model frame, index, ticks)
    last_pushed = -1

    def push_decided():
        nonlocal last_pushed
        while waiting and waiting[0][1] <= boundaries.decided_until:
            model_frame, index, ticks = waiting.popleft()
            if spec.windows == "shots" and boundaries.shot_of(index) != boundaries.shot_of(last_pushed):
                yield from keyed(windower.cut(shortest_piece))
            for _ in range(ticks):
                yield from keyed(windower.push(model_frame, index))
            last_pushed = index

    def see(frame: av.VideoFrame, index: int, time_s: float) -> None:
        known_cuts = len(boundaries.cut_times)
        boundaries.see(frame, index, time_s)
        if thumbnails is not None:
            for cut_time in boundaries.cut_times[known_cuts:]:
                thumbnails.shot_started(cut_time)
            thumbnails.see(frame, time_s)

    frames = sampled_frames(container, stream, spec.fps, on_frame=see, skip=skip)
    while True:  # a for loop would drop the generator's return value, the facts
        try:
            frame, index, ticks = next(frames)
        except StopIteration as end:
            facts = end.value
            break
        check_frame_size(frame.width, frame.height, limits, "in the stream")
        waiting.append((to_model_frame(frame, spec), index, ticks))  # converted once, however many ticks it fills
        yield from push_decided()
        if thumbnails is not None:
            yield from thumbnails.take()
    if thumbnails is not None:
        thumbnails.finish()
        yield from thumbnails.take()
    boundaries.finish()
    yield from push_decided()
    yield from keyed(windower.finish(), video_end_s=facts.end_s)
    return facts._replace(num_clips=num_clips, shots=boundaries.spans(facts.num_frames, facts.end_s))


class ShotBoundaries:
    """The cuts the shot detector finds in one video, each with its frame's time, as the decoder meets them.

    The detector numbers the frames it is shown 0, 1, 2, ...: every decoded frame, which is every frame of the
    video unless sparse decoding left some out (`sparse.py`); then a cut is found at the first decoded frame of the
    new shot. `decided_until`: every cut at or before this source frame index is known, so frames up to it can be
    cut into clips. Only the frames the detector may still cut at are held (it returns a cut at most `lookahead`
    frames after it, `shots.ShotDetector.push`)."""

    def __init__(self, source_fps: float | None):
        self._detector = shots.ShotDetector(source_fps)
        self.shown = 0  # frames shown to the detector
        self._frames: collections.deque[tuple[int, int, float]] = collections.deque()  # (number, index, time)
        self.cut_frames: list[int] = []  # the first frame of each shot after the first (source frame indices)
        self.cut_times: list[float] = []
        self.decided_until = -1

    def see(self, frame: av.VideoFrame, index: int, time_s: float) -> None:
        number = self.shown
        self.shown += 1
        self._frames.append((number, index, time_s))
        self._record(self._detector.push(shots.thumbnail(frame), number))
        decided = number - self._detector.lookahead
        while self._frames[0][0] < decided - 1:
            self._frames.popleft()
        self.decided_until = self._frame(decided)[1] if decided >= 0 else -1

    def finish(self) -> None:
        self._record(self._detector.finish())
        self.decided_until = math.inf

    def _frame(self, number: int) -> tuple[int, int, float]:
        """(number, source index, time) of a frame still held (they are held in order, numbered consecutively)."""
        return self._frames[number - self._frames[0][0]]

    def _record(self, cuts: list[shots.Cut]) -> None:
        for cut in cuts:
            _, index, time = self._frame(cut.frame_index)
            self.cut_frames.append(index)
            self.cut_times.append(time)

    def shot_of(self, source_index: int) -> int:
        """The index of the shot a source frame belongs to (cuts decided so far)."""
        return bisect.bisect_right(self.cut_frames, source_index)

    def spans(self, num_frames: int, end_s: float) -> tuple[ShotSpan, ...]:
        starts = [(0, 0.0), *zip(self.cut_frames, self.cut_times)]
        ends = [*starts[1:], (num_frames, end_s)]
        return tuple(
            ShotSpan(shot_index=i, start_s=start_s, end_s=next_s, start_frame=start, end_frame=next_start - 1)
            for i, ((start, start_s), (next_start, next_s)) in enumerate(zip(starts, ends))
        )


MAX_FRAME_GAP_S = 60.0  # longer between two frames is a timestamp discontinuity (see `sampled_frames`)


class DecodeFacts(NamedTuple):
    """What decoding learnt about a video, known once its last frame is out."""

    num_frames: int  # decoded
    end_s: float  # seconds from the first frame to the end of the last one
    last_frame: av.VideoFrame  # its size, rotation and pixel format describe the video
    num_clips: int = 0  # cut from it (`video_clips`)
    shots: tuple[ShotSpan, ...] = ()  # found in it (`video_clips`)


def sampled_frames(
    container,
    stream,
    fps: float,
    on_frame: Callable[[av.VideoFrame, int, float], None] | None = None,
    skip: str = "off",
) -> Generator[tuple[av.VideoFrame, int, int], None, DecodeFacts]:
    """The decoded frames that resampling to `fps` keeps, in order, as (frame, source index, ticks it fills);
    returns the video's DecodeFacts. `on_frame(frame, index, time)` sees every decoded frame, kept or not (the shot
    detector). With `skip` "exact" (--sparse_decode) or "fast" (--fast_decode), the frames `sparse.Planner` leaves
    undecoded still count (indices, times, the number of frames), but only decoded ones reach `on_frame`. "exact"
    leaves out only frames no tick shows, and a left-out frame that would fill a tick fails the video rather than
    give a different clip (`SparseDecodeError`); "fast" leaves out every non-reference frame, and a tick that shows
    one gets the frame decoded before it (the index stays the frame shown, so clip keys do not change); it also
    skips FFmpeg's loop filter (deblocking) on every frame, so decoded frames differ slightly too.

    A frame's ticks are known when the next frame arrives (or at the end of the video), so frames are released one
    behind the decoder. Frames that fill no tick are dropped without being converted. Raises NoFrameError when no
    frame decodes at all.

    A jump of more than MAX_FRAME_GAP_S between two frames is a timestamp discontinuity (damaged or spliced
    streams), not a frame shown for minutes: later timestamps are shifted back so that the frame lasts one frame
    period. Otherwise one corrupt timestamp could turn a short file into days of repeated frames to score.
    """
    stream.thread_type = "AUTO"
    if skip == "fast":  # FFmpeg's deblocking skipped on every frame (H.264, HEVC; other decoders ignore it)
        stream.codec_context.options = {**stream.codec_context.options, "skip_loop_filter": "all"}
    sampler = clips.FrameSampler(fps)
    shown = None  # (frame, source index, start time) of the frame on screen now
    first_time = None
    shift = 0.0  # seconds removed at timestamp discontinuities
    failed_packets, first_failure = 0, None
    num_frames = 0
    fallback_period = 1.0 / float(stream.average_rate) if stream.average_rate else 1.0 / fps
    planner = sparse_planner(stream, fps, every_nonref=skip == "fast") if skip != "off" else None
    last_decoded = None  # with "fast": the stand-in for a left-out frame a tick shows
    for frame in decoded_frames(container, stream, planner):
        if isinstance(frame, Exception):
            failed_packets += 1
            first_failure = first_failure or frame
            continue
        t = (
            frame.time
            if frame.time is not None
            else (shown[2] + fallback_period + first_time + shift if shown else 0.0)
        )
        if first_time is None:
            first_time = t
        t -= first_time + shift
        if shown is not None and t - shown[2] > MAX_FRAME_GAP_S:
            shift += t - shown[2] - fallback_period
            t = shown[2] + fallback_period
        t = max(t, shown[2] if shown else 0.0)  # never step back in time
        if on_frame is not None and not isinstance(frame, SkippedFrame):
            on_frame(frame, num_frames, t)
        if shown is not None:
            ticks = sampler.ticks_until(t)
            if ticks:
                yield shown_frame(shown, last_decoded), shown[1], ticks
        shown = (frame, num_frames, t)
        num_frames += 1
        if skip == "fast" and not isinstance(frame, SkippedFrame):
            last_decoded = frame

    if shown is None:
        detail = f": {failed_packets} packets failed, first: {first_failure}" if failed_packets else ""
        raise NoFrameError(f"no video frame could be decoded{detail}")
    last_frame, last_index, last_start = shown_frame(shown, last_decoded), shown[1], shown[2]
    known = last_frame.duration and last_frame.time_base
    frame_period = float(last_frame.duration * last_frame.time_base) if known else fallback_period
    frame_period = frame_period if 0 < frame_period <= MAX_FRAME_GAP_S else fallback_period
    end_s = last_start + frame_period
    ticks = sampler.ticks_until(end_s) or (1 if sampler.ticks == 0 else 0)  # every video gives a clip
    if ticks:
        yield last_frame, last_index, ticks
    return DecodeFacts(num_frames=num_frames, end_s=end_s, last_frame=last_frame)


class SparseDecodeError(Exception):
    """A frame sparse decoding left out would have filled a model tick (a stream whose timestamps break the
    planner's assumptions): the video fails rather than get a clip other than decoding everything gives."""


def shown_frame(shown: tuple, stand_in: av.VideoFrame | None = None) -> av.VideoFrame:
    """The frame of `sampled_frames`' (frame, index, time) that fills ticks: never one left undecoded, unless
    there is a `stand_in` for it (--fast_decode: the frame decoded before it)."""
    frame = shown[0]
    if isinstance(frame, SkippedFrame) and stand_in is not None:
        return stand_in
    if isinstance(frame, SkippedFrame):
        raise SparseDecodeError(
            f"sparse decoding left out frame {shown[1]}, which a model tick shows (irregular timestamps); "
            "label this file with --sparse_decode off"
        )
    return frame


def sparse_planner(stream, fps: float, every_nonref: bool = False) -> Planner | None:
    """The stream's sparse-decoding planner, or None for a codec whose reference frames it cannot read.
    `every_nonref` (--fast_decode): it leaves out every non-reference frame, ticks or not."""
    planner = Planner(stream, fps, MAX_FRAME_GAP_S, every_nonref)
    return planner if planner.enabled else None


def decoded_frames(container, stream, planner: Planner | None = None) -> Iterator:
    """Frames in presentation order. A packet the decoder rejects is yielded as its exception and skipped, as
    FFmpeg's own tools do; a demuxer error (a truncated file) ends the stream like an end of file; running out of
    memory (the decoder process's limit) fails the video. With a `planner` (sparse decoding), the packets it leaves
    out are never decoded, and each comes as its `SkippedFrame` in its place in presentation order."""
    packets = sparse.planned_packets(container, stream, planner) if planner else container.demux(stream)
    left_out: list[SkippedFrame] = []  # a heap, by presentation timestamp

    def in_order(frames):
        for frame in frames:
            while left_out and (frame.pts is None or left_out[0].pts < frame.pts):
                yield heapq.heappop(left_out)
            yield frame

    while True:
        try:
            packet = next(packets)
        except StopIteration:  # the demuxer's last, empty packet has flushed the decoder
            while left_out:
                yield heapq.heappop(left_out)
            return
        except av.error.FFmpegError:
            packet = None
        if isinstance(packet, SkippedFrame):
            heapq.heappush(left_out, packet)
            continue
        try:
            if packet is None:
                yield from in_order(stream.decode(None))  # flush what the decoder still holds
                while left_out:
                    yield heapq.heappop(left_out)
                return
            yield from in_order(packet.decode())
        except av.error.MemoryError:
            raise  # out of memory is not a bad packet: the video fails (and says so)
        except av.error.FFmpegError as exc:
            yield exc


def video_error(uri: str, stage: str, exc: Exception) -> VideoError:
    if isinstance(exc, (NoVideoError, FrameTooLargeError)):
        message = str(exc)
    elif isinstance(exc, av.error.InvalidDataError) and stage == "open":
        message = "not a readable video file (FFmpeg found no known container format in it)"
    elif isinstance(exc, av.error.EOFError) and stage == "open":
        message = "the file ends inside its headers (truncated or damaged)"
    elif isinstance(exc, (FileNotFoundError, av.error.FileNotFoundError)) or _storage_status(exc) == 404:
        message = "file not found"
    elif isinstance(exc, (PermissionError, av.error.PermissionError)) or _storage_status(exc) == 403:
        message = "permission denied"
    elif isinstance(exc, MemoryError):  # FFmpeg's ENOMEM too (av.error.MemoryError is one)
        message = "ran out of memory while decoding (the decoder process may use at most --decode_memory_mb)"
    else:
        message = str(exc) or type(exc).__name__
    return VideoError(video_uri=uri, stage=stage, error_class=type(exc).__name__, message=message)


def _storage_status(exc: Exception):
    """The HTTP status of a cloud storage client's error (gs:// objects opened through Beam's file systems)."""
    try:
        from google.api_core.exceptions import GoogleAPICallError
    except ImportError:
        return None
    return exc.code if isinstance(exc, GoogleAPICallError) else None


VIDEO_INFO = "video_info"  # DecodeClips' output tags
VIDEO_ERROR = "video_error"
THUMBNAIL = "thumbnail"


class DecodeClips(beam.DoFn):
    """VideoFile -> (ClipKey, uint8 [T, H, W, 3]) per clip, the file's Thumbnails (tag "thumbnail", with
    `options.thumbnails_every_s`), then one VideoInfo (tag "video_info") or one VideoError (tag "video_error"),
    decoded in this instance's decoder process."""

    def __init__(self, spec: ClipSpec, limits: DecodeLimits = DecodeLimits(), options: DecodeOptions = DecodeOptions()):
        self._spec = spec
        self._limits = limits
        self._options = options
        self._videos_ok = Metrics.counter(self.__class__, "videos_ok")
        self._videos_failed = Metrics.counter(self.__class__, "videos_failed")
        self._decoder_restarts = Metrics.counter(self.__class__, "decoder_restarts")
        self._clips_emitted = Metrics.counter(self.__class__, "clips_emitted")

    def setup(self):
        self._decoder = DecoderProcess(self._spec, self._limits, self._options)
        self._decoder.start()

    def process(self, video: VideoFile):
        restarts = self._decoder.restarts
        for item in self._decoder.decode(video.uri):
            if isinstance(item, VideoInfo):
                self._videos_ok.inc()
                yield beam.pvalue.TaggedOutput(VIDEO_INFO, item)
            elif isinstance(item, VideoError):
                self._videos_failed.inc()
                yield beam.pvalue.TaggedOutput(VIDEO_ERROR, item)
            elif isinstance(item, Thumbnail):
                yield beam.pvalue.TaggedOutput(THUMBNAIL, item)
            else:
                self._clips_emitted.inc()
                yield item
        self._decoder_restarts.inc(self._decoder.restarts - restarts)

    def teardown(self):
        self._decoder.close()
