"""Step 4 of a video's path: turn scored clips, video facts and errors into rows of the tables in `schema.py`.

Each builder emits exactly its schema's field names, in order (tests hold them to it). A video's own `top_k` is the
average of its clips' probabilities weighted by clip duration (`VideoTopK`), so a short tail clip counts for what it
covers.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import NamedTuple

import apache_beam as beam
import numpy as np

from vidlabel.transforms.types import ClipKey, VideoError, VideoFile, VideoInfo


class RowContext(NamedTuple):
    """What every row of one run shares."""

    labels: tuple[str, ...]
    top_k: int
    model: str
    run_id: str
    all_scores: bool


def top_k_indices(probabilities: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k most probable classes, best first (ties keep classifier order)."""
    return np.argsort(-probabilities, kind="stable")[:k]


def top_k(probabilities: np.ndarray, labels: Sequence[str], k: int) -> list[dict]:
    """The k most probable classes as the tables hold them: [{"label", "score"}], best first."""
    return [{"label": labels[i], "score": float(probabilities[i])} for i in top_k_indices(probabilities, k)]


def prediction_row(key: ClipKey, probabilities: np.ndarray, ctx: RowContext) -> dict:
    row = {
        **key._asdict(),
        "top_k": top_k(probabilities, ctx.labels, ctx.top_k),
        "scores": probabilities.astype(np.float32).tolist() if ctx.all_scores else None,
        "model": ctx.model,
        "run_id": ctx.run_id,
    }
    return row


class VideoTopK(beam.CombineFn):
    """A video's `top_k`: the k best classes of its clip probabilities averaged with clip durations as weights.

    As a CombineFn it is pre-combined where the clips are scored, and it ends in the k classes rather than the
    average: what crosses the shuffle is one partial sum per video, sent as float32 (`compact`), and what is joined
    into the videos table is k (label, score) pairs. Sending full class averages through two shuffles instead made
    memory grow with the number of files.
    """

    def __init__(self, labels: Sequence[str], k: int):
        self._labels, self._k = labels, k

    def create_accumulator(self):
        return 0.0, None

    def add_input(self, acc, weighted):
        total, weighted_sum = acc
        weight, probabilities = weighted
        contribution = np.asarray(probabilities, dtype=np.float64) * weight
        return total + weight, contribution if weighted_sum is None else weighted_sum + contribution

    def merge_accumulators(self, accumulators):
        total, weighted_sum = 0.0, None
        for t, s in accumulators:
            total += t
            if s is not None:
                weighted_sum = s.astype(np.float64) if weighted_sum is None else weighted_sum + s
        return total, weighted_sum

    def compact(self, acc):
        """Half the bytes on the wire; the sum stays float64 where it is added to (scores are float32 anyway)."""
        total, weighted_sum = acc
        return total, None if weighted_sum is None else weighted_sum.astype(np.float32)

    def extract_output(self, acc):
        total, weighted_sum = acc
        if weighted_sum is None:
            return None
        return top_k(weighted_sum / total if total > 0 else weighted_sum, self._labels, self._k)


def video_row(
    file: VideoFile, info: VideoInfo | None, error: VideoError | None, best: list[dict] | None, ctx: RowContext
) -> dict:
    """The one row a file gets in the videos table, ok or not."""
    row = {
        "video_uri": file.uri,
        "status": "ok" if error is None else "error",
        "error": None if error is None else error.message,
        "duration_s": info.duration_s if info else None,
        "source_fps": info.source_fps if info else None,
        "width": info.width if info else None,
        "height": info.height if info else None,
        "rotation": info.rotation if info else None,
        "codec": info.codec if info else None,
        "pix_fmt": info.pix_fmt if info else None,
        "bit_depth": info.bit_depth if info else None,
        "stream_index": info.stream_index if info else None,
        "num_frames": info.num_frames if info else None,
        "num_clips": info.num_clips if info else 0,
        "top_k": best if error is None else None,
        "file_size": file.size,
        "file_modified": to_timestamp(file.modified_s),
        "model": ctx.model,
        "run_id": ctx.run_id,
    }
    return row


def to_timestamp(seconds: float | None) -> datetime.datetime | None:
    """Seconds since the epoch as the table's UTC timestamp, at the table's microsecond precision."""
    if seconds is None:
        return None
    return EPOCH + datetime.timedelta(microseconds=round(seconds * 1e6))


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def error_row(error: VideoError, ctx: RowContext) -> dict:
    row = {**error._asdict(), "run_id": ctx.run_id}
    return row
