"""gs:// everywhere a path is taken, against a real GCS JSON API server on loopback (gcp-storage-emulator): inputs,
manifests, outputs, models and labels through Beam's GCS file system and google-cloud-storage, in the launcher, the
Beam worker processes and the decoder processes. And the Dataflow job, built and validated offline by a dry run."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import traceback

import apache_beam as beam
import duckdb
import numpy as np
import pytest
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from vidlabel import movinet
from vidlabel.pipeline import cli, publish
from vidlabel.transforms.inference import MovinetHandler
from vidlabel.transforms.types import ClipKey

from conftest import GCS_BUCKET, IN_PROCESS, KINETICS_LABELS, REPO, VIDEOS, upload, vidlabel

NAMES = ["anet_clean_and_jerk_h264.mp4", "bear_vp9_161x121_odd.webm", "swimming_person.gif", "zero_bytes.webm"]
MANIFEST = (
    "# listed twice (by the folder too), and one that is not there\nvideos/anet_clean_and_jerk_h264.mp4\nmissing.mp4\n"
)
# Columns that say where a video or the model is stored (paths, update times, the storage client's error class)
# rather than what the video holds; a NotFound from GCS is a FileNotFoundError locally, both "file not found".
STORAGE_COLUMNS = {"video_uri", "run_id", "file_modified", "error_class", "model"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """vidlabel's model cache for this module's runs, in this process and the ones it starts."""
    path = tmp_path_factory.mktemp("cache")
    saved = os.environ.get("VIDLABEL_CACHE_DIR")
    os.environ["VIDLABEL_CACHE_DIR"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("VIDLABEL_CACHE_DIR")
    else:
        os.environ["VIDLABEL_CACHE_DIR"] = saved


@pytest.fixture(scope="module")
def runs(gcs, cache, lite_model, tmp_path_factory):
    """The same job twice: local folder and manifest -> local output, and gs:// -> gs:// (default multi-process
    runner: the workers and their decoder processes read and write the bucket themselves)."""
    local = tmp_path_factory.mktemp("local")
    (local / "videos").mkdir()
    for name in NAMES:
        shutil.copy(VIDEOS / name, local / "videos" / name)
        upload(gcs, VIDEOS / name, f"videos/{name}")
    (local / "manifest.txt").write_text(MANIFEST)
    gcs.blob("manifest.txt").upload_from_string(MANIFEST)
    model = upload(gcs, lite_model.parent, "models/lite") + "/model.tflite"

    vidlabel(
        "run",
        *IN_PROCESS,
        "--input",
        local / "videos",
        "--manifest",
        local / "manifest.txt",
        "--output",
        local / "out",
        "--model",
        lite_model,
    )
    bucket = f"gs://{GCS_BUCKET}"
    result = vidlabel(
        "run",
        "--input",
        f"{bucket}/videos/",
        "--manifest",
        f"{bucket}/manifest.txt",
        "--output",
        f"{bucket}/out",
        "--model",
        model,
    )
    return {"local": str(local / "out"), "gs": f"{bucket}/out", "model": model, "stderr": result.stderr}


def table_rows(folder, table):
    """A table's rows, by file name, without the columns that say where the file or model lives."""
    rows = publish.read_table(folder, table).to_pylist()
    for row in rows:
        row["name"] = row["video_uri"].rsplit("/", 1)[-1]
        for column in STORAGE_COLUMNS & row.keys():
            del row[column]
    return sorted(rows, key=lambda r: (r["name"], r.get("clip_index", 0)))


@pytest.mark.parametrize("table", ["predictions", "videos", "errors"])
def test_gs_to_gs_rows_equal_the_local_run(runs, table):
    local, remote = table_rows(runs["local"], table), table_rows(runs["gs"], table)
    assert remote == local
    assert len(remote) > 0


def test_gs_run_labels_each_listed_object_once_and_reports_a_missing_one(runs):
    videos = publish.read_table(runs["gs"], "videos")  # through Beam's GCS file system, queried with DuckDB
    rows = (
        duckdb.from_arrow(videos).query("videos", "select video_uri, status, error from videos order by 1").fetchall()
    )
    assert [r[0] for r in rows] == sorted(
        f"gs://{GCS_BUCKET}/{n}" for n in ["missing.mp4", *(f"videos/{x}" for x in NAMES)]
    )
    assert dict((r[0].rsplit("/", 1)[-1], r[1:]) for r in rows)["missing.mp4"] == ("error", "file not found")
    assert sum(status == "ok" for _, status, _ in rows) == 3


def test_gs_output_is_published_with_its_marker_last_and_no_staging_left(gcs, runs):
    blobs = {b.name: b for b in gcs.client.list_blobs(GCS_BUCKET, prefix="out")}
    record = json.loads(blobs["out/run.json"].download_as_bytes())
    tables = {name: b for name, b in blobs.items() if name.endswith(".parquet")}
    assert sorted(f"out/{f}" for f in record["files"]) == sorted(tables)
    assert all(blobs["out/run.json"].updated > b.updated for b in tables.values())  # written after them (µs clock)
    assert not [name for name in blobs if name.startswith("out.runs/")]
    assert record["model"]["name"] == runs["model"] and record["counts"]["listed"] == 5


def test_a_publication_killed_midway_is_finished_by_the_next_run(gcs, runs):
    """A run killed after deleting the old marker leaves its complete staging folder; the next run publishes it
    before anything else (then, with --incremental, keeps its rows)."""
    killed = "20990101T000000Z-killed00"
    for name in publish.staged_files(runs["gs"]) + [publish.RUN_LOG, publish.RUN_RECORD]:  # as a run stages them
        gcs.copy_blob(gcs.blob(f"out/{name}"), gcs, f"out.runs/{killed}/{name}")
    record = json.loads(gcs.blob(f"out.runs/{killed}/run.json").download_as_bytes())
    gcs.blob(f"out.runs/{killed}/run.json").upload_from_string(json.dumps({**record, "run_id": killed}))
    gcs.blob("out/run.json").delete()
    assert publish.published_result(runs["gs"]) is None

    bucket = f"gs://{GCS_BUCKET}"
    vidlabel(
        "run",
        *IN_PROCESS,
        "--input",
        f"{bucket}/videos/",
        "--manifest",
        f"{bucket}/manifest.txt",
        "--output",
        runs["gs"],
        "--model",
        runs["model"],
        "--incremental",
    )
    record = publish.read_record(runs["gs"])
    assert record["previous_run"] == killed
    assert record["counts"]["kept"] == 4 and record["counts"]["labelled"] == 1  # the missing object is retried
    assert not [b.name for b in gcs.client.list_blobs(GCS_BUCKET, prefix="out.runs/")]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--input", "gs://no-such-bucket/videos/"], "the bucket gs://no-such-bucket does not exist"),
        (["--input", f"gs://{GCS_BUCKET}/videos/none.mp4"], "no such object"),
        (["--manifest", f"gs://{GCS_BUCKET}/none.txt"], "--manifest gs://vidlabel-test/none.txt: no such file"),
        (
            ["--output", "gs://no-such-bucket/out"],
            "--output gs://no-such-bucket/out: the bucket gs://no-such-bucket does not exist",
        ),
        (["--model", f"gs://{GCS_BUCKET}/models/none"], "no SavedModel there"),
        (["--model", f"gs://{GCS_BUCKET}/models/lite/none.tflite"], "no such object"),
        (["--model", "gs://no-such-bucket/model.tflite"], "--model gs://no-such-bucket/model.tflite: the bucket"),
        (["--label_file", f"gs://{GCS_BUCKET}/none.txt"], "--label_file gs://vidlabel-test/none.txt: no such file"),
    ],
)
def test_missing_buckets_and_objects_stop_the_job_with_a_clear_error(gcs, runs, capsys, flags, message):
    defaults = {
        "--input": f"gs://{GCS_BUCKET}/videos/",
        "--output": f"gs://{GCS_BUCKET}/elsewhere",
        "--model": runs["model"],
    }
    args = dict(defaults, **dict(zip(flags[::2], flags[1::2])))
    status = cli.main(["run", *IN_PROCESS, *(x for kv in args.items() for x in kv)])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not list(gcs.client.list_blobs(GCS_BUCKET, prefix="elsewhere"))  # a refused job leaves nothing behind


def test_savedmodel_on_gs_is_staged_fetched_and_scores_like_the_local_copy(gcs, cache, small_model):
    signature = movinet.read_signature(str(small_model))
    uri = movinet.stage_model(str(small_model), f"gs://{GCS_BUCKET}/tmp")
    assert re.fullmatch(rf"gs://{GCS_BUCKET}/tmp/{movinet.STAGED_MODELS}/[0-9a-f]{{16}}", uri)
    generation = gcs.get_blob(f"{uri.split('/', 3)[3]}/saved_model.pb").generation
    assert movinet.stage_model(str(small_model), f"gs://{GCS_BUCKET}/tmp") == uri  # content-addressed: not copied again
    assert gcs.get_blob(f"{uri.split('/', 3)[3]}/saved_model.pb").generation == generation

    fetched = movinet.fetch_model(uri)
    assert fetched.startswith(str(cache)) and movinet.content_sha256(fetched) == movinet.content_sha256(
        str(small_model)
    )
    handler = MovinetHandler(uri, signature, max_batch_size=1, model_name="m")  # fetches into the cache, loads
    clip = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    (result,) = handler.run_inference([(ClipKey("v", 0, 0.0, 4.0, 0, 7), clip)], handler.load_model())
    assert result.inference.probabilities.shape == (600,) and result.inference.probabilities.sum() == pytest.approx(
        1.0, abs=1e-5
    )


def test_a_model_replaced_at_the_same_uri_is_fetched_again(gcs, cache, lite_model):
    uri = upload(gcs, lite_model.parent, "models/replaced") + "/model.tflite"
    first = movinet.fetch_model(uri)
    labels = (lite_model.parent / "labels.txt").read_bytes()
    gcs.blob("models/replaced/labels.txt").upload_from_string(labels.swapcase())  # same size, newer object
    second = movinet.fetch_model(uri)
    assert first != second
    assert open(os.path.join(os.path.dirname(second), "labels.txt"), "rb").read() == labels.swapcase()
    assert movinet.fetch_model(uri) == second  # unchanged since: the cached copy


def test_a_worker_that_cannot_load_the_model_fails_the_job_at_set_up(gcs, cache, lite_model):
    """RunInference loads the model in its DoFn's setup: a missing staged model fails the job before any clip is
    scored, with the reason, instead of failing clip by clip."""
    signature = movinet.read_signature(str(lite_model))
    handler = MovinetHandler(f"gs://{GCS_BUCKET}/tmp/gone/model.tflite", signature, max_batch_size=1, model_name="m")
    clip = np.zeros((8, 32, 32, 3), np.uint8)
    with pytest.raises(movinet.ModelError, match="no such object") as failure:
        with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
            _ = pipeline | beam.Create([(ClipKey("v", 0, 0.0, 4.0, 0, 7), clip)]) | RunInference(handler)
    frames = re.findall(r"line \d+, in (\w+)", "".join(traceback.format_exception(failure.value)))
    assert "setup" in frames and frames.index("setup") < frames.index("fetch_model")
    assert "run_inference" not in frames


def dry_run(*flags):
    """run_dataflow.sh --dry_run with no credentials and no emulator: nothing may reach the network."""
    env = {k: v for k, v in os.environ.items() if k not in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS")}
    env["VIDLABEL_VENV"] = os.path.dirname(os.path.dirname(sys.executable))  # this venv: nothing to install
    return subprocess.run(
        [
            "bash",
            str(REPO / "run_dataflow.sh"),
            "--project",
            "my-project",
            "--region",
            "europe-west4",
            "--bucket",
            "my-archive",
            *map(str, flags),
            "--dry_run",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_dataflow_dry_run_builds_the_job_offline_and_packages_vidlabel(lite_model):
    """No network, no credentials: the job is built, validated and packaged for the workers (setup.py sdist), and
    the checks that need the network are skipped with a note."""
    result = dry_run("--input", "gs://my-archive/videos/", "--output", "gs://my-archive/labels", "--model", lite_model)
    assert result.returncode == 0, result.stderr[-3000:]
    err = result.stderr
    assert "dry run: the job is valid and was not submitted" in err
    assert "dry run (no network): the bucket gs://my-archive was not checked" in err
    assert "the model was not copied to gs://my-archive/tmp/vidlabel-models/" in err
    assert "n2-standard-4 x up to 10, 2 threads" in err
    assert "Unable to find default credentials" not in err  # no credential probe
    sdist = re.search(r"would stage workflow\.tar\.gz <- (\S+\.tar\.gz)", err).group(1)
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {
        "setup.py",
        "pipeline/cli.py",
        "pipeline/plan.py",
        "transforms/inference.py",
        "movinet/source.py",
        "pipeline/commands/plot.py",
        "transforms/sandbox.py",
    } <= names


def test_run_dataflow_gpu_dry_run_and_refusals(lite_model):
    image = "europe-docker.pkg.dev/my-project/vidlabel/worker:gpu"
    gpu = dry_run(
        "--input",
        "gs://my-archive/videos/",
        "--output",
        "gs://my-archive/labels",
        "--model",
        lite_model,
        "--gpu",
        "nvidia-l4:2",
        "--sdk_container_image",
        image,
    )
    assert gpu.returncode == 0, gpu.stderr[-3000:]
    assert f"g2-standard-24 x up to 10, 8 threads, image {image}" in gpu.stderr
    assert "worker_accelerator=type:nvidia-l4;count:2;install-nvidia-driver" in gpu.stderr
    assert "workflow.tar.gz" not in gpu.stderr  # the image holds vidlabel

    no_image = dry_run("--input", "gs://my-archive/videos/", "--output", "gs://my-archive/labels", "--gpu", "nvidia-l4")
    assert no_image.returncode == 2 and "--gpu needs --sdk_container_image" in no_image.stderr
    local = dry_run("--input", VIDEOS, "--output", "gs://my-archive/labels", "--label_file", KINETICS_LABELS)
    assert local.returncode == 2 and "workers on DataflowRunner cannot read this machine's files" in local.stderr
