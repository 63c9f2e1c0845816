"""File batches (`pipeline/batches.py`): how files are split, which interrupted run a new one continues, and what
a killed batch leaves that the continued run removes. Real files in a real run folder; the pipelines themselves
run in test_reliability.py."""

import os

from vidlabel.pipeline import batches
from vidlabel.transforms.types import VideoFile

SETTINGS = {"labelling": {"top_k": 5}, "decode": {"sparse": False}, "kept_from_run": None, "replaced": []}


def files(n, size=10):
    return [VideoFile(f"file:///v/{i:03d}.mp4", size, 1700000000.25 + i) for i in range(n)]


def new_run(runs, run_id, to_label, per_batch, keep=False):
    staging = runs / run_id
    staging.mkdir(parents=True)
    return staging, batches.write_batches(str(staging), SETTINGS, to_label, per_batch, keep, None)


def test_files_are_split_in_order_with_the_kept_pass_first(tmp_path):
    staging, planned = new_run(tmp_path, "r1", files(5), 2, keep=True)
    assert [(b.tag, b.num_files) for b in planned] == [("kept", 0), ("b00000", 2), ("b00001", 2), ("b00002", 1)]
    listed = [batches._read_files(b.files) for b in planned[1:]]
    assert sum(listed, []) == files(5)
    _, one = new_run(tmp_path, "r2", files(5), 0)
    assert [(b.tag, b.num_files) for b in one] == [("b00000", 5)]


def test_a_run_continues_the_interrupted_one_with_its_settings_and_unchanged_files(tmp_path):
    staging, planned = new_run(tmp_path, "20261205T000000Z-a", files(5), 2)
    batches.mark_done(str(staging), planned[0])
    found = batches.find_resumable(str(tmp_path), SETTINGS, files(5))
    assert found.run_id == "20261205T000000Z-a" and found.done_tags == ("b00000",)
    assert found.done_files == frozenset(files(2))
    more = files(6)  # a file listed since: labelled in a new batch
    continued = batches.write_batches(str(staging), SETTINGS, more, 2, False, found)
    assert [(b.tag, b.num_files) for b in continued] == [("b00001", 2), ("b00002", 2)]
    assert sum((batches._read_files(b.files) for b in continued), []) == more[2:]

    other = {**SETTINGS, "labelling": {"top_k": 3}}
    assert batches.find_resumable(str(tmp_path), other, files(5)) is None
    changed = [files(1, size=11)[0], *files(5)[1:]]  # a done file rewritten since: its rows would be stale
    assert batches.find_resumable(str(tmp_path), SETTINGS, changed) is None
    (staging / "run.json").write_text("{}")  # published: nothing to continue
    assert batches.find_resumable(str(tmp_path), SETTINGS, files(5)) is None


def test_what_killed_batches_wrote_is_removed_and_done_batches_stay(tmp_path):
    staging, planned = new_run(tmp_path, "r1", files(5), 2)
    batches.mark_done(str(staging), planned[0])
    names = [
        "videos-b00000-00000-of-00001.parquet",
        "frame_labels-b00000-00000-of-00001.parquet",
        "videos-b00001-00000-of-00002.parquet",  # finalised before the kill, its sibling not
        "frame_labels-b00001-00001-of-00002.parquet",
    ]
    for name in names:
        (staging / name).write_bytes(b"x")
    (staging / "beam-temp-videos-b00001-123").mkdir()
    (staging / "beam-temp-videos-b00001-123" / "part").write_bytes(b"x")
    assert batches.remove_partial(str(staging), ("b00000",)) == 3
    assert sorted(os.listdir(staging)) == sorted(names[:2] + ["batches"])
    assert sorted(os.listdir(staging / "batches")) == ["b00000.done", "b00000.jsonl", "settings.json"]
