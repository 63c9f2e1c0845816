"""Bad flags stop `vidlabel run` before any work, with exit status 2 and a message that says how to fix it.

These call the command's `main` in this process (the same code path as the console script, without paying a
Python and TensorFlow start-up per case)."""

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from vidlabel.pipeline import cli
from vidlabel.transforms import schema

from conftest import IN_PROCESS, VIDEOS

VIDEO = VIDEOS / "bear_vp9_161x121_odd.webm"


@pytest.fixture
def refused(capsys, tmp_path):
    def check(*args, expect):
        try:
            status = cli.main(["run", *map(str, args)])
        except SystemExit as exc:  # argparse's own errors (e.g. a value not among --resize's choices)
            status = exc.code
        err = capsys.readouterr().err
        assert status == 2, err[-3000:]
        assert expect in err, err[-3000:]
        if not (tmp_path / "out").is_symlink():  # no earlier result: a refused job leaves nothing behind
            assert not (tmp_path / "out.runs").exists()  # where a run stages its tables

    return check


def test_no_input(refused, tmp_path):
    refused("--output", tmp_path / "out", expect="--input PATH")


def test_no_output(refused, tmp_path):
    refused("--input", VIDEO, expect="--output DIR")


def test_input_does_not_exist(refused, tmp_path):
    refused("--input", tmp_path / "nope", "--output", tmp_path / "out", expect="no such file or folder")


def test_folder_without_videos(refused, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    refused("--input", tmp_path / "docs", "--output", tmp_path / "out", expect="--extensions")


def test_glob_matching_nothing(refused, tmp_path):
    refused("--input", tmp_path / "*.mp4", "--output", tmp_path / "out", expect="matched no file")


def test_empty_manifest(refused, tmp_path):
    (tmp_path / "m.txt").write_text("# nothing yet\n\n")
    refused("--manifest", tmp_path / "m.txt", "--output", tmp_path / "out", expect="lists no video")


def test_unwritable_output(refused, tmp_path):
    (tmp_path / "file").write_text("x")
    refused("--input", VIDEO, "--output", tmp_path / "file" / "out", expect="cannot write there")


def test_unknown_alias(refused, tmp_path):
    refused("--input", VIDEO, "--output", tmp_path / "out", "--model", "a9-base", expect="a0-base")


def test_not_a_savedmodel(refused, tmp_path):
    (tmp_path / "empty").mkdir()
    refused("--input", VIDEO, "--output", tmp_path / "out", "--model", tmp_path / "empty", expect="not a SavedModel")


def test_unreadable_savedmodel(refused, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "saved_model.pb").write_bytes(b"\x00garbage" * 10)
    refused(
        "--input",
        VIDEO,
        "--output",
        tmp_path / "out",
        "--model",
        tmp_path / "broken",
        expect="cannot load the SavedModel",
    )


def test_published_alias_offline_says_what_to_do(refused, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDLABEL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    refused("--input", VIDEO, "--output", tmp_path / "out", "--model", "a0-base", expect="vidlabel export-model")


@pytest.mark.parametrize(
    "flags, expect",
    [
        (["--clip_seconds", "-1"], "--clip_seconds must be a positive"),
        (["--clip_seconds", "0.1"], "shorter than one frame"),
        (["--stride_seconds", "0.01"], "shorter than one frame"),
        (["--top_k", "0"], "--top_k must be at least 1"),
        (["--top_k", "601"], "more than the model's 600 classes"),
        (["--resize", "squash"], "invalid choice"),
        (["--no_such_flag", "1"], "unknown flag"),
    ],
)
def test_bad_numbers_and_flags(refused, flags, expect, tmp_path, small_model):
    refused("--input", VIDEO, "--output", tmp_path / "out", "--model", small_model, *flags, expect=expect)


def test_labels_that_do_not_fit_the_model(refused, tmp_path, small_model):
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    refused(
        "--input",
        VIDEO,
        "--output",
        tmp_path / "out",
        "--model",
        small_model,
        "--label_file",
        tmp_path / "labels.txt",
        expect="the labels have 2 names",
    )


def run_in_process(*args):
    return cli.main(["run", *map(str, args), *IN_PROCESS])


def test_existing_result_needs_overwrite_or_incremental_and_a_refused_job_keeps_it(
    refused, tmp_path, small_model, capsys
):
    out = tmp_path / "out"
    assert run_in_process("--input", VIDEO, "--output", out, "--model", small_model) == 0, capsys.readouterr().err
    first = duckdb.sql(f"select run_id from '{out}/videos-*.parquet'").fetchall()
    refused("--input", VIDEO, "--output", out, "--model", small_model, expect="--overwrite")
    refused("--input", VIDEO, "--output", out, "--model", tmp_path / "missing", "--overwrite", expect="no such file")
    refused(
        "--input", VIDEO, "--output", out, "--model", small_model, "--overwrite", "--incremental", expect="give one"
    )
    assert duckdb.sql(f"select run_id from '{out}/videos-*.parquet'").fetchall() == first
    assert len(list((tmp_path / "out.runs").iterdir())) == 2  # the result's run folder and the lock: nothing staged

    assert run_in_process("--input", VIDEO, "--output", out, "--model", small_model, "--overwrite") == 0
    second = duckdb.sql(f"select run_id, status from '{out}/videos-*.parquet'").fetchall()
    assert len(second) == 1 and second[0][0] != first[0][0] and second[0][1] == "ok"
    assert json.loads((out / "run.json").read_text())["previous_run"] == first[0][0]


def test_incremental_refuses_other_labelling_settings(refused, tmp_path, small_model, capsys):
    out = tmp_path / "out"
    assert run_in_process("--input", VIDEO, "--output", out, "--model", small_model) == 0, capsys.readouterr().err
    refused(
        "--input",
        VIDEO,
        "--output",
        out,
        "--model",
        small_model,
        "--incremental",
        "--top_k",
        "3",
        expect="top_k differ",
    )


def test_tables_written_in_place_by_an_earlier_version_are_replaced_with_overwrite(refused, tmp_path, small_model):
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(schema.VIDEOS.empty_table(), out / "videos-00000-of-00001.parquet")
    refused("--input", VIDEO, "--output", out, "--model", small_model, expect="pass --overwrite")
    assert run_in_process("--input", VIDEO, "--output", out, "--model", small_model, "--overwrite") == 0
    assert out.is_symlink() and duckdb.sql(f"select status from '{out}/videos-*.parquet'").fetchall() == [("ok",)]


def test_output_that_holds_other_files_is_refused(refused, tmp_path, small_model):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    refused("--input", VIDEO, "--output", tmp_path / "out", "--model", small_model, expect="holds other files")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_model_without_metadata_needs_resolution_and_fps(refused, tmp_path, small_model):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(small_model, bare, ignore=shutil.ignore_patterns("vidlabel.json"))
    base = ["--input", VIDEO, "--output", tmp_path / "out", "--model", bare]
    refused(*base, expect="pass --resolution N")
    refused(*base, "--resolution", "32", expect="pass --fps N")


def run_local(*args, venv):
    import os
    import subprocess

    from conftest import REPO

    env = {**os.environ, "VIDLABEL_VENV": str(venv)}
    return subprocess.run(
        ["bash", str(REPO / "run_local.sh"), *map(str, args)], capture_output=True, text=True, env=env, timeout=120
    )


def test_run_local_lists_the_commands_for_an_unknown_one_before_installing_anything(tmp_path):
    result = run_local("export_model", "--variant", "a0", venv=tmp_path / "venv")  # a typo of export-model
    assert result.returncode == 2
    assert "unknown command 'export_model'" in result.stderr and "export-model" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_run_local_sends_commands_and_flags_where_they_belong(tmp_path):
    import sys
    from pathlib import Path

    venv = Path(sys.executable).parent.parent  # this environment: nothing to install
    assert "usage: vidlabel synth" in run_local("synth", "--help", venv=venv).stdout
    refused = run_local("--output", tmp_path / "out", venv=venv)  # flags first: `vidlabel run`
    assert refused.returncode == 2 and "vidlabel run: error: give the videos to label" in refused.stderr


def test_the_demo_query_names_its_total_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vidlabel.pipeline.commands.demo import ACCURACY_QUERY

    uris = [f"/d/heldout/{c}/{c}-{i}.mp4" for c in ("grow", "shrink") for i in range(2)]
    top = [[{"label": label, "score": 0.9}] for label in ("grow", "grow", "shrink", "grow")]
    table = pa.table({"video_uri": uris, "top_k": top, "num_clips": [1] * 4, "status": ["ok"] * 4})
    pq.write_table(table, tmp_path / "videos-00000-of-00001.parquet")
    rows = duckdb.sql(ACCURACY_QUERY.format(output=tmp_path)).fetchall()
    assert rows == [("grow", 2, 2, 1.0), ("shrink", 2, 1, 0.5), ("all", 4, 3, 0.75)]
