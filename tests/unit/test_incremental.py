"""--incremental: which files are labelled again, and the published rows kept, upgraded to this schema."""

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from vidlabel.transforms import incremental, schema
from vidlabel.transforms.incremental import Published
from vidlabel.transforms.rows import to_timestamp
from vidlabel.transforms.storage import write_json_lines
from vidlabel.transforms.types import VideoFile

MODIFIED = 1_700_000_000.123456
SAME = Published(size=10, modified=to_timestamp(MODIFIED), failed=False)


def test_new_changed_and_unknown_files_need_labelling_unchanged_ones_do_not():
    file = VideoFile("/v/a.mp4", 10, MODIFIED)
    assert not incremental.needs_labelling(file, SAME, retry_errors=False)
    assert incremental.needs_labelling(file, None, retry_errors=False)  # new
    assert incremental.needs_labelling(file._replace(size=11), SAME, retry_errors=False)
    assert incremental.needs_labelling(file._replace(modified_s=MODIFIED + 1e-6), SAME, retry_errors=False)
    assert incremental.needs_labelling(file._replace(size=None), SAME, retry_errors=False)  # vanished or not looked up
    # The table holds microseconds: a difference below one is the same version.
    assert not incremental.needs_labelling(file._replace(modified_s=MODIFIED + 1e-8), SAME, retry_errors=False)


def test_published_errors_are_labelled_again_only_with_retry_errors():
    failed = incremental.published({"file_size": 10, "file_modified": to_timestamp(MODIFIED), "status": "error"})
    assert failed == SAME._replace(failed=True)
    file = VideoFile("/v/a.mp4", 10, MODIFIED)
    assert not incremental.needs_labelling(file, failed, retry_errors=False)
    assert incremental.needs_labelling(file, failed, retry_errors=True)


def test_to_label_keeps_the_listing_order():
    files = [VideoFile(f"/v/{n}.mp4", 10, MODIFIED) for n in "dcba"]
    before = {"/v/c.mp4": SAME, "/v/a.mp4": SAME}
    assert [f.uri for f in incremental.to_label(files, before, retry_errors=False)] == ["/v/d.mp4", "/v/b.mp4"]


def old_video_row(uri, codec):
    """A videos row as vidlabel 0.2 wrote it: no stream_index, pix_fmt or bit_depth, the decoder's name as codec."""
    row = {name: None for name in schema.VIDEOS.names if name not in schema.VIDEO_COLUMNS_ADDED}
    return {**row, "video_uri": uri, "status": "ok", "codec": codec, "num_clips": 1, "run_id": "old"}


def test_upgraded_rows_have_this_schema_nulls_for_new_columns_and_codec_names():
    row = incremental.upgraded({**old_video_row("/v/a.mp4", "libdav1d"), "gone_column": 1}, "videos")
    assert list(row) == schema.VIDEOS.names
    assert row["codec"] == "av1" and row["video_uri"] == "/v/a.mp4" and row["run_id"] == "old"
    assert all(row[c] is None for c in schema.VIDEO_COLUMNS_ADDED)
    failed = incremental.upgraded({**old_video_row("/v/b.mp4", None), "status": "error"}, "videos")
    assert failed["codec"] is None
    error = {"video_uri": "/v/b.mp4", "stage": "open", "error_class": "E", "message": "m", "run_id": "old"}
    assert incremental.upgraded(error, "errors") == error


def test_only_files_the_result_holds_replace_published_rows():
    to_label = [VideoFile(f"/v/{n}.mp4", 10, MODIFIED) for n in "abc"]
    assert incremental.replaced(to_label, {"/v/b.mp4": SAME, "/v/z.mp4": SAME}) == ["/v/b.mp4"]


def test_keep_unchanged_keeps_every_published_row_but_those_of_files_relabelled(tmp_path):
    """A result written by vidlabel 0.2 (old videos columns, no errors table, no embeddings): on a real runner the
    rows of /v/b.mp4 go, the others come back in this version's schema, and the missing table is empty."""
    old_schema = pa.schema([f for f in schema.VIDEOS if f.name not in schema.VIDEO_COLUMNS_ADDED])
    videos = [old_video_row("/v/a.mp4", "libdav1d"), old_video_row("/v/b.mp4", "h264")]
    pq.write_table(pa.Table.from_pylist(videos, schema=old_schema), tmp_path / "videos-00000-of-00001.parquet")
    clip = {"clip_index": 0, "start_s": 0.0, "end_s": 1.0, "start_frame": 0, "end_frame": 4, "top_k": None}
    clip = {**clip, "scores": None, "model": "m", "run_id": "old"}
    predictions = [{"video_uri": uri, **clip} for uri in ("/v/a.mp4", "/v/b.mp4", "/v/b.mp4")]
    old_predictions = pa.schema([f for f in schema.PREDICTIONS if f.name != "embedding"])  # before 0.6
    table = pa.Table.from_pylist(predictions, schema=old_predictions)
    pq.write_table(table.slice(0, 2), tmp_path / "predictions-00000-of-00002.parquet")
    pq.write_table(table.slice(2), tmp_path / "predictions-00001-of-00002.parquet")
    replaced = tmp_path / "run" / incremental.REPLACED_URIS  # as the launcher writes it in the run's folder
    replaced.parent.mkdir()
    write_json_lines(["/v/b.mp4"], str(replaced))

    with TestPipeline(options=PipelineOptions(runner="FnApiRunner")) as p:
        kept = p | incremental.KeepUnchanged(str(tmp_path) + "/", ("videos", "predictions"), str(replaced))
        upgraded_a = {name: {**videos[0], "codec": "av1"}.get(name) for name in schema.VIDEOS.names}
        assert_that(kept["videos"], equal_to([upgraded_a]), label="Videos")
        assert_that(kept["predictions"], equal_to([{**predictions[0], "embedding": None}]), label="Predictions")
        assert_that(kept["errors"], equal_to([]), label="Errors")
