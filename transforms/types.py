"""The typed elements that flow through the pipeline, and the MoViNet variants as data.

One video's path: a URI string (listing) -> (ClipKey, float32 frames [T, H, W, 3] in [0, 1]) per clip plus exactly
one `VideoInfo` or `VideoError` (decoding) -> class probabilities per clip (inference) -> rows (Parquet).
"""
from __future__ import annotations

from typing import NamedTuple, Optional



class VariantSpec(NamedTuple):
    """What a MoViNet variant expects: frames per second and square input resolution (Model Garden's eval setup)."""

    fps: float
    resolution: int


MOVINET_VARIANTS = {
    "a0": VariantSpec(fps=5, resolution=172),
    "a1": VariantSpec(fps=5, resolution=172),
    "a2": VariantSpec(fps=5, resolution=224),
    "a3": VariantSpec(fps=12, resolution=256),
    "a4": VariantSpec(fps=8, resolution=290),
    "a5": VariantSpec(fps=12, resolution=320),
}

# The published models were trained and evaluated on 10-second Kinetics clips.
PUBLISHED_CLIP_SECONDS = 10.0

RESIZE_MODES = ("crop", "stretch")


class ClipSpec(NamedTuple):
    """How a video is cut for the model; built once at launch from the model metadata and flags."""

    fps: float  # model frames per second: source frames are resampled to this rate by presentation time
    resolution: int  # square side in pixels fed to the model
    clip_frames: int  # sampled frames per clip
    stride_frames: int  # sampled frames between clip starts (== clip_frames: no overlap)
    resize: str = "crop"  # "crop": short side to `resolution` then centre crop; "stretch": plain resize


class ClipKey(NamedTuple):
    """Where a clip sits in its video. Frames are source frame indices (0-based, inclusive)."""

    video_uri: str
    clip_index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int


class VideoInfo(NamedTuple):
    """Facts about a video that decoded; emitted once per video after its last clip."""

    video_uri: str
    duration_s: float
    source_fps: Optional[float]
    width: int  # displayed (after rotation)
    height: int
    rotation: int  # degrees the frames were turned to display upright
    codec: str
    num_frames: int  # source frames decoded
    num_clips: int


class VideoError(NamedTuple):
    """Why a video produced no labels; exactly one per failed video."""

    video_uri: str
    stage: str  # "open", "decode"
    error_class: str
    message: str
