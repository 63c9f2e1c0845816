"""Rows as the tables hold them: top-k order, exact schema field names, and a video's duration-weighted top-k."""

import datetime

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from vidlabel.transforms import rows, schema
from vidlabel.transforms.types import ClipKey, ClipScores, ShotSpan, VideoError, VideoFile, VideoInfo

LABELS = ("run", "jump", "swim", "sit")
CTX = rows.RowContext(labels=LABELS, top_k=2, model="a0-test", run_id="20260101T000000Z-abcd", all_scores=False)
KEY = ClipKey("/v/a.mp4", clip_index=1, start_s=2.0, end_s=4.0, start_frame=50, end_frame=99)
FILE = VideoFile("/v/a.mp4", size=1234, modified_s=1_700_000_000.25)
INFO = VideoInfo("/v/a.mp4", 4.5, 25.0, 320, 240, 0, "h264", "yuv420p", 8, 0, 112, 3)
ERROR = VideoError("/v/b.mp4", stage="open", error_class="InvalidDataError", message="not a video")


def test_top_k_is_best_first_and_ties_keep_classifier_order():
    probabilities = np.array([0.1, 0.3, 0.3, 0.3], dtype=np.float32)
    assert [c["label"] for c in rows.top_k(probabilities, LABELS, 3)] == ["jump", "swim", "sit"]
    best = rows.top_k(np.array([0.1, 0.2, 0.6, 0.1]), LABELS, 2)
    assert best == [{"label": "swim", "score": pytest.approx(0.6)}, {"label": "jump", "score": pytest.approx(0.2)}]
    assert len(rows.top_k(probabilities, LABELS, 10)) == len(LABELS)  # k beyond the classes gives them all


def round_trip(rows_, table, tmp_path):
    """Writes rows with the table's schema to a real Parquet file and reads them back."""
    path = tmp_path / f"{table}.parquet"
    pq.write_table(pa.Table.from_pylist(rows_, schema=schema.TABLES[table]), path)
    return pq.read_table(path).to_pylist()


def test_prediction_row_has_exactly_the_schema_fields_and_scores_only_with_all_scores(tmp_path):
    probabilities = np.array([0.1, 0.2, 0.6, 0.1], dtype=np.float32)
    row = rows.prediction_row(KEY, ClipScores(probabilities), CTX)
    assert list(row) == schema.PREDICTIONS.names
    assert row["scores"] is None and row["embedding"] is None and [c["label"] for c in row["top_k"]] == ["swim", "jump"]
    embedding = np.array([0.6, 0.0, -0.8], dtype=np.float32)
    full = rows.prediction_row(KEY, ClipScores(probabilities, embedding=embedding), CTX._replace(all_scores=True))
    [back] = round_trip([full], "predictions", tmp_path)
    assert back["scores"] == probabilities.tolist()  # float32 in, float32 column: the same numbers
    assert back["embedding"] == embedding.tolist()
    assert (back["video_uri"], back["clip_index"], back["end_frame"], back["run_id"]) == ("/v/a.mp4", 1, 99, CTX.run_id)


def test_video_rows_ok_and_error_have_exactly_the_schema_fields(tmp_path):
    best = [{"label": "run", "score": 0.5}]
    ok = rows.video_row(FILE, INFO, None, rows.Average(best, [1.0, 0.0]), CTX)
    failed = rows.video_row(VideoFile("/v/b.mp4", 0, None), None, ERROR, None, CTX)
    assert list(ok) == list(failed) == schema.VIDEOS.names
    back_ok, back_failed = round_trip([ok, failed], "videos", tmp_path)
    assert back_ok["status"] == "ok" and back_ok["error"] is None and back_ok["top_k"] == best
    assert back_ok["embedding"] == [1.0, 0.0] and back_failed["embedding"] is None
    assert (back_ok["codec"], back_ok["num_clips"], back_ok["file_size"]) == ("h264", 3, 1234)
    assert back_ok["file_modified"] == datetime.datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=datetime.timezone.utc)
    assert back_failed["status"] == "error" and back_failed["error"] == "not a video"
    assert back_failed["num_clips"] == 0 and back_failed["top_k"] is None and back_failed["width"] is None


def test_error_row_has_exactly_the_schema_fields(tmp_path):
    row = rows.error_row(ERROR, CTX)
    assert list(row) == schema.ERRORS.names
    assert round_trip([row], "errors", tmp_path) == [{**ERROR._asdict(), "run_id": CTX.run_id}]


def test_timestamps_are_utc_at_microsecond_precision():
    assert rows.to_timestamp(None) is None
    assert rows.to_timestamp(0.0000014) == rows.EPOCH + datetime.timedelta(microseconds=1)
    assert rows.to_timestamp(86400.5).isoformat() == "1970-01-02T00:00:00.500000+00:00"


def test_video_top_k_and_embedding_weight_clips_by_duration_on_a_runner():
    """A 4 s clip certain of "run" and a 1 s tail clip certain of "sit" average to run 0.8, sit 0.2: the tail
    counts for the second it covers, not for half the video. Their embeddings average the same way, normalised."""

    def clip(probabilities, embedding=None):
        return ClipScores(np.array(probabilities, np.float32), embedding=embedding)

    x, y = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    clips = [
        ("a", (4.0, clip([1.0, 0.0, 0.0, 0.0], 3 * x))),  # unnormalised on purpose: the mean is normalised anyway
        ("a", (1.0, clip([0.0, 0.0, 0.0, 1.0], 12 * y))),
        ("b", (2.0, clip([0.0, 0.5, 0.5, 0.0]))),
    ]

    def check(found):
        found = dict(found)
        assert set(found) == {"a", "b"}
        assert [(c["label"], round(c["score"], 6)) for c in found["a"].top_k] == [("run", 0.8), ("sit", 0.2)]
        assert found["a"].embedding == pytest.approx([0.7071068, 0.7071068])  # 4 x 3 against 1 x 12
        assert [(c["label"], round(c["score"], 6)) for c in found["b"].top_k] == [("jump", 0.5), ("swim", 0.5)]
        assert found["b"].embedding is None

    with TestPipeline(options=PipelineOptions(runner="FnApiRunner")) as p:
        top = p | beam.Create(clips) | beam.CombinePerKey(rows.ClipAverage(LABELS, 2))
        assert_that(top, check)


def test_video_average_of_a_video_without_clips_is_none():
    combine = rows.ClipAverage(LABELS, 2)
    assert combine.extract_output(combine.merge_accumulators([combine.create_accumulator()])) is None


def test_shot_and_frame_label_rows_have_exactly_the_schema_fields(tmp_path):
    shot = ShotSpan(shot_index=2, start_s=4.0, end_s=7.5, start_frame=100, end_frame=187)
    best = [{"label": "swim", "score": 0.75}]  # exact in float32
    [back] = round_trip([rows.shot_row("/v/a.mp4", shot, rows.Average(best, None), CTX)], "shots", tmp_path)
    assert list(back) == schema.SHOTS.names
    assert (back["shot_index"], back["start_s"], back["end_frame"], back["top_k"]) == (2, 4.0, 187, best)
    assert back["embedding"] is None
    scores = ClipScores(np.array([0.1, 0.2, 0.6, 0.1]), per_second=((3.0, np.array([0.7, 0.1, 0.1, 0.1])),))
    [frame] = rows.frame_label_rows(KEY, scores, CTX)
    [back] = round_trip([frame], "frame_labels", tmp_path)
    assert list(back) == schema.FRAME_LABELS.names
    assert back["time_s"] == 3.0 and [c["label"] for c in back["top_k"]] == ["run", "jump"]
    assert rows.frame_label_rows(KEY, ClipScores(np.array([0.1, 0.2, 0.6, 0.1])), CTX) == []


def scored(start_s, end_s, probabilities):
    return start_s, end_s, np.array(probabilities, dtype=np.float32)


def segments_of(clips, min_score=0.3):
    """LabelSegments as the pipeline runs it: clips added in any order, across partial accumulators."""
    combine = rows.LabelSegments(min_score)
    halves = [combine.create_accumulator(), combine.create_accumulator()]
    for i, clip in enumerate(reversed(clips)):
        combine.add_input(halves[i % 2], clip)
    found = combine.extract_output(combine.merge_accumulators(halves))
    return [(LABELS[s.label], s.start_s, s.end_s, round(s.confidence, 4), s.num_clips) for s in found]


def test_segments_are_runs_of_touching_clips_at_or_above_the_threshold():
    clips = [
        scored(0, 2, [0.8, 0.1, 0.05, 0.05]),
        scored(2, 4, [0.6, 0.3, 0.05, 0.05]),  # jump at exactly 0.3 counts
        scored(4, 6, [0.1, 0.8, 0.05, 0.05]),
        scored(6, 7, [0.9, 0.05, 0.03, 0.02]),  # a 1-s tail clip weighs half
    ]
    assert segments_of(clips) == [
        ("run", 0, 4, 0.7, 2),
        ("jump", 2, 6, 0.55, 2),
        ("run", 6, 7, 0.9, 1),
    ]
    # A label outside a clip's top k still has a score: at k=2 'swim' is never in the top k, yet 0.3 makes a segment.
    assert ("swim", 0, 2, 0.3, 1) in segments_of([scored(0, 2, [0.4, 0.3, 0.3, 0.0])])


def test_segments_break_at_gaps_and_at_a_lower_overlapping_clip():
    gap = [scored(0, 2, [0.9, 0, 0, 0.1]), scored(4, 6, [0.9, 0, 0, 0.1])]  # stride longer than the clip
    assert [s[:3] for s in segments_of(gap)] == [("run", 0, 2), ("run", 4, 6)]
    overlapping = [scored(0, 4, [0.9, 0, 0, 0.1]), scored(2, 6, [0.1, 0, 0, 0.9]), scored(4, 8, [0.9, 0, 0, 0.1])]
    assert [s[:3] for s in segments_of(overlapping) if s[0] == "run"] == [("run", 0, 4), ("run", 4, 8)]
    assert segments_of([scored(0, 2, [0.25, 0.25, 0.25, 0.25])]) == []
