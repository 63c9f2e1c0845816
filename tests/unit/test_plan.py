"""Launch decisions that need no model: clip settings, top-k, and what an --incremental run keeps."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vidlabel.movinet import ModelMetadata
from vidlabel.pipeline import plan
from vidlabel.transforms import schema
from vidlabel.transforms.errors import UsageError
from vidlabel.transforms.rows import to_timestamp
from vidlabel.transforms.types import ClipSpec, VideoFile

DYNAMIC = (None, None, None, None, 3)
A0 = ModelMetadata(variant="a0", fps=5, resolution=172, clip_frames=50)


def spec(metadata=A0, shape=DYNAMIC, **flags):
    return plan.clip_spec(metadata, shape, model_name="m", **flags)


def test_clip_spec_flags_win_over_metadata_which_wins_over_the_input_shape():
    assert spec() == ClipSpec(fps=5, resolution=172, clip_frames=50, stride_frames=50)
    assert spec(fps=2, resolution=64, clip_seconds=3, stride_seconds=1, resize="stretch", windows="shots") == ClipSpec(
        fps=2, resolution=64, clip_frames=6, stride_frames=2, resize="stretch", windows="shots"
    )
    assert spec(ModelMetadata(fps=8), (1, 1, 96, 96, 3)).resolution == 96  # a fixed input side
    assert (
        spec(ModelMetadata(fps=8), resolution=32).clip_frames == 80
    )  # no clip length said: the published models' 10 s


def test_clip_spec_says_which_flag_is_missing_or_wrong():
    with pytest.raises(UsageError, match="does not say its input resolution .* pass --resolution N"):
        spec(ModelMetadata(fps=5))
    with pytest.raises(UsageError, match="does not say its frame rate .* pass --fps N"):
        spec(ModelMetadata(resolution=172))
    with pytest.raises(UsageError, match="--resolution 128: the model only takes 172x172 frames"):
        spec(ModelMetadata(fps=5), (1, 1, 172, 172, 3), resolution=128)
    with pytest.raises(UsageError, match="--clip_seconds 0.1 is shorter than one frame at 5 fps"):
        spec(clip_seconds=0.1)
    with pytest.raises(UsageError, match="--stride_seconds 0.01 is shorter than one frame at 50 fps"):
        spec(fps=50, stride_seconds=0.01)


def test_top_k_defaults_to_five_or_every_class_and_cannot_exceed_them():
    assert plan.plan_top_k(None, 600) == 5
    assert plan.plan_top_k(None, 3) == 3
    assert plan.plan_top_k(7, 600) == 7
    with pytest.raises(UsageError, match="--top_k 7 is more than the model's 6 classes"):
        plan.plan_top_k(7, 6)


LABELLING = {"model_sha256": "abc", "labels_sha256": "def", "fps": 5, "top_k": 5, "all_scores": False}


def test_incremental_runs_must_label_the_same_way_but_may_add_outputs():
    plan.check_same_labelling({"labelling": {**LABELLING, "all_scores": True}}, LABELLING, "out")
    with pytest.raises(UsageError, match=r"labelled with other settings \(fps, top_k differ\)"):
        plan.check_same_labelling({"labelling": {**LABELLING, "fps": 12, "top_k": 3}}, LABELLING, "out")


def test_incremental_compares_windows_min_score_frame_labels_and_embeddings_reading_older_results_as_defaults():
    new = {
        **LABELLING,
        "windows": "fixed",
        "min_score": 0.3,
        "frame_labels": False,
        "embeddings": False,
        "fast_decode": False,
    }
    plan.check_same_labelling({"labelling": new}, new, "out")
    changes = (("windows", "shots"), ("min_score", 0.5), ("frame_labels", True), ("embeddings", True))
    for setting, value in (*changes, ("fast_decode", True)):
        with pytest.raises(UsageError, match=rf"\({setting} differ\)"):
            plan.check_same_labelling({"labelling": new}, {**new, setting: value}, "out")
    # vidlabel 0.4 recorded none of them: it cut fixed windows, wrote no segments and no per-second labels
    plan.check_same_labelling({"labelling": LABELLING}, new, "out")
    plan.check_same_labelling({"labelling": LABELLING}, {**new, "min_score": 0.6}, "out")
    with pytest.raises(UsageError, match=r"\(frame_labels, windows differ\)"):
        plan.check_same_labelling({"labelling": LABELLING}, {**new, "windows": "shots", "frame_labels": True}, "out")
    # vidlabel 0.5 wrote no embeddings, and results before --fast_decode decoded every frame
    with pytest.raises(UsageError, match=r"\(embeddings, fast_decode differ\)"):
        plan.check_same_labelling({"labelling": LABELLING}, {**new, "embeddings": True, "fast_decode": True}, "out")


def test_plan_incremental_labels_only_new_or_changed_files_of_a_published_result(tmp_path):
    published = [("/v/same.mp4", 10, "ok"), ("/v/changed.mp4", 10, "ok"), ("/v/failed.mp4", 10, "error")]
    rows = [
        {"video_uri": u, "status": s, "file_size": n, "file_modified": to_timestamp(100.0)} for u, n, s in published
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema.VIDEOS), tmp_path / "videos-00000-of-00001.parquet")
    listed = [VideoFile(u, 10, 100.0) for u in ("/v/same.mp4", "/v/failed.mp4", "/v/new.mp4")]
    listed.append(VideoFile("/v/changed.mp4", 11, 100.0))
    record = {"labelling": LABELLING}

    kept = plan.plan_incremental(listed, str(tmp_path), record, LABELLING, False, "out")
    assert kept.keep_from == str(tmp_path) and kept.kept_tables == ("videos",)
    assert [f.uri for f in kept.to_label] == ["/v/new.mp4", "/v/changed.mp4"]
    assert kept.replaced == ["/v/changed.mp4"]  # the new file has no published rows to give way
    retried = plan.plan_incremental(listed, str(tmp_path), record, LABELLING, True, "out")
    assert [f.uri for f in retried.to_label] == ["/v/failed.mp4", "/v/new.mp4", "/v/changed.mp4"]
    assert retried.replaced == ["/v/failed.mp4", "/v/changed.mp4"]
    assert plan.plan_incremental(None, str(tmp_path), record, LABELLING, False, "out").to_label is None  # dry run
    assert plan.plan_incremental(listed, None, {}, LABELLING, False, "out") == plan.IncrementalPlan(
        None, (), listed, []
    )
    with pytest.raises(UsageError, match="top_k differ"):
        plan.plan_incremental(listed, str(tmp_path), record, {**LABELLING, "top_k": 3}, False, "out")
