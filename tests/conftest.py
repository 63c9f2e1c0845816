"""Shared fixtures: the real videos in ../shared, and one small real MoViNet exported with `vidlabel export-model`.

The exported model is the real A0 base architecture from Model Garden with seeded random weights, exported exactly as
the published SavedModels are; only its recorded resolution, rate and clip length are small, so tests whose subject
is not the model stay fast on two CPU cores.
"""
import os
import pathlib
import subprocess
import sys

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


def pytest_configure(config):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not VIDEOS.is_dir():
        raise pytest.UsageError(f"the shared test videos are missing: expected {VIDEOS} (set VIDLABEL_SHARED)")


def vidlabel(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    """Runs the installed `vidlabel` command as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "vidlabel.pipeline.cli", *map(str, args)], capture_output=True, text=True, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"vidlabel {' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("models") / "a0-small"
    vidlabel(
        "export-model", "--variant", "a0", "--mode", "base", "--random_weights", "--seed", "7", "--out", out,
        "--labels", KINETICS_LABELS, "--resolution", SMALL["resolution"], "--fps", SMALL["fps"],
        "--frames", SMALL["frames"],
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def stream_model(tmp_path_factory) -> pathlib.Path:
    """The causal (2+1)D A0 stream model and its TFLite conversion (model.tflite), same seeded weights."""
    out = tmp_path_factory.mktemp("models") / "a0-stream-small"
    vidlabel(
        "export-model", "--variant", "a0", "--mode", "stream", "--tflite", "--random_weights", "--seed", "7",
        "--out", out, "--labels", KINETICS_LABELS, "--resolution", SMALL["resolution"], "--fps", SMALL["fps"],
        "--frames", SMALL["frames"],
    )  # fmt: skip
    return out


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
