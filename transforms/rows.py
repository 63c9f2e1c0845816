"""Step 4 of a video's path: turn scored clips, video facts and errors into rows of the tables in `schema.py`.

Each builder emits exactly its schema's field names, in order (tests hold them to it). A video's own `top_k` (and
`embedding`) is the average of its clips' probabilities (and embeddings) weighted by clip duration, so a short tail
clip counts for what it covers; a shot's is the average of the clips that show it, weighted by the seconds they show
it (both `ClipAverage`). A label's segments are the runs of consecutive clips where it scores at least --min_score
(`LabelSegments`).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import NamedTuple

import apache_beam as beam
import numpy as np

from vidlabel.movinet.features import l2_normalised
from vidlabel.transforms.types import ClipKey, ClipScores, ShotSpan, Thumbnail, VideoError, VideoFile, VideoInfo


class RowContext(NamedTuple):
    """What every row of one run shares."""

    labels: tuple[str, ...]
    top_k: int
    model: str
    run_id: str
    all_scores: bool
    min_score: float = 0.3


def top_k_indices(probabilities: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k most probable classes, best first (ties keep classifier order)."""
    return np.argsort(-probabilities, kind="stable")[:k]


def top_k(probabilities: np.ndarray, labels: Sequence[str], k: int) -> list[dict]:
    """The k most probable classes as the tables hold them: [{"label", "score"}], best first."""
    return [{"label": labels[i], "score": float(probabilities[i])} for i in top_k_indices(probabilities, k)]


def prediction_row(key: ClipKey, scores: ClipScores, ctx: RowContext) -> dict:
    row = {
        "video_uri": key.video_uri,
        "clip_index": key.clip_index,
        "start_s": key.start_s,
        "end_s": key.end_s,
        "start_frame": key.start_frame,
        "end_frame": key.end_frame,
        "top_k": top_k(scores.probabilities, ctx.labels, ctx.top_k),
        "scores": scores.probabilities.astype(np.float32).tolist() if ctx.all_scores else None,
        "embedding": embedding_list(scores.embedding),
        "model": ctx.model,
        "run_id": ctx.run_id,
    }
    return row


def embedding_list(embedding: np.ndarray | None) -> list[float] | None:
    return None if embedding is None else np.asarray(embedding, np.float32).tolist()


class Average(NamedTuple):
    """A video's or shot's summary of its clips (`ClipAverage`)."""

    top_k: list[dict]
    embedding: list[float] | None  # None without --embeddings


class ClipAverage(beam.CombineFn):
    """(weight in seconds, ClipScores) per clip -> `Average`: the k best classes of the clips' weighted average
    probabilities and, with --embeddings, their weighted average embedding, normalised: a video's (clip durations
    as weights) or a shot's (the seconds each clip shows of it).

    As a CombineFn it is pre-combined where the clips are scored, and it ends in the k classes rather than the
    average: what crosses the shuffle is one partial sum per video or shot, sent as float32 (`compact`), and what is
    joined into the table is k (label, score) pairs and one embedding. Sending full class averages through two
    shuffles instead made memory grow with the number of files.
    """

    def __init__(self, labels: Sequence[str], k: int):
        self._labels, self._k = labels, k

    def create_accumulator(self):
        return 0.0, None, None  # total weight, weighted sums of the probabilities and of the embeddings

    def add_input(self, acc, weighted):
        weight, scores = weighted
        contribution = (weight, np.asarray(scores.probabilities, np.float64) * weight, None)
        if scores.embedding is not None:
            contribution = (*contribution[:2], np.asarray(scores.embedding, np.float64) * weight)
        return self.merge_accumulators([acc, contribution])

    def merge_accumulators(self, accumulators):
        total, sums = 0.0, [None, None]
        for weight, *partial in accumulators:
            total += weight
            for i, part in enumerate(partial):
                if part is not None:
                    sums[i] = part.astype(np.float64) if sums[i] is None else sums[i] + part
        return total, *sums

    def compact(self, acc):
        """Half the bytes on the wire; the sums stay float64 where they are added to (scores are float32 anyway)."""
        total, *sums = acc
        return total, *(None if part is None else part.astype(np.float32) for part in sums)

    def extract_output(self, acc):
        total, probability_sum, embedding_sum = acc
        if probability_sum is None:
            return None
        mean = probability_sum / total if total > 0 else probability_sum
        embedding = None if embedding_sum is None else embedding_list(l2_normalised(embedding_sum))
        return Average(top_k(mean, self._labels, self._k), embedding)


def video_row(
    file: VideoFile, info: VideoInfo | None, error: VideoError | None, average: Average | None, ctx: RowContext
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
        "top_k": average.top_k if error is None and average else None,
        "embedding": average.embedding if error is None and average else None,
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


def thumbnail_row(thumbnail: Thumbnail, ctx: RowContext) -> dict:
    row = {**thumbnail._asdict(), "run_id": ctx.run_id}
    return row


def shot_row(uri: str, shot: ShotSpan, average: Average | None, ctx: RowContext) -> dict:
    """A shot's row; `average` is None for a shot no sampled frame shows (shorter than one model frame)."""
    row = {
        "video_uri": uri,
        "shot_index": shot.shot_index,
        "start_s": shot.start_s,
        "end_s": shot.end_s,
        "start_frame": shot.start_frame,
        "end_frame": shot.end_frame,
        "top_k": average.top_k if average else None,
        "embedding": average.embedding if average else None,
        "model": ctx.model,
        "run_id": ctx.run_id,
    }
    return row


class ConfidentClip(NamedTuple):
    """What the label segments need of a scored clip: its time and the labels at or above --min_score."""

    start_s: float
    end_s: float
    labels: np.ndarray  # class indices, int32
    scores: np.ndarray  # their scores, float32


class LabelSegments(beam.CombineFn):
    """(start_s, end_s, probabilities) per clip of one video -> its label segments (`Segment`), in time order.

    Only the labels at or above `min_score` of each clip are kept (`ConfidentClip`: a few per clip, taken from the
    full probability vector, so a label outside the clip's top k counts), so what crosses the shuffle per video is
    a few numbers per clip, not its 600 probabilities; the clips are put in time order once they are all there.
    """

    def __init__(self, min_score: float):
        self._min_score = min_score

    def create_accumulator(self):
        return []

    def add_input(self, acc, clip):
        start_s, end_s, probabilities = clip
        labels = np.flatnonzero(np.asarray(probabilities) >= self._min_score).astype(np.int32)
        acc.append(ConfidentClip(start_s, end_s, labels, np.asarray(probabilities)[labels].astype(np.float32)))
        return acc

    def merge_accumulators(self, accumulators):
        return [clip for acc in accumulators for clip in acc]

    def extract_output(self, acc):
        return label_segments(acc)


class Segment(NamedTuple):
    label: int  # class index
    start_s: float
    end_s: float
    confidence: float  # the label's score averaged over the clips, weighted by their durations
    num_clips: int


# Clips whose times are this close count as touching (times are tick counts divided by the rate).
_TOUCH_S = 1e-6


def label_segments(clips: list[ConfidentClip]) -> list[Segment]:
    """Each label's runs of consecutive clips (in time order) that hold it and touch or overlap: a clip in between
    that scores it below the threshold, or a gap between clips, ends a run."""
    segments: list[Segment] = []
    runs: dict[int, list] = {}  # label -> [start_s, end_s, weighted score sum, weight, clips]

    def close(label):
        start_s, end_s, weighted, weight, count = runs.pop(label)
        segments.append(Segment(label, start_s, end_s, weighted / weight, count))

    for clip in sorted(clips, key=lambda c: (c.start_s, c.end_s)):
        held = dict(zip(clip.labels.tolist(), clip.scores.tolist()))
        for label in [label for label in runs if label not in held or clip.start_s > runs[label][1] + _TOUCH_S]:
            close(label)
        weight = max(clip.end_s - clip.start_s, 1e-9)
        for label, score in held.items():
            run = runs.setdefault(label, [clip.start_s, clip.end_s, 0.0, 0.0, 0])
            run[1] = max(run[1], clip.end_s)
            run[2] += score * weight
            run[3] += weight
            run[4] += 1
    for label in list(runs):
        close(label)
    return sorted(segments, key=lambda s: (s.start_s, s.label))


def segment_row(uri: str, segment: Segment, ctx: RowContext) -> dict:
    row = {
        "video_uri": uri,
        "label": ctx.labels[segment.label],
        "start_s": segment.start_s,
        "end_s": segment.end_s,
        "confidence": segment.confidence,
        "num_clips": segment.num_clips,
        "model": ctx.model,
        "run_id": ctx.run_id,
    }
    return row


def frame_label_rows(key: ClipKey, scores: ClipScores, ctx: RowContext) -> list[dict]:
    """The per-second rows a clip gives with --frame_labels (none without it)."""
    return [
        {
            "video_uri": key.video_uri,
            "time_s": time_s,
            "top_k": top_k(probabilities, ctx.labels, ctx.top_k),
            "model": ctx.model,
            "run_id": ctx.run_id,
        }
        for time_s, probabilities in scores.per_second
    ]
