"""The path every real user takes: `--model a0-base` (the default), any alias, or a published URL, resolved through
tensorflow-hub to the published models, with the Kinetics-600 labels fetched from their published location.

No test machine reaches tfhub.dev, Kaggle or GitHub, so a real HTTP server on loopback (`PublishedHost`) serves the
same paths the way those hosts do: a TF Hub handle answers `?tf-hub-format=compressed` with a redirect (tfhub.dev
sends everyone to Kaggle now) to a tar.gz of the SavedModel folder, the TFLite URL answers `?lite-format=tflite` with
the file, and the label file is at its raw.githubusercontent.com path. The SavedModel is the real A0 base export of
`small_model` without its `vidlabel.json` and `labels.txt`, as the published models come; so whatever vidlabel knows
about it comes from the URL, and its class names from the label download. The server can cut a body short, stall in
the middle of one, or answer 404, and it records every request, so a test can say that a second run downloads
nothing.
"""

import dataclasses
import hashlib
import http.server
import io
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse

import duckdb
import pytest

from vidlabel import movinet
from vidlabel.pipeline import cli
from vidlabel.pipeline.options import VidlabelOptions

from conftest import IN_PROCESS, KINETICS_LABELS, SMALL, VIDEOS

VIDEO = VIDEOS / "bbb_vp8_vorbis_1s.webm"
KINETICS = [line.strip() for line in KINETICS_LABELS.read_text().splitlines() if line.strip()]
FAST = ("--resolution", SMALL["resolution"], "--fps", SMALL["fps"], "--clip_seconds", 4)  # the small model's rate
LABELS_PATH = urllib.parse.urlsplit(movinet.published.KINETICS_600_LABELS_URL).path


def hub_path(variant: str, mode: str = "base") -> str:
    """A published handle's path on tfhub.dev (and on any mirror of it)."""
    return urllib.parse.urlsplit(movinet.published.PUBLISHED_HANDLE.format(variant=variant, mode=mode)).path


def kaggle_path(variant: str, mode: str = "base") -> str:
    """Where tfhub.dev redirects a handle: Kaggle's API form of the model's URL."""
    variation = f"{variant}-{mode}-kinetics-600-classification"
    return f"/models/google/movinet/frameworks/TensorFlow2/variations/{variation}/versions/3"


class PublishedHost:
    """tfhub.dev, Kaggle and raw.githubusercontent.com on loopback. `files` maps "path?query" to the body served
    there, `redirects` "path?query" to a 302 target; `faults` maps a "path?query" to "truncate" (half the body, then
    the connection closes), "stall" (half the body, then nothing until the test ends) or "404"."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.faults: dict[str, str] = {}
        self.requests: list[str] = []
        self.stalled = threading.Event()  # a stalled response has sent its first half
        self.release = threading.Event()
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host.requests.append(self.path)
                fault = host.faults.get(self.path)
                if self.path in host.redirects and fault != "404":
                    self.send_response(302)
                    self.send_header("Location", host.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = host.files.get(self.path)
                if body is None or fault == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault in ("truncate", "stall"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if fault == "stall":
                        host.stalled.set()
                        host.release.wait(300)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def publish_hub_model(self, tarball: bytes, variant: str = "a0", mode: str = "base") -> str:
        """Serves a SavedModel tarball as tfhub.dev does today: the handle redirects to Kaggle. Returns the handle."""
        query = "?tf-hub-format=compressed"
        self.redirects[hub_path(variant, mode) + query] = self.url + kaggle_path(variant, mode) + query
        self.files[kaggle_path(variant, mode) + query] = tarball
        return self.url + hub_path(variant, mode)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def hub_tarball(small_model) -> bytes:
    """The small model as TF Hub serves a published model: a tar.gz of the SavedModel folder, no vidlabel.json and no
    labels.txt in it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        tar.add(
            small_model,
            arcname=".",
            filter=lambda info: (
                None
                if os.path.basename(info.name) in (movinet.METADATA_FILE, movinet.LABELS_FILE, movinet.TFLITE_FILE)
                else info
            ),
        )
    return buffer.getvalue()


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A PublishedHost serving the label file, and this process's (and its children's) caches in tmp_path, with the
    label location pointed at the host (VIDLABEL_KINETICS_LABELS_URL, as a user behind a mirror would)."""
    server = PublishedHost()
    server.files[LABELS_PATH] = KINETICS_LABELS.read_bytes()
    monkeypatch.setenv("VIDLABEL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))
    monkeypatch.setenv(movinet.published.KINETICS_600_LABELS_URL_ENV, server.url + LABELS_PATH)
    for name in ("NO_PROXY", "no_proxy"):  # loopback never through a proxy a developer may have set
        monkeypatch.setenv(name, "127.0.0.1")
    try:
        yield server
    finally:
        server.close()


def run(*args) -> int:
    """`vidlabel run` in this process, as test_cli_errors does: one TensorFlow start-up for the whole file."""
    return cli.main(["run", *map(str, args), *IN_PROCESS])


def top_labels(out) -> list[str]:
    return [row[0] for row in duckdb.sql(f"select top_k[1].label from '{out}/predictions-*.parquet'").fetchall()]


def hub_cache_entries(tmp_path) -> list[str]:
    return sorted(os.listdir(tmp_path / "tfhub")) if (tmp_path / "tfhub").is_dir() else []


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# Aliases and URLs, without a network.

README_HANDLE = re.compile(
    r"https://tfhub\.dev/tensorflow/movinet/(a[0-5])/(base|stream)/kinetics-600/classification/3"
)
README_TFLITE = re.compile(
    r"https://tfhub\.dev/tensorflow/lite-model/movinet/(a[0-2])/stream/kinetics-600/classification/tflite/"
    r"(int8|float16)/1\?lite-format=tflite"
)


def test_the_aliases_are_exactly_the_published_handles():
    expected = {
        f"{v}-{m}": f"https://tfhub.dev/tensorflow/movinet/{v}/{m}/kinetics-600/classification/3"
        for v in ("a0", "a1", "a2", "a3", "a4", "a5")
        for m in ("base", "stream")
    }
    expected.update(
        {
            f"{v}-stream-tflite": f"https://tfhub.dev/tensorflow/lite-model/movinet/{v}/stream/kinetics-600/classification/"
            "tflite/float16/1?lite-format=tflite"
            for v in ("a0", "a1", "a2")
        }
    )
    assert movinet.ALIASES == expected
    for alias, url in movinet.ALIASES.items():
        match = README_TFLITE.fullmatch(url) if alias.endswith("-tflite") else README_HANDLE.fullmatch(url)
        assert match, (alias, url)
        variant, mode = alias.split("-")[:2]
        assert match.group(1) == variant and (alias.endswith("-tflite") or match.group(2) == mode)
        published = movinet.published_model(alias)
        assert (published.variant, published.mode, bool(published.tflite)) == (variant, mode, alias.endswith("-tflite"))
    assert VidlabelOptions([]).model == "a0-base"  # the default every first-time user gets


def test_an_alias_asks_for_exactly_its_published_handle(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(movinet.download, "from_hub", lambda handle: asked.append(handle) or str(tmp_path))
    monkeypatch.setattr(
        movinet.download, "download_tflite", lambda url: asked.append(url) or str(tmp_path / "m.tflite")
    )
    for alias, url in movinet.ALIASES.items():
        located = movinet.locate_model(alias)
        assert asked[-1] == url and located.published and located.metadata.source == url


A2_BASE = movinet.PublishedModel("a2", "base", None, 3)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://tfhub.dev/tensorflow/movinet/a2/base/kinetics-600/classification/3", A2_BASE),
        ("https://tfhub.dev/tensorflow/movinet/a2/base/kinetics-600/classification/3/", A2_BASE),
        (
            "https://tfhub.dev/tensorflow/movinet/a2/base/kinetics-600/classification/3?tf-hub-format=compressed",
            A2_BASE,
        ),
        # tfhub.dev's redirect target, and Kaggle's API form (either case of the framework, as Kaggle writes both)
        ("https://www.kaggle.com/models/google/movinet/tensorFlow2/a2-base-kinetics-600-classification/3", A2_BASE),
        ("https://www.kaggle.com/models/google/movinet/TensorFlow2/a2-base-kinetics-600-classification/3", A2_BASE),
        (
            "https://www.kaggle.com/models/google/movinet/frameworks/TensorFlow2/variations/a2-base-kinetics-600-"
            "classification/versions/3",
            A2_BASE,
        ),
        (
            "https://www.kaggle.com/models/google/movinet/TensorFlow2/a0-stream-kinetics-600-classification/2",
            movinet.PublishedModel("a0", "stream", None, 2),
        ),
        # mirrors and the loopback server: the host does not matter, nor a folder above the published path
        (
            "http://127.0.0.1:8123/tensorflow/movinet/a5/stream/kinetics-600/classification/3",
            movinet.PublishedModel("a5", "stream", None, 3),
        ),
        ("https://hub.tensorflow.google.cn/tensorflow/movinet/a2/base/kinetics-600/classification/3", A2_BASE),
        ("https://movinet.example.com/tfhub/tensorflow/movinet/a2/base/kinetics-600/classification/3", A2_BASE),
        # TFLite files
        (
            "https://tfhub.dev/tensorflow/lite-model/movinet/a0/stream/kinetics-600/classification/tflite/int8/1"
            "?lite-format=tflite",
            movinet.PublishedModel("a0", "stream", "int8", 1),
        ),
        (
            "https://tfhub.dev/tensorflow/lite-model/movinet/a1/stream/kinetics-600/classification/tflite/float16/1",
            movinet.PublishedModel("a1", "stream", "float16", 1),
        ),
        (
            "https://www.kaggle.com/models/google/movinet/tfLite/a2-stream-kinetics-600-classification-tflite-float16/1",
            movinet.PublishedModel("a2", "stream", "float16", 1),
        ),
        # not published MoViNet classifiers
        ("https://tfhub.dev/tensorflow/movinet/a6/base/kinetics-600/classification/3", None),
        ("https://tfhub.dev/tensorflow/movinet/a0/base/kinetics-400/classification/3", None),
        ("https://tfhub.dev/tensorflow/movinet/a0/base/kinetics-600/classification/3/extra", None),
        ("https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/5", None),
        ("https://tfhub.dev/tensorflow/lite-model/movinet/a0/base/kinetics-600/classification/tflite/int8/1", None),
        (
            "https://www.kaggle.com/models/google/movinet/TensorFlow2/a0-stream-kinetics-600-classification-tflite-int8/1",
            None,
        ),
        ("https://www.kaggle.com/models/google/movinet/tfLite/a0-stream-kinetics-600-classification/1", None),
        ("gs://bucket/tensorflow/movinet/a0/base/kinetics-600/classification/3", None),
        ("/models/tensorflow/movinet/a0/base/kinetics-600/classification/3", None),
    ],
)
def test_published_urls_are_recognised_whatever_the_host(url, expected):
    assert movinet.published_model(url) == expected
    if expected is None:
        return
    alias = f"{expected.variant}-{expected.mode}" + ("-tflite" if expected.tflite else "")
    located, by_alias = movinet.locate_model(url, offline=True), movinet.locate_model(alias, offline=True)
    assert located.published and located.metadata.source == url
    assert dataclasses.replace(located.metadata, source=None) == dataclasses.replace(by_alias.metadata, source=None)
    assert movinet.published_signature(url) == movinet.published_signature(alias)
    if expected.tflite:
        assert "lite-format=tflite" in located.path  # what is downloaded is the file, not the model's page


# Through the loopback server.


def test_a_published_handle_runs_end_to_end_through_tensorflow_hub_and_downloads_once(
    host, hub_tarball, tmp_path, capsys
):
    """Also: a model or label download cut short is a clear error that leaves nothing in the caches, and the next
    run succeeds (the healthy runs here are those next runs: each full run costs ~20 s on two cores)."""
    handle = host.publish_hub_model(hub_tarball)
    args = ("--input", VIDEO, "--output", tmp_path / "out", "--model", handle, *FAST)
    query = "?tf-hub-format=compressed"
    module = hashlib.sha1(handle.encode()).hexdigest()  # tensorflow-hub's cache entry for the handle
    for cut in (kaggle_path("a0") + query, LABELS_PATH):
        host.faults[cut] = "truncate"
        started = time.monotonic()
        assert run(*args) == 2
        assert time.monotonic() - started < 30
        err = capsys.readouterr().err
        expect = "cannot download the model" if cut != LABELS_PATH else "cannot download the Kinetics-600 labels"
        assert expect in err and "connection closed after" in err and "Traceback" not in err, err
        # tensorflow-hub removed its lock and temporary folder; no label file, whole or partial, in vidlabel's cache
        assert hub_cache_entries(tmp_path) == ([] if cut != LABELS_PATH else [module, f"{module}.descriptor.txt"])
        assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
        del host.faults[cut]
    assert host.requests == [hub_path("a0") + query, kaggle_path("a0") + query] * 2 + [LABELS_PATH]

    assert run(*args) == 0, capsys.readouterr().err
    assert host.requests[5:] == [LABELS_PATH]
    labels = top_labels(tmp_path / "out")
    assert labels and set(labels) <= set(KINETICS)  # the published labels, downloaded: the tarball has none
    assert hub_cache_entries(tmp_path) == [module, f"{module}.descriptor.txt"]
    assert (tmp_path / "cache" / "kinetics_600_labels.txt").read_bytes() == KINETICS_LABELS.read_bytes()

    assert run(*args, "--overwrite") == 0
    assert len(host.requests) == 6  # the second run downloads nothing
    assert top_labels(tmp_path / "out") == labels


def test_a_published_handle_typed_as_a_url_gets_its_alias_metadata_and_labels(host, hub_tarball, small_model, tmp_path):
    tfhub = host.publish_hub_model(hub_tarball, "a2")
    kaggle = f"{host.url}/models/google/movinet/tensorFlow2/a2-base-kinetics-600-classification/3"  # the model page's
    host.files[urllib.parse.urlsplit(kaggle).path + "?tf-hub-format=compressed"] = hub_tarball
    by_alias = movinet.locate_model("a2-base", offline=True)
    for url in (tfhub, kaggle):
        located = movinet.locate_model(url)
        assert located.published and os.path.isfile(os.path.join(located.path, "saved_model.pb"))
        assert located.path.startswith(str(tmp_path / "tfhub"))
        assert located.metadata == dataclasses.replace(by_alias.metadata, source=url)
        assert (located.metadata.variant, located.metadata.resolution, located.metadata.fps) == ("a2", 224, 5)
        assert movinet.load_labels(None, located) == KINETICS
    assert host.requests.count(LABELS_PATH) == 1  # downloaded once, then from the cache

    # A vidlabel export served at a published path knows itself best: its vidlabel.json wins over the path's.
    own = io.BytesIO()
    with tarfile.open(fileobj=own, mode="w:gz", compresslevel=1) as tar:
        tar.add(small_model, arcname=".")
    located = movinet.locate_model(host.publish_hub_model(own.getvalue(), "a1"))
    assert (located.metadata.resolution, located.metadata.fps) == (SMALL["resolution"], SMALL["fps"])


def test_the_published_tflite_model_downloads_once_into_the_cache_and_runs(host, lite_model, tmp_path, capsys):
    url = f"{host.url}/tensorflow/lite-model/movinet/a0/stream/kinetics-600/classification/tflite/float16/1"
    served = urllib.parse.urlsplit(url).path + "?lite-format=tflite"
    host.files[served] = lite_model.read_bytes()
    models_cache = tmp_path / "cache" / "models"

    host.faults[served] = "truncate"  # the connection closes halfway: a clear error, no file the next run would use
    assert run("--input", VIDEO, "--output", tmp_path / "out", "--model", url, *FAST) == 2
    err = capsys.readouterr().err
    assert "cannot download the model" in err and "connection closed after" in err and "Traceback" not in err, err
    assert not [p for p in models_cache.rglob("*") if p.is_file()]

    del host.faults[served]
    assert run("--input", VIDEO, "--output", tmp_path / "out", "--model", url, *FAST) == 0, capsys.readouterr().err
    (cached,) = [p for p in models_cache.rglob("*") if p.is_file()]
    assert cached.name == "model.tflite" and cached.read_bytes() == lite_model.read_bytes()
    labels = top_labels(tmp_path / "out")
    assert labels and set(labels) <= set(KINETICS)
    requests = len(host.requests)
    assert run("--input", VIDEO, "--output", tmp_path / "out", "--model", url, *FAST, "--overwrite") == 0
    assert len(host.requests) == requests
    assert host.requests.count(served) == 2  # the interrupted download and the one that went into the cache


@pytest.mark.parametrize("what", ["hub", "tflite", "labels"])
def test_a_stalled_server_is_given_up_on_within_the_download_timeout(host, hub_tarball, monkeypatch, tmp_path, what):
    monkeypatch.setattr(movinet.download, "DOWNLOAD_TIMEOUT_S", 2)
    tflite = f"{host.url}/tensorflow/lite-model/movinet/a1/stream/kinetics-600/classification/tflite/int8/1"
    host.files[urllib.parse.urlsplit(tflite).path + "?lite-format=tflite"] = b"\0\0\0\0TFL3" + bytes(1 << 20)
    handle = host.publish_hub_model(hub_tarball)
    stall = {"hub": kaggle_path("a0") + "?tf-hub-format=compressed", "labels": LABELS_PATH}.get(
        what, urllib.parse.urlsplit(tflite).path + "?lite-format=tflite"
    )
    host.faults[stall] = "stall"
    started = time.monotonic()
    with pytest.raises(movinet.ModelError, match="no data for 2 s: the server stalled"):
        movinet.load_labels(None, movinet.locate_model(tflite if what == "tflite" else handle))
    assert host.stalled.is_set() and time.monotonic() - started < 20
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    if what == "hub":
        assert hub_cache_entries(tmp_path) == []


def test_a_launcher_killed_mid_download_does_not_make_the_next_run_wait(host, hub_tarball, tmp_path, capsys):
    handle = host.publish_hub_model(hub_tarball)
    host.faults[kaggle_path("a0") + "?tf-hub-format=compressed"] = "stall"
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vidlabel.pipeline.cli",
            "run",
            *IN_PROCESS,
            "--input",
            str(VIDEO),
            "--output",
            str(tmp_path / "out"),
            "--model",
            handle,
            *map(str, FAST),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = tmp_path / "tfhub" / (hashlib.sha1(handle.encode()).hexdigest() + ".lock")
    try:
        assert host.stalled.wait(120), launcher.stderr.read() if launcher.poll() is not None else "no download"
        assert lock.exists()
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
    assert lock.exists() and len(hub_cache_entries(tmp_path)) == 2  # the lock and the half-downloaded folder
    assert lock.read_text().split(".")[-2] == str(launcher.pid)

    del host.faults[kaggle_path("a0") + "?tf-hub-format=compressed"]
    started = time.monotonic()
    assert run("--input", VIDEO, "--output", tmp_path / "out", "--model", handle, *FAST) == 0, capsys.readouterr().err
    assert time.monotonic() - started < 60  # tensorflow-hub alone would wait ten minutes on the dead lock
    assert f"left by process {launcher.pid}, which no longer runs" in capsys.readouterr().err
    module = hashlib.sha1(handle.encode()).hexdigest()
    assert hub_cache_entries(tmp_path) == [module, f"{module}.descriptor.txt"]


def test_only_a_lock_whose_owner_is_dead_on_this_host_is_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    handle = "https://tfhub.dev/tensorflow/movinet/a0/base/kinetics-600/classification/3"
    module = tmp_path / hashlib.sha1(handle.encode()).hexdigest()
    lock, here = pathlib.Path(f"{module}.lock"), socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        cases = [
            (f"{here}.{dead.pid}.uid1", 0, True),  # killed on this host: removed
            (f"other-host.example.{dead.pid}.uid2", 0, False),  # another host's: cannot be judged, kept
            (f"{here}.{alive.pid}.uid3", 0, False),  # running: kept
            (f"{here}.{alive.pid}.uid4", -3600, True),  # the lock is older than the process with its pid: reused
            (f"{here}.not-a-pid", 0, False),
        ]
        for contents, age, removed in cases:
            lock.write_text(contents)
            os.utime(lock, (time.time() + age, time.time() + age))
            tmp = pathlib.Path(f"{module}.{contents.rsplit('.', 1)[-1]}.tmp")
            tmp.mkdir()
            movinet.download._remove_dead_hub_lock(handle)
            assert lock.exists() != removed and tmp.exists() != removed, contents
            lock.unlink(missing_ok=True)
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.parametrize(
    "what, problem, expect",
    [
        ("model", "404", "HTTP 404 Not Found"),
        ("model", "closed", "cannot reach the server"),
        ("tflite", "404", "HTTP 404 Not Found"),
        ("tflite", "closed", "cannot reach the server"),
        ("labels", "404", "HTTP 404 Not Found"),
        ("labels", "closed", "cannot reach the server"),
        ("labels", "not the file", "is not the Kinetics-600 label file"),
    ],
)
def test_a_missing_or_unreachable_download_fails_fast_and_says_what_to_do(
    host, hub_tarball, tmp_path, capsys, monkeypatch, what, problem, expect
):
    handle = host.publish_hub_model(hub_tarball)
    base = host.url if problem != "closed" else closed_port_url()
    if what == "model":
        model = base + hub_path("a1")  # not served
    elif what == "tflite":
        model = base + "/tensorflow/lite-model/movinet/a0/stream/kinetics-600/classification/tflite/float16/1"
    else:
        model = handle
        labels_url = base + (LABELS_PATH if problem != "404" else "/missing.txt")
        monkeypatch.setenv(movinet.published.KINETICS_600_LABELS_URL_ENV, labels_url)
        host.files[LABELS_PATH] = b"<html>a proxy's login page</html>"
    started = time.monotonic()
    assert run("--input", VIDEO, "--output", tmp_path / "out", "--model", model, *FAST) == 2
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err, err
    if what == "labels":
        assert "--label_file FILE" in err and movinet.published.KINETICS_600_LABELS_URL_ENV in err
    else:
        assert "vidlabel export-model" in err  # what to do without the published model
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # nothing a later run would take
