"""The fuzz benchmark (`bench/fuzz.py`) as tests: mutated real videos (bit flips, truncation, spliced headers, huge
declared dimensions) through the real pipeline. The default suite runs 40 inputs; `pytest -m slow` runs 1,000."""

import json
import subprocess
import sys

import pytest

from conftest import REPO


def fuzz(stream_model, tmp_path, count):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "fuzz.py"),
            "--count",
            str(count),
            "--work",
            str(tmp_path),
            "--model",
            str(stream_model / "model.tflite"),
            "--decode_timeout_seconds",
            "20",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(figures)
    assert figures["exit_status"] == 0 and figures["exactly_once"] and figures["inputs"] == count + 1
    assert figures["by_status"].get("ok", 0) > 0 and figures["by_status"].get("error", 0) > 0
    # Memory stays bounded: the decoder holds one 8192x8192 frame at most (~100 MB), never the damage's claims.
    assert figures["peak_decoder_rss_mib"] < 1024 and figures["peak_total_rss_mib"] < 3072
    return figures


def test_fuzz_40_inputs(stream_model, tmp_path):
    fuzz(stream_model, tmp_path, 40)


@pytest.mark.slow
def test_fuzz_1000_inputs(stream_model, tmp_path):
    fuzz(stream_model, tmp_path, 1000)
