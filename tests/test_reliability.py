"""Never lose work, never die on a bad file: real runs killed with SIGKILL, re-runs with --incremental, and hostile
inputs (a FIFO that blocks, a decoder that crashes, frames that need gigabytes, odd names and links) through the
real pipeline and the real decoder processes."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import duckdb
import numpy as np
import pytest

from vidlabel.pipeline.commands import synth
from vidlabel.transforms.sandbox import DecoderProcess
from vidlabel.transforms.types import ClipSpec, DecodeLimits, VideoError, VideoInfo

from conftest import IN_PROCESS, VIDEOS, vidlabel, vidlabel_command

SPEC = ClipSpec(fps=2, resolution=32, clip_frames=8, stride_frames=8)
TEN = [
    "anet_clean_and_jerk_h264.mp4",
    "bbb_vp8_vorbis_1s.webm",
    "bear_vp9_161x121_odd.webm",
    "k400_arm_wrestling_h264.mp4",
    "mug_rotate270_h264.mp4",
    "neuro_mjpeg_160x120_3frames.avi",
    "selfie_av1_aac.mp4",
    "swimming_person.gif",
    "opus_audio_only.mp4",
    "zero_bytes.webm",
]


def videos_table(out):
    return duckdb.sql(f"select video_uri, run_id, status from '{out}/videos-*.parquet' order by all").fetchall()


def all_rows(out, table):
    """A table's rows, each as its repr (top_k lists make rows unhashable), sorted."""
    return sorted(map(repr, duckdb.sql(f"select * from '{out}/{table}-*.parquet'").fetchall()))


def predictions_per_video(out):
    return dict(duckdb.sql(f"select video_uri, count(*) from '{out}/predictions-*.parquet' group by 1").fetchall())


def assert_each_clip_once(out):
    """Every ok video has exactly its num_clips prediction rows, each clip once."""
    clips = dict(
        duckdb.sql(f"select video_uri, num_clips from '{out}/videos-*.parquet' where status = 'ok'").fetchall()
    )
    assert predictions_per_video(out) == clips
    dupes = duckdb.sql(
        f"select video_uri, clip_index from '{out}/predictions-*.parquet' group by all having count(*) > 1"
    )
    assert dupes.fetchall() == []


def copy_videos(names, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        shutil.copy(VIDEOS / name, folder / f"{i:02d}-{name}")


def big_frame_video(path, side=8192):
    """One black H.264 frame of side x side pixels: ~200 KB on disk, ~100 MB per decoded frame."""
    synth.write_video(str(path), [np.zeros((side, side, 3), np.uint8)], 5, side, side)


# --- atomic output and --incremental ----------------------------------------------------------------------------


def test_incremental_labels_exactly_the_new_and_changed_files(tmp_path, lite_model):
    folder, out = tmp_path / "archive", tmp_path / "tables"
    copy_videos(TEN, folder)
    flags = ("--model", lite_model, "--frame_labels", "--min_score", "0.002")  # a random model's scores are low
    vidlabel("run", *IN_PROCESS, "--input", folder, "--output", out, *flags)
    first = videos_table(out)
    assert len(first) == 10 and len({r[1] for r in first}) == 1
    first_tables = {table: all_rows(out, table) for table in ("shots", "segments", "frame_labels", "thumbnails")}
    assert all(first_tables.values())

    copy_videos(["countdown_10min_1fps.mkv", "swimming_person.gif"], folder / "new")
    vidlabel("run", *IN_PROCESS, "--input", folder, "--output", out, *flags, "--incremental")
    second = videos_table(out)
    new_run = json.loads((out / "run.json").read_text())
    assert len(second) == len({r[0] for r in second}) == 12  # the union, each file once
    labelled = sorted(uri for uri, run_id, _ in second if run_id == new_run["run_id"])
    assert labelled == sorted(str(p) for p in (folder / "new").iterdir())
    assert set(first) <= set(second)  # the kept rows are the published ones, run_id included
    for table in first_tables:  # every table: kept rows as published, new files' rows added
        assert set(first_tables[table]) <= set(all_rows(out, table)), table
    shot_uris = duckdb.sql(f"select distinct video_uri from '{out}/shots-*.parquet'").fetchall()
    assert {uri for (uri,) in shot_uris} == {uri for uri, _, status in second if status == "ok"}
    assert {k: new_run["counts"][k] for k in ("listed", "labelled", "ok", "error", "kept")} == {
        "listed": 12,
        "labelled": 2,
        "ok": 2,
        "error": 0,
        "kept": 10,
    }
    assert_each_clip_once(out)

    changed = folder / f"03-{TEN[3]}"
    os.utime(changed, (time.time(), time.time() + 5))  # modified (or replaced) since it was labelled
    vidlabel("run", *IN_PROCESS, "--input", folder, "--output", out, *flags, "--incremental")
    third = videos_table(out)
    third_run = json.loads((out / "run.json").read_text())["run_id"]
    assert [uri for uri, run_id, _ in third if run_id == third_run] == [str(changed)]
    assert len(third) == 12
    assert_each_clip_once(out)  # the changed file's old clip rows were replaced, not added to


def test_retry_errors_labels_the_failed_files_again_and_nothing_to_label_loads_no_model(tmp_path, lite_model):
    folder, out = tmp_path / "archive", tmp_path / "tables"
    copy_videos(["bbb_vp8_vorbis_1s.webm", "swimming_person.gif", "zero_bytes.webm"], folder)
    flags = (*IN_PROCESS, "--input", folder, "--output", out, "--model", lite_model)
    vidlabel("run", *flags, "--decode_timeout_seconds", "0.001")  # a machine too busy: every decoder times out
    first = videos_table(out)
    assert {status for _, _, status in first} == {"error"}

    kept = vidlabel("run", *flags, "--incremental")  # errors are kept unless asked
    assert "0 video(s) to label" in kept.stderr and videos_table(out) == first
    assert_graph_scores_nothing(flags + ("--incremental",))

    vidlabel("run", *flags, "--incremental", "--retry_errors")
    statuses = {uri.rsplit("/", 1)[-1][3:]: status for uri, _, status in videos_table(out)}
    assert statuses == {"bbb_vp8_vorbis_1s.webm": "ok", "swimming_person.gif": "ok", "zero_bytes.webm": "error"}
    errors = duckdb.sql(f"select video_uri, error_class from '{out}/errors-*.parquet'").fetchall()
    assert [uri.rsplit("/", 1)[-1] for uri, _ in errors] == ["02-zero_bytes.webm"]  # the timeouts' rows are gone
    assert_each_clip_once(out)


def assert_graph_scores_nothing(flags):
    """The job an --incremental run with nothing to label builds has no scoring step: no worker loads the model."""
    import apache_beam as beam

    from vidlabel.pipeline import graph, options, plan, publish

    pipeline_options = options.parse_options([str(f) for f in flags])
    output = pipeline_options.view_as(options.VidlabelOptions).output
    with publish.OutputLock(output):
        job = plan.plan_job(pipeline_options)
    assert job.num_to_label == 0 and [b.tag for b in job.batches] == ["kept"]
    pipeline = beam.Pipeline(options=pipeline_options)
    graph.build(pipeline, job, job.batches[0])
    steps = [t.unique_name for t in pipeline.to_runner_api().components.transforms.values()]
    assert any("KeepUnchanged" in s for s in steps) and not any("ScoreClips" in s for s in steps)


def test_a_result_written_by_vidlabel_0_2_is_extended_with_incremental(tmp_path, lite_model):
    """vidlabel 0.2 recorded no schema version, wrote no stream_index, pix_fmt or bit_depth, and named the decoder
    as the codec (libdav1d for AV1). A result of this version is turned into exactly that (and one of its tables
    removed, as a table a later version adds), then extended with --incremental by this version."""
    import pyarrow.parquet as pq

    folder, out = tmp_path / "archive", tmp_path / "tables"
    copy_videos(["selfie_av1_aac.mp4", "bear_vp9_161x121_odd.webm"], folder)
    flags = (*IN_PROCESS, "--input", folder, "--output", out, "--model", lite_model)
    vidlabel("run", *flags)
    result = out.resolve()
    for path in result.glob("videos-*.parquet"):
        table = pq.read_table(path).drop_columns(["stream_index", "pix_fmt", "bit_depth", "embedding"])
        codecs = ["libdav1d" if c == "av1" else c for c in table.column("codec").to_pylist()]
        table = table.set_column(table.schema.get_field_index("codec"), "codec", [codecs])
        pq.write_table(table, path)
    for path in result.glob("predictions-*.parquet"):  # 0.6 added the embeddings
        pq.write_table(pq.read_table(path).drop_columns(["embedding"]), path)
    for table in ("errors", "shots", "segments", "frame_labels", "thumbnails"):  # as tables later versions add
        for path in result.glob(f"{table}-*.parquet"):
            path.unlink()
    record = json.loads((result / "run.json").read_text())
    del record["schema_version"]
    for setting in ("windows", "min_score", "frame_labels", "embeddings"):  # settings 0.5 and 0.6 added
        del record["labelling"][setting]
    (result / "run.json").write_text(json.dumps(record))

    copy_videos(["swimming_person.gif"], folder / "new")
    extended = vidlabel("run", *flags, "--incremental")
    assert "2 kept video(s) were labelled by an older vidlabel" in extended.stderr
    rows = duckdb.sql(
        f"select video_uri, codec, stream_index, pix_fmt, bit_depth from '{out}/videos-*.parquet' order by 1"
    ).fetchall()
    by_name = {uri.rsplit("/", 1)[-1]: tuple(facts) for uri, *facts in rows}
    assert by_name["00-selfie_av1_aac.mp4"] == ("av1", None, None, None)  # kept: codec named, new columns empty
    assert by_name["01-bear_vp9_161x121_odd.webm"] == ("vp9", None, None, None)
    assert by_name["00-swimming_person.gif"][0] == "gif" and None not in by_name["00-swimming_person.gif"]
    assert duckdb.sql(f"select count(*) from '{out}/errors-*.parquet'").fetchall() == [(0,)]  # the table is back
    record = json.loads((out / "run.json").read_text())
    assert record["schema_version"] == 5 and record["counts"]["kept_without_new_outputs"] == 2
    for table in ("shots", "thumbnails"):
        uris = duckdb.sql(f"select distinct video_uri from '{out}/{table}-*.parquet'").fetchall()
        assert [uri.rsplit("/", 1)[-1] for (uri,) in uris] == ["00-swimming_person.gif"], table  # kept: none
    assert_each_clip_once(out)


def test_a_killed_run_publishes_nothing_and_the_resumed_run_finishes_each_file_once(tmp_path, lite_model):
    """SIGKILL the whole run (launcher and workers) at several points; after each kill the output shows the
    previous complete result, byte for byte, or a complete new one, never a partial one; each attempt continues the
    killed one, and the last --incremental run leaves every file labelled exactly once."""
    folder, out, runs = tmp_path / "archive", tmp_path / "tables", tmp_path / "tables.runs"
    copy_videos(["swimming_person.gif", "bear_vp9_161x121_odd.webm"], folder)
    run = start_run(folder, out, lite_model)
    assert wait_for(lambda: list(runs.glob("2*")), run)  # checks passed, staging made: the run is working
    kill(run)
    assert not out.exists() and not list(runs.glob("*/run.json"))  # no result, not a partial one

    vidlabel("run", "--input", folder, "--output", out, "--model", lite_model)
    published = snapshot(out)
    copy_videos(
        ["countdown_10min_1fps.mkv", "anet_clean_and_jerk_h264.mp4", "k400_arm_wrestling_h264.mp4"], folder / "new"
    )
    kill_points = {  # what this attempt has written when it is killed (an attempt may continue a killed one)
        "staging made": ["2*/batches/*.jsonl"],
        "decoding and scoring": ["2*/batches/*.jsonl"],  # and 3 s more
        "writing tables": ["2*/beam-temp-*", "2*/*-b0*.parquet"],
        "publishing": ["2*/run.json"],
    }
    killed = []
    for point, patterns in kill_points.items():
        started = time.time()
        run = start_run(folder, out, lite_model, "--incremental")

        def reached(patterns=patterns, started=started, point=point):
            written = [p for pattern in patterns for p in runs.glob(pattern) if modified_since(p, started)]
            return written and (point != "decoding and scoring" or time.sleep(3) is None)

        if wait_for(reached, run):
            kill(run)
            killed.append(point)
        now = snapshot(out)
        if now != published:  # killed after the switch (or it finished first): a new result, complete
            counts = json.loads(now["run.json"])["counts"]
            assert counts["labelled"] + counts["kept"] == 5 and counts["error"] == 0, point
            assert len(videos_table(out)) == 5, point
            assert_each_clip_once(out)
            published = now
    assert killed[:2] == ["staging made", "decoding and scoring"], killed  # the later points race the run's end
    vidlabel("run", "--input", folder, "--output", out, "--model", lite_model, "--incremental")
    rows = videos_table(out)
    assert len(rows) == len({r[0] for r in rows}) == 5
    assert_each_clip_once(out)
    assert len(list(runs.glob("2*"))) <= 2  # the result and the one before it; killed runs' folders are gone


def table_without_run_id(out, table, uris):
    """A table's rows for the given files, without run_id (two runs differ only there), each as its repr, sorted."""
    rows = duckdb.sql(f"select * exclude (run_id) from '{out}/{table}-*.parquet' order by all").fetchall()
    columns = duckdb.sql(f"select * exclude (run_id) from '{out}/{table}-*.parquet' limit 0").columns
    at = columns.index("video_uri")
    return sorted(repr(r) for r in rows if r[at].rsplit("/", 1)[-1] in uris)


def test_batches_give_the_one_pipeline_result_and_a_killed_run_continues_from_its_last_batch(tmp_path, lite_model):
    """--files_per_batch 2 over six files (one fails): killed once its first batch is done, nothing is published;
    the same command again continues that run (same run id, the done batch kept, the file added meanwhile
    labelled too), and every table then equals, row for row, what one pipeline over the same files writes."""
    names = [
        "bbb_vp8_vorbis_1s.webm",
        "bear_vp9_161x121_odd.webm",
        "mug_rotate270_h264.mp4",
        "neuro_mjpeg_160x120_3frames.avi",
        "selfie_av1_aac.mp4",
        "opus_audio_only.mp4",
    ]
    folder, out, runs = tmp_path / "archive", tmp_path / "tables", tmp_path / "tables.runs"
    copy_videos(names, folder)
    flags = ["--files_per_batch", "2", *IN_PROCESS]
    run = start_run(folder, out, lite_model, *flags)
    assert wait_for(lambda: list(runs.glob("*/batches/b00000.done")), run), "the run ended before its 2nd batch"
    kill(run)
    assert not out.exists()
    (killed,) = [p.name for p in runs.glob("2*")]
    shutil.copy(VIDEOS / "swimming_person.gif", folder / "99-added.gif")

    result = vidlabel("run", "--input", folder, "--output", out, "--model", lite_model, *flags)
    assert f"continuing the interrupted run {killed}: 2 file(s)" in result.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["run_id"] == killed and record["batches"] == {"files_per_batch": 2, "resumed_files": 2}
    assert record["counts"]["labelled"] == 7 and record["counts"]["error"] == 1
    tags = {p.name.split("-")[1] for p in out.glob("videos-*.parquet")}
    assert tags == {"b00000", "b00001", "b00002", "b00003"}  # 2 + 2 + 2 + 1 files
    assert_each_clip_once(out)

    one = tmp_path / "one"
    vidlabel("run", "--input", folder, "--output", one, "--model", lite_model, "--files_per_batch", "0", *IN_PROCESS)
    uris = {p.name for p in folder.iterdir()}
    for table in ("videos", "predictions", "errors", "shots", "segments", "thumbnails"):
        assert table_without_run_id(out, table, uris) == table_without_run_id(one, table, uris), table


def modified_since(path, started) -> bool:
    try:
        return path.stat().st_mtime >= started
    except FileNotFoundError:  # Beam's temporary folder, removed meanwhile
        return False


def snapshot(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def start_run(folder, out, model, *flags):
    return subprocess.Popen(
        vidlabel_command("run", "--input", folder, "--output", out, "--model", model, *flags),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for(condition, run, timeout=180) -> bool:
    """True when `condition` held while the run was still going; False when the run ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if run.poll() is not None:
            return False
        if condition():
            return True
        time.sleep(0.02)
    raise AssertionError("the run neither reached the point nor ended")


def kill(run):
    os.killpg(run.pid, signal.SIGKILL)  # the launcher, its SDK workers and their decoder processes
    run.wait()


# --- a bad file never takes the job down -------------------------------------------------------------------------


def test_a_crashed_or_hung_decoder_costs_one_row_and_the_next_file_decodes(tmp_path):
    fifo = tmp_path / "blocked.mp4"
    os.mkfifo(fifo)
    decoder = DecoderProcess(SPEC, DecodeLimits(timeout_s=3))
    decoder.start()
    try:
        started = time.time()
        [hung] = list(decoder.decode(str(fifo)))  # opening a FIFO with no writer blocks forever
        assert isinstance(hung, VideoError) and hung.error_class == "DecodeTimeout" and 3 <= time.time() - started < 10

        # A real crash: the decoder process dies by SIGSEGV mid-file (here sent while it waits on the FIFO). The
        # replacement is started first: a child's start-up is waited for apart from the per-file timeout.
        decoder.start()
        pid = []
        threading.Timer(1.0, lambda: pid.append(decoder._process.pid) or os.kill(pid[0], signal.SIGSEGV)).start()
        [crashed] = list(decoder.decode(str(fifo)))
        assert crashed.error_class == "DecoderCrashed" and "SIGSEGV" in crashed.message

        *clips, done = decoder.decode(str(VIDEOS / "k400_arm_wrestling_h264.mp4"))
        assert isinstance(done, VideoInfo) and len(clips) == done.num_clips == 3 and decoder.restarts == 2
    finally:
        decoder.close()


def test_frames_too_large_are_refused_and_memory_is_capped(tmp_path):
    big_frame_video(tmp_path / "big.mp4")
    decoder = DecoderProcess(SPEC, DecodeLimits())  # 67 Mpixel frame over the default 8K cap
    try:
        [refused] = list(decoder.decode(str(tmp_path / "big.mp4")))
        assert "8192x8192 declared by the stream is over the limit" in refused.message
    finally:
        decoder.close()
    decoder = DecoderProcess(SPEC, DecodeLimits(memory_mb=64, max_frame_pixels=10**9))
    try:
        [starved] = list(decoder.decode(str(tmp_path / "big.mp4")))
        assert "ran out of memory" in starved.message
        *_, fine = decoder.decode(str(VIDEOS / "anet_clean_and_jerk_h264.mp4"))  # same process, still healthy
        assert isinstance(fine, VideoInfo)
    finally:
        decoder.close()


def test_hostile_inputs_through_the_pipeline(tmp_path, lite_model):
    """One run over a folder of trouble: every entry ends as rows or one error row, and the job succeeds."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    shutil.copy(VIDEOS / "bear_vp9_161x121_odd.webm", folder / "good.webm")
    os.mkfifo(folder / "blocked.mp4")  # never written: its decoder hangs until the timeout
    os.mkfifo(folder / "crash.mp4")  # its decoder gets SIGSEGV once it opens the file
    big_frame_video(folder / "huge_frame.mp4")
    long_name = "x" * 240 + ".webm"  # 245 bytes: near NAME_MAX (255)
    shutil.copy(VIDEOS / "bear_vp9_161x121_odd.webm", folder / long_name)
    latin1 = os.fsdecode(b"caf\xe9.webm")  # not valid UTF-8
    shutil.copy(VIDEOS / "bear_vp9_161x121_odd.webm", os.path.join(folder, latin1))
    os.symlink("loop.mp4", folder / "loop.mp4")  # a link to itself: not a file, not listed
    os.symlink("missing.mp4", folder / "dangling.mp4")
    (folder / "folder.mp4").mkdir()  # a folder with a video's name is not a file
    manifest = tmp_path / "list.txt"
    manifest.write_text(
        f"# the same good file twice, a comment, a blank line and a file that is gone\n"
        f"{folder / 'good.webm'}\n\n{folder / 'good.webm'}\n{folder / 'gone.mp4'}\n"
    )
    crashed = threading.Thread(target=segfault_the_reader, args=(folder / "crash.mp4",), daemon=True)
    crashed.start()
    out = tmp_path / "tables"
    result = vidlabel(
        "run",
        *IN_PROCESS,
        "--input",
        folder,
        "--manifest",
        manifest,
        "--output",
        out,
        "--model",
        lite_model,
        "--decode_timeout_seconds",
        5,
    )
    crashed.join(timeout=5)
    rows = {
        uri.rsplit("/", 1)[-1]: (status, error)
        for uri, status, error in duckdb.sql(
            f"select video_uri, status, error from '{out}/videos-*.parquet'"
        ).fetchall()
    }
    assert rows.pop("good.webm") == ("ok", None)
    assert rows.pop(long_name) == ("ok", None)
    assert rows.pop("caf%E9.webm") == ("ok", None)
    assert "gave no clip for 5 s" in rows.pop("blocked.mp4")[1]
    assert "crashed on this file with SIGSEGV" in rows.pop("crash.mp4")[1]
    assert "over the limit" in rows.pop("huge_frame.mp4")[1]
    assert rows.pop("gone.mp4") == ("error", "file not found")
    assert rows == {}, rows
    errors = duckdb.sql(f"select count(*), count(distinct video_uri) from '{out}/errors-*.parquet'").fetchall()[0]
    assert errors == (4, 4)
    assert "3 video(s) ok, 4 failed" in result.stderr


def segfault_the_reader(fifo):
    """Waits for a decoder process to open the FIFO (opening its write end returns then), finds that process
    by its open file, and kills it with SIGSEGV, as a decoder bug would."""
    with open(fifo, "wb"):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(fifo) for fd in os.listdir(f"/proc/{pid}/fd")):
                    if pid != str(os.getpid()):
                        os.kill(int(pid), signal.SIGSEGV)
            except OSError:
                continue


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux) to drop root's file access")
def test_unreadable_file_is_one_permission_error_row(tmp_path, lite_model):
    """Root reads every file, so this run drops the capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH),
    as a run by an ordinary user has none of them."""
    folder = tmp_path / "archive"
    copy_videos(["bear_vp9_161x121_odd.webm", "swimming_person.gif"], folder)
    secret = next(folder.glob("01-*"))
    os.chmod(secret, 0)
    out = tmp_path / "tables"
    subprocess.run(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            *vidlabel_command("run", *IN_PROCESS, "--input", folder, "--output", out, "--model", lite_model),
        ],
        check=True,
        capture_output=True,
    )
    rows = dict(duckdb.sql(f"select video_uri, error from '{out}/videos-*.parquet'").fetchall())
    assert rows == {str(folder / "00-bear_vp9_161x121_odd.webm"): None, str(secret): "permission denied"}
