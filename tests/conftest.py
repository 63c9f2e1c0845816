"""Shared fixtures: the real videos in ../shared, and one small real MoViNet exported with `vidlabel export-model`.

The exported model is the real A0 base architecture from Model Garden with seeded random weights, exported exactly as
the published SavedModels are; only its recorded resolution, rate and clip length are small, so tests whose subject
is not the model stay fast on two CPU cores.
"""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("VIDLABEL_SHARED", REPO.parent / "shared"))
VIDEOS = SHARED / "videos"
KINETICS_LABELS = SHARED / "labels" / "kinetics_600_labels.txt"

DECODABLE = {
    "anet_clean_and_jerk_h264.mp4",
    "bbb_vp8_vorbis_1s.webm",
    "bear_vp9_161x121_odd.webm",
    "countdown_10min_1fps.mkv",
    "k400_arm_wrestling_h264.mp4",
    "mug_rotate270_h264.mp4",
    "neuro_mjpeg_160x120_3frames.avi",
    "selfie_av1_aac.mp4",
    "swimming_person.gif",
}
UNDECODABLE = {"opus_audio_only.mp4", "vp9_invalid_bitstream.webm", "zero_bytes.webm"}

# Runs whose subject is not the runner go in the launcher's own process: one TensorFlow start-up and model load
# instead of one per worker process (~15 s less per run on two cores). test_pipeline and the kill test keep the
# default multi-process runner.
IN_PROCESS = ("--direct_running_mode", "in_memory", "--direct_num_workers", "1")

# The small test model: 32 px, 2 fps, clips of 8 frames (4 s).
SMALL = {"resolution": 32, "fps": 2, "frames": 8}


def vidlabel_command(*args) -> list[str]:
    """`vidlabel ARGS` as a command line for this interpreter (the installed console script's equivalent)."""
    return [sys.executable, "-m", "vidlabel.pipeline.cli", *map(str, args)]


def vidlabel(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    """Runs the installed `vidlabel` command as a user would."""
    result = subprocess.run(vidlabel_command(*args), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"vidlabel {' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result


# The two test models, exported by `vidlabel export-model` in background processes started as soon as the tests
# that need them are collected: Model Garden's exporter is mostly single-threaded Python taking minutes, so the two
# exports and the first tests share the two cores instead of waiting on each other.
def small_export_args(out, *mode) -> tuple:
    """`vidlabel export-model` arguments of a small test model (SMALL, seeded random weights, Kinetics labels)."""
    return (
        "export-model",
        "--variant",
        "a0",
        *mode,
        "--random_weights",
        "--seed",
        7,
        "--out",
        out,
        "--labels",
        KINETICS_LABELS,
        "--resolution",
        SMALL["resolution"],
        "--fps",
        SMALL["fps"],
        "--frames",
        SMALL["frames"],
    )


MODEL_EXPORTS = {
    "small_model": ("a0-small", ("--mode", "base")),
    "stream_model": ("a0-stream-small", ("--mode", "stream", "--tflite")),  # with its TFLite conversion
}
MODELS_DIR_ENV = "VIDLABEL_TEST_MODELS_DIR"  # set by the first pytest process; xdist workers inherit it


def pytest_configure(config):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not VIDEOS.is_dir():
        raise pytest.UsageError(f"the shared test videos are missing: expected {VIDEOS} (set VIDLABEL_SHARED)")
    if not hasattr(config, "workerinput"):  # the main process (alone, or the controller of xdist workers)
        os.environ[MODELS_DIR_ENV] = tempfile.mkdtemp(prefix="vidlabel-test-models-")


# Files whose tests take longest, started first: with xdist (`-n 2 --dist loadfile`, pytest.ini) each file runs on
# one worker, so the longest one bounds the suite unless it starts at once.
LONGEST_FIRST = ("test_finetune.py", "test_finetune_backbone.py")  # loadfile: one on each worker, first


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)  # stable: the rest keep their order


def pytest_collection_finish(session):
    """Starts the exports the collected tests need. With xdist workers (`-n 2`) every worker collects every test;
    the first to claim a model exports it, for all of them."""
    wanted = {name for item in session.items for name in getattr(item, "fixturenames", ()) if name in MODEL_EXPORTS}
    root = pathlib.Path(os.environ[MODELS_DIR_ENV])
    for fixture in sorted(wanted):
        folder, mode = MODEL_EXPORTS[fixture]
        try:
            os.close(os.open(root / f"{folder}.claimed", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            continue  # another worker exports it
        command = vidlabel_command(*small_export_args(root / folder, *mode))
        with open(root / f"{folder}.log", "w") as log:  # the status file is written when the export ends
            process = subprocess.Popen(
                ["sh", "-c", '"$@"; echo $? > "$0"', str(root / f"{folder}.status"), *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (root / f"{folder}.pid").write_text(str(process.pid))


def pytest_unconfigure(config):
    if hasattr(config, "workerinput") or MODELS_DIR_ENV not in os.environ:
        return  # the controller stops the exports once every worker is done
    root = pathlib.Path(os.environ[MODELS_DIR_ENV])
    for pid_file in root.glob("*.pid"):
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)  # an export no test waited for
        except ProcessLookupError:
            pass
    shutil.rmtree(root, ignore_errors=True)


def exported_model(fixture: str) -> pathlib.Path:
    root, folder = pathlib.Path(os.environ[MODELS_DIR_ENV]), MODEL_EXPORTS[fixture][0]
    status = root / f"{folder}.status"
    while not status.exists() or not status.read_text().strip():
        time.sleep(0.5)
    if status.read_text().strip() != "0":
        log = (root / f"{folder}.log").read_text()
        raise AssertionError(f"export-model for {fixture} exited {status.read_text().strip()}:\n{log[-4000:]}")
    return root / folder


@pytest.fixture(scope="session")
def small_model() -> pathlib.Path:
    """The real A0 base architecture (Model Garden), seeded random weights, exported as the published models are."""
    return exported_model("small_model")


@pytest.fixture(scope="session")
def stream_model() -> pathlib.Path:
    """The causal (2+1)D A0 stream model and its TFLite conversion (model.tflite), same seeded weights."""
    return exported_model("stream_model")


@pytest.fixture(scope="session")
def lite_model(stream_model) -> pathlib.Path:
    """The small TFLite model, for tests about runs, files and storage: LiteRT starts in milliseconds."""
    return stream_model / "model.tflite"


def rss_wrapper(tmp_path) -> pathlib.Path:
    """A script that runs `vidlabel` in this process and prints its peak resident memory (KiB) last."""
    script = tmp_path / "peak_rss.py"
    script.write_text(
        "import os, resource, sys\n"
        "from vidlabel.pipeline import cli\n"
        "status = cli.main(sys.argv[1:])\n"
        "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)\n"
        "sys.stderr.flush()\n"
        "os._exit(status)  # as the console script does\n"
    )
    return script


GCS_BUCKET = "vidlabel-test"


@pytest.fixture(scope="session")
def gcs(tmp_path_factory):
    """A real GCS JSON API server (gcp-storage-emulator) on loopback with the bucket GCS_BUCKET, and the environment
    that points google-cloud-storage and Beam's GCS file system at it, in this process and every process it starts
    (Beam workers, decoder processes). Credentials: an offline user token that never expires (the emulator ignores
    it), so neither library spends ~25 s probing for credentials."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
            "-q",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    credentials = tmp_path_factory.mktemp("gcs") / "credentials.json"
    credentials.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "vidlabel-tests",
                "client_secret": "-",
                "refresh_token": "-",
                "token": "offline",
                "expiry": "2999-01-01T00:00:00Z",
            }
        )
    )
    env = {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
        "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
        "GOOGLE_CLOUD_PROJECT": "vidlabel-tests",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("the GCS emulator did not start") from None
                time.sleep(0.1)
        client = storage.Client(credentials=AnonymousCredentials(), project="vidlabel-tests")
        client.create_bucket(GCS_BUCKET)
        yield client.bucket(GCS_BUCKET)
    finally:
        server.terminate()
        server.wait(timeout=30)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def upload(bucket, source: pathlib.Path, prefix: str) -> str:
    """Uploads a file, or a folder's files, to gs://BUCKET/prefix; returns that URI."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for path in files:
        name = prefix if source.is_file() else f"{prefix}/{path.relative_to(source).as_posix()}"
        bucket.blob(name).upload_from_filename(str(path))
    return f"gs://{bucket.name}/{prefix}"
