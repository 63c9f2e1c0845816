"""Process isolation for decoding: every video is decoded in a child process, so a hostile file costs one error row.

FFmpeg is native code. A crafted or damaged file can crash it (a segfault kills the whole Python process), make it
wait forever (a FIFO named like a video, a decoder stuck in a loop) or make it allocate without bound (a header
declaring a 60000x60000 frame). Inside a Beam worker any of these takes the worker down; the runner then retries
the bundle, meets the same file again, and the job fails. So `decode.DecodeClips` hands each video to a
`DecoderProcess`: a child Python process that runs `decode.decode_video` under an address-space limit and streams
the clips back over a socket. The parent waits at most `--decode_timeout_seconds` for each clip; a child that dies,
hangs or runs out of memory is replaced, and the video gets one error row (stage "decoder").

The child is started once per DoFn instance (`setup`) and decodes one video after another; it is restarted only
after a failure. Clips cross the socket as uint8, a few MB per clip at most.
"""

from __future__ import annotations

import ctypes
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from multiprocessing.connection import Connection

from vidlabel.transforms.types import ClipSpec, DecodeLimits, DecodeOptions, VideoError, VideoInfo

_PR_SET_PDEATHSIG = 1  # Linux prctl: signal the child when its parent dies
# How long a fresh child may take to import PyAV and vidlabel and say it is ready. Not counted in a file's
# --decode_timeout_seconds: on a loaded machine the start-up alone can exceed a short timeout, and a file must not
# be reported as hanging for it.
STARTUP_TIMEOUT_S = 120
_READY = "ready"


class DecoderProcess:
    """One child process that decodes videos one at a time: `decode(uri)` yields what `decode.decode_video` yields,
    and ends with a VideoError of its own when the child crashes, hangs or ran out of memory."""

    def __init__(self, spec: ClipSpec, limits: DecodeLimits, options: DecodeOptions = DecodeOptions()):
        self._spec = spec
        self._limits = limits
        self._options = options
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self.restarts = 0  # children replaced after a failure (a test and benchmark figure)

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        # Blocking, whatever the process's default socket timeout: Beam's GCS client sets one (60 s), which would
        # make both ends non-blocking, and Connection's plain reads would then fail with EAGAIN.
        ours.setblocking(True)
        theirs.setblocking(True)
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "vidlabel.transforms.sandbox", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        self._conn = Connection(ours.detach())
        self._conn.send((self._spec, self._limits, self._options))
        try:
            ready = self._conn.poll(STARTUP_TIMEOUT_S) and self._conn.recv() == _READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            status = self._process.poll()
            self.close()
            raise RuntimeError(
                "the decoder process did not start"
                + (f" ({describe_exit(status)})" if status is not None else f" within {STARTUP_TIMEOUT_S} s")
            )

    def decode(self, uri: str) -> Iterator:
        if self._process is None or self._process.poll() is not None:
            self.start()
        finished = False
        try:
            self._conn.send(uri)
            while True:
                if not self._conn.poll(self._limits.timeout_s):
                    self._replace()
                    yield VideoError(
                        video_uri=uri,
                        stage="decoder",
                        error_class="DecodeTimeout",
                        message=f"the decoder gave no clip for {self._limits.timeout_s:g} s and was stopped (a hang, "
                        "or a blocking file such as a FIFO; raise --decode_timeout_seconds for very slow files)",
                    )
                    finished = True
                    return
                try:
                    item = self._conn.recv()
                except (EOFError, OSError):
                    status = self._process.wait()
                    self._replace()
                    yield VideoError(
                        video_uri=uri, stage="decoder", error_class="DecoderCrashed", message=describe_exit(status)
                    )
                    finished = True
                    return
                finished = isinstance(item, (VideoInfo, VideoError))
                yield item
                if finished:
                    return
        finally:
            if not finished:  # the caller stopped early: the child is still sending this video's clips
                self._replace()

    def _replace(self) -> None:
        """Stops the child; the next `decode` starts a fresh one."""
        self.close()
        self.restarts += 1

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None


def describe_exit(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-status}"
        why = " (the system's out-of-memory killer, or a kill from outside)" if -status == signal.SIGKILL else ""
        return f"the decoder process crashed on this file with {name}{why}"
    return f"the decoder process exited with status {status} while decoding this file"


def serve(fd: int) -> None:
    """The child's loop: receive (spec, limits, options) once, then decode each URI received until the parent
    hangs up."""
    if sys.platform.startswith("linux"):  # die with the worker, even mid-hang, instead of lingering as an orphan
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    import av

    from vidlabel.transforms import decode

    conn = Connection(fd)
    spec, limits, options = conn.recv()
    # The limit is counted above what the process already holds (Python, FFmpeg, Beam's file systems: mostly
    # reserved and unused address space), so the flag means "what one video may take".
    if sys.platform.startswith("linux"):  # elsewhere RLIMIT_AS is not enforced; the timeout still applies
        limit = _address_space() + limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    av.logging.set_level(None)  # FFmpeg log callbacks from decoder threads can deadlock Python (PyAV caveats)
    conn.send(_READY)  # from here on the parent's per-file timeout runs
    while True:
        try:
            uri = conn.recv()
        except EOFError:
            return
        for item in decode.decode_video(uri, spec, limits, options):
            conn.send(item)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
