"""The typed elements that flow through the pipeline.

One video's path: a `VideoFile` (listing) -> (ClipKey, uint8 RGB frames [T, H, W, 3]) per clip, its `Thumbnail`s,
and exactly one `VideoInfo` or `VideoError` (decoding) -> class probabilities per clip (inference) -> rows
(Parquet).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

RESIZE_MODES = ("crop", "stretch")
WINDOW_MODES = ("fixed", "shots")


class ClipSpec(NamedTuple):
    """How a video is cut for the model; built once at launch from the model metadata and flags."""

    fps: float  # model frames per second: source frames are resampled to this rate by presentation time
    resolution: int  # square side in pixels fed to the model
    clip_frames: int  # sampled frames per clip
    stride_frames: int  # sampled frames between clip starts (== clip_frames: no overlap)
    resize: str = "crop"  # "crop": short side to `resolution` then centre crop; "stretch": plain resize
    windows: str = "fixed"  # "fixed": clips run across cuts; "shots": a clip ends where its shot ends


class DecodeLimits(NamedTuple):
    """What one video may cost its decoder process before it is stopped and becomes an error row."""

    timeout_s: float = 300.0  # longest wait for the decoder's next clip (a hang, an endless loop, a blocking read)
    memory_mb: int = 2048  # address space one video may add to its decoder process (frames, FFmpeg's threads)
    max_frame_pixels: int = 7680 * 4320  # 8K UHD: larger declared or decoded frames are refused before allocation


class DecodeOptions(NamedTuple):
    """How the decoding pass runs, apart from the clips it cuts (ClipSpec) and what a video may cost (DecodeLimits)."""

    # --sparse_decode: leave undecoded the non-reference frames no model tick shows (`sparse.py`); the clips are
    # the same bit for bit, the shot detector and the thumbnails see only the frames decoded.
    sparse: bool = False
    # --fast_decode: leave undecoded every non-reference frame, even one a model tick shows (that tick takes the
    # frame decoded before it, a frame or two earlier), and skip the decoder's loop filter: clips may differ a little
    # from decoding everything.
    fast: bool = False
    # --thumbnails: seconds between a shot's thumbnails (`thumbnails.py`); None: no thumbnails.
    thumbnails_every_s: float | None = None

    @property
    def skip(self) -> str:
        """Which frames decoding leaves out: "off" (none), "exact" (--sparse_decode) or "fast" (--fast_decode)."""
        return "fast" if self.fast else "exact" if self.sparse else "off"


class ClipKey(NamedTuple):
    """Where a clip sits in its video. Frames are source frame indices (0-based, inclusive)."""

    video_uri: str
    clip_index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int
    # (shot index, seconds of the clip that show it): what the clip adds to each shot's top k.
    shot_seconds: tuple[tuple[int, float], ...] = ()
    # (frame offset in the clip, its time in the video) of the frames at whole seconds that no earlier clip holds:
    # where a stream model's prediction becomes a per-second label (--frame_labels).
    second_marks: tuple[tuple[int, float], ...] = ()


class ShotSpan(NamedTuple):
    """One shot of a video: from one cut (or the first frame) to the next (or the end). Frames are source frame
    indices (0-based, inclusive); times are seconds from the first frame."""

    shot_index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int


class ClipScores(NamedTuple):
    """What the model says of one clip (`inference.MovinetHandler`)."""

    probabilities: np.ndarray  # [num_classes], after the clip's last frame
    # (time in the video, probabilities) at the clip's `second_marks`: stream models with --frame_labels only.
    per_second: tuple[tuple[float, np.ndarray], ...] = ()
    # --embeddings: the backbone's pooled features after the clip's last frame, L2-normalised, float32 [dim].
    embedding: np.ndarray | None = None


class VideoFile(NamedTuple):
    """A listed video and the version of it that is labelled: size and modification time (a GCS object's update
    time) are what `--incremental` compares to tell an unchanged file from a new or changed one."""

    uri: str
    size: int | None  # None: the file vanished between listing and labelling
    modified_s: float | None  # seconds since the epoch


class VideoInfo(NamedTuple):
    """Facts about a video that decoded; emitted once per video after its last clip."""

    video_uri: str
    duration_s: float
    source_fps: float | None
    width: int  # displayed (after rotation)
    height: int
    rotation: int  # degrees the frames were turned to display upright
    codec: str  # the codec's name ('h264', 'av1'), not the decoder's ('libdav1d')
    pix_fmt: str  # of the decoded frames, as FFmpeg delivers them ('yuv420p', 'yuv420p10le')
    bit_depth: int  # bits per sample of the decoded frames (8, or 10 for 10-bit HDR video)
    stream_index: int  # the video stream decoded, among all the file's streams as ffprobe numbers them
    num_frames: int  # source frames decoded
    num_clips: int
    shots: tuple[ShotSpan, ...] = ()


class Thumbnail(NamedTuple):
    """One small JPEG of a video's frame as displayed (upright), taken in the decoding pass (`thumbnails.py`)."""

    video_uri: str
    time_s: float  # the frame's presentation time, from the video's first frame
    width: int
    height: int
    jpeg: bytes


class VideoError(NamedTuple):
    """Why a video produced no labels; exactly one per failed video."""

    video_uri: str
    stage: str  # "open", "decode", "decoder" (the decoder process crashed, hung or ran out of memory)
    error_class: str
    message: str
