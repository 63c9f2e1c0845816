"""What a user sees: a run's console holds the plan line, the progress bar and the summary, and nothing else on
success; TensorFlow's, Beam's and FFmpeg's own messages go to the run's log, published with the result. Real jobs
with the default multi-process runner (SDK workers and decoder children write to their inherited stderr), once
on a terminal (a pseudo-terminal) and once on a pipe."""

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading

import pytest

from conftest import IN_PROCESS, VIDEOS, vidlabel

CONSOLE_LINES = (
    re.compile(r"vidlabel: \d+ video\(s\) to label -> "),  # the plan line
    re.compile(r"labelling: +\d+%"),  # the progress bar, each of its redraws
    re.compile(r"vidlabel: done in [\d.]+ s: "),  # the summary
    re.compile(r"  (failed|tables): "),
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FILES = ["bbb_vp8_vorbis_1s.webm", "swimming_person.gif", "zero_bytes.webm"]  # one of them fails


def foreign_lines(console: str) -> list[str]:
    """The console's lines (tqdm redraws with carriage returns) that are none of the run's own."""
    lines = [ANSI.sub("", line).strip("\n") for line in re.split(r"[\r\n]", console)]
    return [line for line in lines if line.strip() and not any(p.match(line) for p in CONSOLE_LINES)]


def run_on_a_terminal(args, timeout=300) -> tuple[int, str]:
    """Runs the vidlabel command with stdout and stderr on a pseudo-terminal, as in a user's shell."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))  # 30 rows, 120 columns
    env = {**os.environ, "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "vidlabel.pipeline.cli", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read():
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    status = process.wait(timeout=timeout)
    reader.join(timeout=30)
    os.close(leader)
    return status, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console") / "videos"
    folder.mkdir()
    for name in FILES:
        shutil.copy(VIDEOS / name, folder / name)
    return folder


def test_a_run_on_a_terminal_shows_only_its_own_lines(archive, lite_model, tmp_path):
    out = tmp_path / "out"
    status, console = run_on_a_terminal(["run", "--input", archive, "--output", out, "--model", lite_model])
    assert status == 0, console[-3000:]
    assert "\r" in console and "labelling" in console  # a live bar, drawn in place
    assert foreign_lines(console) == [], console[-3000:]
    assert "2 video(s) ok, 1 failed" in console and f"log: {out}/run.log" in console
    log = (out / "run.log").read_text()
    assert log.strip(), "the workers' and libraries' messages went to the log"
    assert json.loads((out / "run.json").read_text())["log"] == "run.log"


def test_a_run_on_a_pipe_shows_only_its_own_lines(archive, lite_model, tmp_path):
    out = tmp_path / "out"
    result = vidlabel("run", "--input", archive, "--output", out, "--model", lite_model)
    assert result.stdout == ""
    assert foreign_lines(result.stderr) == [], result.stderr[-3000:]
    assert (out / "run.log").is_file()


def test_verbose_shows_everything_live_and_keeps_no_log(archive, lite_model, tmp_path):
    out = tmp_path / "out"
    result = vidlabel("run", *IN_PROCESS, "--input", archive, "--output", out, "--model", lite_model, "--verbose")
    assert "vidlabel: done in" in result.stderr
    assert not (out / "run.log").exists() and json.loads((out / "run.json").read_text())["log"] is None


def test_a_failed_job_says_so_in_full_and_keeps_its_log_until_the_next_success(archive, small_model, tmp_path):
    """A model whose weights are damaged passes the launch checks (they read the graph and the variables index)
    and fails when a worker loads it: the job stops, its error is printed, nothing is published, and the log is kept
    beside the output, named in the message."""
    damaged = tmp_path / "damaged"
    shutil.copytree(small_model, damaged)
    data = next((damaged / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:1000])
    out = tmp_path / "out"
    failed = vidlabel("run", *IN_PROCESS, "--input", archive, "--output", out, "--model", damaged, check=False)
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "Traceback" in failed.stderr and "vidlabel run: error: the job failed" in failed.stderr
    log = re.search(r"the run's log: (\S+)", failed.stderr).group(1)
    assert os.path.isfile(log) and log.startswith(f"{out}.runs/")
    assert not out.exists()

    vidlabel("run", *IN_PROCESS, "--input", archive, "--output", out, "--model", small_model)
    assert not os.path.exists(log) and (out / "run.log").is_file()
