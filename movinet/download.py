"""Downloads from the internet, bounded: published TFLite files, TF Hub / Kaggle SavedModels, the Kinetics labels.

Every download vidlabel starts gives up after DOWNLOAD_TIMEOUT_S without a byte, and a body cut short (the server
closed the connection before its Content-Length) is an error, never a file in the cache. A model that cannot be had
is a `ModelError` that says what to do: vidlabel never falls back to random weights.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
import uuid
from typing import BinaryIO

from vidlabel.movinet.cache import cache_dir
from vidlabel.movinet.metadata import TFLITE_FILE
from vidlabel.transforms.errors import ModelError

# Seconds a download vidlabel starts may go without receiving a byte (connect included) before it is abandoned:
# a stalled server is an error within a minute, not a launcher that hangs.
DOWNLOAD_TIMEOUT_S = 30
OFFLINE_HELP = (
    "Without internet access, build a model with `vidlabel export-model --variant a0 --mode base --random_weights "
    "--out DIR` (or from a Model Garden checkpoint with --checkpoint) and pass `--model DIR`, or copy a downloaded "
    "SavedModel folder to this machine and pass its path."
)


class _Truncated(OSError):
    """A response body that ended before its Content-Length."""


class _CheckedBody:
    """A response whose reads raise `_Truncated` when the connection closes before Content-Length bytes came
    (http.client returns a short read as an ordinary end of data)."""

    def __init__(self, response: http.client.HTTPResponse):
        self._response = response
        self._received = 0

    def read(self, amt: int | None = None) -> bytes:
        try:
            data = self._response.read(amt)
        except http.client.IncompleteRead as exc:
            raise _Truncated(self._truncated(len(exc.partial), exc.expected)) from exc
        self._received += len(data)
        due = getattr(self._response, "length", None)  # http.client: the body's bytes still due; None: unknown
        if amt and not data and due:
            raise _Truncated(self._truncated(0, due))
        return data

    def _truncated(self, more: int, expected: int) -> str:
        return (
            f"the connection closed after {self._received + more:,} bytes of the body, {expected:,} more were "
            "due; try again"
        )

    def close(self) -> None:
        self._response.close()

    def __getattr__(self, name):
        return getattr(self._response, name)


# What a failed download raises: socket errors, timeouts, HTTP status errors (all OSError), a malformed or truncated
# response (http.client.HTTPException), and a URL urllib cannot parse (ValueError).
DOWNLOAD_ERRORS = (OSError, http.client.HTTPException, ValueError)


def download_problem(exc: BaseException) -> str:
    """A download failure in a few words, with what to check for the failures that have an obvious cause."""
    if isinstance(exc, urllib.error.HTTPError):
        hint = "; check the URL" if exc.code == 404 else ""
        return f"HTTP {exc.code} {exc.reason} from {exc.url}{hint}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):  # socket.timeout is TimeoutError
        return f"no data for {DOWNLOAD_TIMEOUT_S} s: the server stalled"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach the server: {exc.reason}"
    if isinstance(exc, _Truncated):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def fetch_url(url: str, out: BinaryIO) -> None:
    """Writes the body at `url` (http, https, ftp or file) to `out`; raises one of DOWNLOAD_ERRORS."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        body = _CheckedBody(response)
        while chunk := body.read(1 << 20):
            out.write(chunk)


def download_tflite(url: str) -> str:
    """Downloads a published .tflite file once into the cache. The file is written under a name of its own and
    renamed into place only when whole and a TFLite model, so an interrupted download (or a web page instead of the
    file) leaves nothing that a later run would take for the model."""
    target = os.path.join(cache_dir(), "models", hashlib.sha256(url.encode()).hexdigest()[:16], TFLITE_FILE)
    if os.path.exists(target):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = f"{target}.partial-{uuid.uuid4().hex}"
    try:
        with open(partial, "wb") as out:
            fetch_url(url, out)
        with open(partial, "rb") as f:
            if f.read(8)[4:8] != b"TFL3":  # the TFLite flatbuffer's file identifier
                raise ModelError(f"the file at {url} is not a TFLite model (no TFL3 identifier); check the URL")
        os.replace(partial, target)
    except DOWNLOAD_ERRORS as exc:
        raise ModelError(f"cannot download the model {url} ({download_problem(exc)}). {OFFLINE_HELP}") from exc
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def from_hub(handle: str) -> str:
    """Downloads (once) and caches a TF Hub / Kaggle model the way tensorflow-hub does, returning its folder.

    tensorflow-hub's own compressed-model resolver does the work (its cache layout, lock and atomic rename), with
    two changes in the one method it provides for overriding, `_call_urlopen`: the request gives up after
    DOWNLOAD_TIMEOUT_S without a byte (tensorflow-hub sets no timeout, so a stalled server would hang the launcher
    for good), and a body cut short is an error (http.client returns a short read silently, and the resolver would
    report a truncated archive as "not a valid module"). A lock left by a download that was killed is removed first
    (`_remove_dead_hub_lock`), where tensorflow-hub would wait ten minutes for it.
    """
    os.environ.setdefault("TFHUB_CACHE_DIR", os.path.join(cache_dir(), "tfhub"))
    from tensorflow_hub import compressed_module_resolver  # heavy: imported only when a hub model is asked for

    class Resolver(compressed_module_resolver.HttpCompressedFileResolver):
        def _call_urlopen(self, request):
            return _CheckedBody(urllib.request.urlopen(request, context=self._context, timeout=DOWNLOAD_TIMEOUT_S))

    try:
        _remove_dead_hub_lock(handle)
        return Resolver()(handle)
    except Exception as exc:  # tensorflow-hub raises OSError, tf.errors, ValueError (a bad archive) and more
        raise ModelError(f"cannot download the model {handle} ({download_problem(exc)}). {OFFLINE_HELP}") from exc


def _remove_dead_hub_lock(handle: str) -> None:
    """Removes tensorflow-hub's lock on `handle` (and its half-downloaded folder) when the process that wrote it is
    dead, so a launcher killed mid-download does not cost the next run ten minutes.

    tensorflow-hub writes `<module_dir>.lock` holding `<hostname>.<pid>.<task uid>` and downloads into
    `<module_dir>.<task uid>.tmp`; a process that is killed leaves both, and the next resolver waits until the
    temporary folder has not grown for ten minutes before it takes the lock. The owner is judged dead only when the
    lock was written on this host (same hostname) and no process with its pid exists, or that pid is a zombie, or
    it started after the lock was written (the pid was reused). A lock from another host (a cache on a shared disk)
    is never touched: its owner cannot be checked from here, and tensorflow-hub's own inactivity rule applies. A
    process alive under another user counts as alive. The one case this misjudges is another pid namespace with the
    same hostname sharing the cache (a container given the host's hostname but not its processes).
    """
    from tensorflow_hub import resolver

    cache = resolver.tfhub_cache_dir(use_temp=True)
    if not cache or "://" in cache:
        return
    module_dir = os.path.join(os.path.abspath(cache), hashlib.sha1(handle.encode("utf8")).hexdigest())
    lock = module_dir + ".lock"
    try:
        with open(lock, encoding="utf-8") as f:
            contents = f.read()
        written = os.stat(lock).st_mtime
    except OSError:
        return  # no lock (the usual case), or one that cannot be read: leave it to tensorflow-hub
    parts = contents.rsplit(".", 2)  # the hostname may hold dots; the pid and the task uid do not
    if len(parts) != 3:
        return
    owner_host, pid, task_uid = parts
    if owner_host != socket.gethostname() or not pid.isdigit() or _process_alive(int(pid), written):
        return
    with open(lock, encoding="utf-8") as f:
        if f.read() != contents:  # taken over since it was read: someone else's now
            return
    try:
        os.remove(lock)
    except FileNotFoundError:
        return
    shutil.rmtree(f"{module_dir}.{task_uid}.tmp", ignore_errors=True)
    print(f"vidlabel: removed the download lock {lock} left by process {pid}, which no longer runs", file=sys.stderr)


def _process_alive(pid: int, since: float) -> bool:
    """Whether process `pid` on this host runs and may be the one that wrote a file at time `since`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rpartition(")")[2].split()  # after "pid (command)", which may hold spaces
        with open("/proc/stat", encoding="utf-8") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, StopIteration, IndexError, ValueError):
        return True  # no /proc (macOS): kill(pid, 0) is all there is to go on
    if fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= since + 2  # a process started after the lock was written reuses a dead owner's pid
