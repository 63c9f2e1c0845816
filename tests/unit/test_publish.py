"""Local publication: what OUTPUT may be, the staged run published by one link switch, and the tables read back."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vidlabel.pipeline import publish
from vidlabel.transforms import schema
from vidlabel.transforms.errors import UsageError


def write_table(folder, name, uris):
    """A real table of the schema's columns (null but for the URI and the run id), as a run stages it."""
    rows = [{"video_uri": u, "run_id": os.path.basename(folder)} for u in uris]
    table = pa.Table.from_pylist(rows, schema=schema.TABLES[name])
    pq.write_table(table, os.path.join(folder, f"{name}-00000-of-00001.parquet"))


def run_once(output, run_id, uris, replace=True, log_path=None):
    """One run as `vidlabel run` drives publication: check, lock, stage, write, publish."""
    output, previous = publish.check_output(str(output), replace=replace)
    with publish.OutputLock(output):
        plan = publish.make_staging(output, previous, None, run_id)
        write_table(plan.staging, "videos", uris)
        write_table(plan.staging, "predictions", uris)
        return plan, publish.publish(plan, {"run_id": run_id}, log_path)


def test_check_output_refuses_a_file_a_foreign_folder_and_a_link_elsewhere(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("x")
    os.symlink(tmp_path / "theirs", tmp_path / "link")
    for name, problem in [("file", "is a file"), ("theirs", "holds other files"), ("link", "is a link to")]:
        with pytest.raises(UsageError, match=problem):
            publish.check_output(str(tmp_path / name), replace=True)
    (tmp_path / "empty").mkdir()
    assert publish.check_output(str(tmp_path / "empty"), replace=False) == (str(tmp_path / "empty"), None)
    monkeypatch.chdir(tmp_path)
    assert publish.check_output("new/out", replace=False) == (str(tmp_path / "new" / "out"), None)


def test_publish_points_output_at_the_complete_run_folder(tmp_path):
    output = tmp_path / "out"
    plan, record = run_once(output, "r1", ["/v/a.mp4", "/v/b.mp4"], replace=False)
    assert os.path.islink(output) and os.path.realpath(output) == plan.staging
    assert record["files"] == ["predictions-00000-of-00001.parquet", "videos-00000-of-00001.parquet"]
    assert publish.read_record(str(output)) == {**record, "run_id": "r1"}
    assert publish.read_table(str(output), "videos", columns=["video_uri"]).column(0).to_pylist() == [
        "/v/a.mp4",
        "/v/b.mp4",
    ]
    assert publish.read_table(str(output), "errors") is None
    assert publish.result_tables(str(output)) == ("predictions", "videos")
    assert sorted(os.listdir(tmp_path)) == ["out", "out.runs"]  # no temporary link left beside OUTPUT
    assert sorted(os.listdir(tmp_path / "out.runs")) == [publish.LOCK_FILE, "r1"]


def test_a_second_run_needs_replace_and_switches_the_link_keeping_the_previous_folder(tmp_path):
    output = tmp_path / "out"
    first, _ = run_once(output, "r1", ["/v/a.mp4"])
    with pytest.raises(UsageError, match=r"already holds a result \(run r1\)"):
        publish.check_output(str(output), replace=False)
    assert publish.check_output(str(output), replace=True) == (str(output), first.staging)

    log = tmp_path / "console.log"
    log.write_text("decoded 1 video\n")
    second, record = run_once(output, "r2", ["/v/b.mp4"], log_path=str(log))
    assert os.path.realpath(output) == second.staging and second.previous == first.staging
    assert record["log"] == publish.RUN_LOG and (output / publish.RUN_LOG).read_text() == "decoded 1 video\n"
    assert os.path.isdir(first.staging)  # a reader of the old result keeps its files
    run_once(output, "r3", ["/v/c.mp4"])
    assert sorted(os.listdir(tmp_path / "out.runs")) == [publish.LOCK_FILE, "r2", "r3"]  # r1 is two runs old
    assert publish.read_table(str(output), "videos").column("run_id").to_pylist() == ["r3"]


def test_the_lock_refuses_a_second_run_and_unpublished_run_folders_are_removed_under_it(tmp_path):
    output = str(tmp_path / "out")
    for run in ("killed-run", "continued-run"):
        os.makedirs(tmp_path / "out.runs" / run)  # no run.json: runs killed before they published
    with publish.OutputLock(output):
        assert publish.remove_unpublished(output, keep="continued-run") == ["killed-run"]
        assert sorted(os.listdir(tmp_path / "out.runs")) == [".lock", "continued-run"]
        assert publish.remove_unpublished(output, keep="new-run") == ["continued-run"]
        with pytest.raises(UsageError, match="another vidlabel run is writing there"):
            with publish.OutputLock(output):
                pass
    assert not os.path.exists(tmp_path / "out.runs")  # a run that published nothing leaves nothing
