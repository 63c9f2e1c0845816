"""The MoViNet variants as data, and the one rule for how many frames a clip holds."""

from __future__ import annotations

import math
from typing import NamedTuple


class VariantSpec(NamedTuple):
    """What a MoViNet variant expects: frames per second and square input resolution (Model Garden's eval setup),
    and the size of its pooled features, the embedding (Model Garden's `HeadSpec.project_filters`)."""

    fps: float
    resolution: int
    embedding_dim: int


MOVINET_VARIANTS = {
    "a0": VariantSpec(fps=5, resolution=172, embedding_dim=480),
    "a1": VariantSpec(fps=5, resolution=172, embedding_dim=600),
    "a2": VariantSpec(fps=5, resolution=224, embedding_dim=640),
    "a3": VariantSpec(fps=12, resolution=256, embedding_dim=744),
    "a4": VariantSpec(fps=8, resolution=290, embedding_dim=856),
    "a5": VariantSpec(fps=12, resolution=320, embedding_dim=992),
}
MODES = ("base", "stream")  # the network: 3D convolutions over a whole clip, or causal with states carried

# The published models were trained and evaluated on 10-second Kinetics clips.
PUBLISHED_CLIP_SECONDS = 10.0


def clip_frame_count(clip_seconds: float, fps: float) -> int:
    """Frames in a clip of `clip_seconds` at `fps`, rounded to the nearest whole frame (halves up; at least one)."""
    return max(1, int(math.floor(clip_seconds * fps + 0.5)))


def published_clip_frames(fps: float) -> int:
    """The clip length of a model that does not say its own: the published models' 10 seconds."""
    return clip_frame_count(PUBLISHED_CLIP_SECONDS, fps)
