"""Where a MoViNet model comes from, which of the three forms it is, what it expects, and its class names.

The three forms of the official tutorial:
- base: a SavedModel whose `serving_default` scores a whole clip [B, T, H, W, 3] at once (3D convolutions);
- stream: a SavedModel with `init_states` and `call` signatures; frames go through `call` one at a time with the
  states carried, so memory is constant on any clip or video length;
- tflite: the stream model converted to TFLite, run with LiteRT, states carried through its signature runner.

`--model` takes a published alias (`a0-base` ... `a5-base`, `a0-stream` ... `a5-stream`, `a0-stream-tflite` ...
`a2-stream-tflite`), a TF Hub / Kaggle URL, or a SavedModel folder or `.tflite` file, local or `gs://`. Everything
is resolved to local files before any work starts (hub downloads are cached by tensorflow-hub; other downloads and
gs:// copies go to vidlabel's cache), so workers only ever load local files. A model that cannot be had is a
`ModelError` that says what to do: vidlabel never falls back to random weights.

A URL whose path is a published MoViNet's (tfhub.dev's `/tensorflow/movinet/a2/base/kinetics-600/classification/3`,
the TFLite `/tensorflow/lite-model/movinet/...`, or Kaggle's `/models/google/movinet/TensorFlow2/a2-base-...`) is that
published model whatever the host, so a mirror serving the same paths works: it gets the variant's rate, resolution
and clip length, and the published Kinetics-600 labels, exactly as its alias does. Published models carry neither
`vidlabel.json` nor `labels.txt`. The label file's location can be moved with VIDLABEL_KINETICS_LABELS_URL (its
content is checked by sha256 either way).

Every download vidlabel starts gives up after DOWNLOAD_TIMEOUT_S without a byte, and a body cut short (the server
closed the connection before its Content-Length) is an error, never a file in the cache.

Models exported by `vidlabel export-model` carry `vidlabel.json` (variant, mode, rate, resolution, clip length,
which output holds the logits) and `labels.txt` beside the SavedModel, and `model.tflite` when asked for.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.client
import io
import json
import os
import posixpath
import re
import shutil
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import BinaryIO, NamedTuple, Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from vidlabel.transforms.listing import escape_glob, has_scheme, storage_problem
from vidlabel.transforms.types import MOVINET_VARIANTS, PUBLISHED_CLIP_SECONDS

METADATA_FILE = "vidlabel.json"
LABELS_FILE = "labels.txt"
TFLITE_FILE = "model.tflite"
STAGED_MODELS = "vidlabel-models"  # under the job's temp location: models staged for workers
MODES = ("base", "stream")
KINDS = ("base", "stream", "tflite")

PUBLISHED_HANDLE = "https://tfhub.dev/tensorflow/movinet/{variant}/{mode}/kinetics-600/classification/3"
PUBLISHED_TFLITE = (
    "https://tfhub.dev/tensorflow/lite-model/movinet/{variant}/stream/kinetics-600/classification/tflite/float16/1"
    "?lite-format=tflite"
)
ALIASES = {
    **{f"{v}-{mode}": PUBLISHED_HANDLE.format(variant=v, mode=mode) for v in MOVINET_VARIANTS for mode in MODES},
    **{f"{v}-stream-tflite": PUBLISHED_TFLITE.format(variant=v) for v in ("a0", "a1", "a2")},
}
# The label file the official MoViNet tutorial loads (Kinetics-600, in classifier order).
KINETICS_600_LABELS_URL = (
    "https://raw.githubusercontent.com/tensorflow/models/f8af2291cced43fc9f1d9b41ddbf772ae7b0d7d2/"
    "official/projects/movinet/files/kinetics_600_labels.txt"
)
# Where to get it instead (a mirror, an internal server, a file:// or gs:// copy); the sha256 is checked either way.
KINETICS_600_LABELS_URL_ENV = "VIDLABEL_KINETICS_LABELS_URL"
KINETICS_600_LABELS_SHA256 = "8dfca4202520ea8291ce0242ef33b006d0a0772b409663c090a2876bc1978dcf"  # checked on download
# Seconds a download vidlabel starts may go without receiving a byte (connect included) before it is abandoned:
# a stalled server is an error within a minute, not a launcher that hangs.
DOWNLOAD_TIMEOUT_S = 30
SERVING_SIGNATURE = "serving_default"
STREAM_SIGNATURES = ("init_states", "call")
INPUT_KEY = "image"
LOGITS_KEYS = ("classifier_head", "logits")  # published base models, then Model Garden's stream naming

OFFLINE_HELP = (
    "Without internet access, build a model with `vidlabel export-model --variant a0 --mode base --random_weights "
    "--out DIR` (or from a Model Garden checkpoint with --checkpoint) and pass `--model DIR`, or copy a downloaded "
    "SavedModel folder to this machine and pass its path."
)


class ModelError(Exception):
    """The model (or its labels) cannot be had or used; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    """What vidlabel needs to know about a model besides its weights (`vidlabel.json`)."""

    variant: Optional[str] = None
    mode: str = "base"  # the interface: "base" scores whole clips, "stream" carries states frame to frame
    architecture: Optional[str] = None  # the network, when it differs from `mode`: a fine-tuned causal (2+1)D
    # "stream" network exported with a whole-clip ("base") interface
    fps: Optional[float] = None
    resolution: Optional[int] = None
    clip_frames: Optional[int] = None
    num_classes: Optional[int] = None
    output_key: Optional[str] = None
    source: Optional[str] = None  # how the weights were made: checkpoint path, "random (seed N)", hub handle

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelMetadata":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclasses.dataclass(frozen=True)
class LocatedModel:
    """A model as a local SavedModel folder, with whatever metadata its source gives."""

    source: str  # what the user passed
    path: str  # local SavedModel folder or .tflite file
    metadata: ModelMetadata
    published: bool  # a published Kinetics-600 model: its labels can be fetched from the published location


def cache_dir() -> str:
    return os.environ.get("VIDLABEL_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "vidlabel")


class PublishedModel(NamedTuple):
    """A published MoViNet as its URL names it."""

    variant: str  # "a0" ... "a5"
    mode: str  # "base" or "stream"
    tflite: Optional[str]  # the TFLite file's quantisation ("float16", "int8"); None for the SavedModel
    version: int


_VARIANT = "|".join(MOVINET_VARIANTS)
# The paths the published models live at, matched whatever the host (and whatever folder a mirror puts them under):
# tfhub.dev's handles (which tfhub.dev redirects to Kaggle), tfhub.dev's TFLite files, and Kaggle's own two URL forms
# (the model page's `/TensorFlow2/<variation>/<version>` and the API's `/frameworks/.../variations/.../versions/...`;
# Kaggle writes the framework as TensorFlow2 or tensorFlow2, tfLite or TFLite).
_KAGGLE_VARIATION = (
    rf"(?P<variant>{_VARIANT})-(?P<mode>base|stream)-kinetics-600-classification(?:-tflite-(?P<tflite>int8|float16))?"
)
_PUBLISHED_PATHS = tuple(
    re.compile(r"(?:/.+)?" + pattern)
    for pattern in (
        rf"/tensorflow/movinet/(?P<variant>{_VARIANT})/(?P<mode>base|stream)/kinetics-600/classification/"
        rf"(?P<version>\d+)",
        rf"/tensorflow/lite-model/movinet/(?P<variant>{_VARIANT})/(?P<mode>stream)/kinetics-600/classification/tflite/"
        rf"(?P<tflite>int8|float16)/(?P<version>\d+)",
        rf"/models/google/movinet/(?P<framework>(?i:tensorflow2|tflite))/{_KAGGLE_VARIATION}/(?P<version>\d+)",
        rf"/models/google/movinet/frameworks/(?P<framework>(?i:tensorflow2|tflite))/variations/{_KAGGLE_VARIATION}"
        rf"/versions/(?P<version>\d+)",
    )
)


def published_model(model: str) -> Optional[PublishedModel]:
    """The published model an alias or an http(s) URL names, or None. A URL is recognised by its path alone, so the
    same model typed as a tfhub.dev handle, a Kaggle URL or a mirror's URL gets the same metadata as its alias."""
    if model in ALIASES:
        model = ALIASES[model]
    if not model.startswith(("http://", "https://")):
        return None
    path = urllib.parse.urlsplit(model).path.rstrip("/")
    for pattern in _PUBLISHED_PATHS:
        match = pattern.fullmatch(path)
        if not match:
            continue
        found = {"framework": None, "tflite": None, **match.groupdict()}
        if found["framework"] and (found["framework"].lower() == "tflite") != bool(found["tflite"]):
            return None  # a TFLite variation under the TensorFlow2 framework, or the reverse: not a published model
        if found["tflite"] and found["mode"] != "stream":
            return None  # only the stream models are published as TFLite
        return PublishedModel(found["variant"], found["mode"], found["tflite"], int(found["version"]))
    return None


def published_metadata(published: PublishedModel, source: str) -> ModelMetadata:
    """What the published models do not carry (they have no vidlabel.json): the variant's rate and resolution and
    the 10-second clips they were trained and evaluated on, Kinetics-600's 600 classes."""
    spec = MOVINET_VARIANTS[published.variant]
    return ModelMetadata(
        variant=published.variant,
        mode=published.mode,
        fps=spec.fps,
        resolution=spec.resolution,
        clip_frames=round(PUBLISHED_CLIP_SECONDS * spec.fps),
        num_classes=600,
        source=source,
    )


def locate_model(model: str, offline: bool = False) -> LocatedModel:
    """Resolves `--model` to a local SavedModel folder or .tflite file and its metadata, fetching as needed.
    `offline` (a dry run): a published model is not downloaded; its `path` stays the download URL."""
    published = published_model(model)
    if published:
        url = ALIASES.get(model, model)
        metadata = published_metadata(published, url)
        if offline:
            return LocatedModel(model, _tflite_url(url) if published.tflite else url, metadata, published=True)
        local = _download_to_cache(_tflite_url(url)) if published.tflite else _from_hub(url)
        if os.path.exists(os.path.join(local if os.path.isdir(local) else os.path.dirname(local), METADATA_FILE)):
            metadata = _read_metadata(local)  # a vidlabel export served at a published path: it knows itself best
        return LocatedModel(model, local, metadata, published=True)
    if model.startswith(("http://", "https://")):
        local = _download_to_cache(model) if "tflite" in model else _from_hub(model)
        return LocatedModel(model, local, _read_metadata(local), published=True)
    if model.startswith("gs://"):
        local = fetch_model(model)
        return LocatedModel(model, local, _read_metadata(local), published=False)
    if "://" in model:
        raise ModelError(f"--model {model}: unsupported scheme; use a local path, gs://, a hub URL or an alias "
                         f"({', '.join(ALIASES)})")
    if not os.path.exists(model):
        if "-" in model and "/" not in model:
            raise ModelError(f"--model {model}: unknown alias and no such file or folder. Aliases: {', '.join(ALIASES)}")
        raise ModelError(f"--model {model}: no such file or folder")
    if os.path.isdir(model) and not os.path.isfile(os.path.join(model, "saved_model.pb")):
        raise ModelError(f"--model {model}: not a SavedModel folder (no saved_model.pb in it)")
    local = os.path.abspath(model)
    return LocatedModel(model, local, _read_metadata(local), published=False)


def _tflite_url(url: str) -> str:
    """A published TFLite model's download URL: its page's URL with `lite-format=tflite` (without it tfhub.dev and
    Kaggle answer with the model's web page)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    if ("lite-format", "tflite") in query:
        return url
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query + [("lite-format", "tflite")])))


def content_sha256(path: str) -> str:
    """sha256 of a model file, or of a model folder's files (relative names and contents, in sorted order): what
    the run record cites, and what --incremental compares, to say which weights made a row."""
    if os.path.isfile(path):
        return _files_sha256([(os.path.basename(path), path)])
    return _files_sha256(_folder_files(path))


def _folder_files(folder: str) -> list[tuple[str, str]]:
    """(name relative to the folder, path) of every file below it, in name order."""
    return sorted(
        (os.path.relpath(os.path.join(root, name), folder), os.path.join(root, name))
        for root, _, names in os.walk(folder)
        for name in names
    )


def _files_sha256(files: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class ServingSignature(NamedTuple):
    """A model's interface, read without loading it: its form, input shape, logits output and class count."""

    kind: str  # "base", "stream" or "tflite"
    input_shape: tuple  # [B, T, H, W, 3]; None where dynamic
    output_key: str  # the output holding the logits
    num_classes: int


def published_signature(model: str) -> ServingSignature:
    """A published model's interface as its alias (or published URL) tells it, for a dry run that cannot download
    the model."""
    published = published_model(model)
    if published is None:
        raise ModelError(f"--model {model}: not a published model")
    if published.tflite:
        side = MOVINET_VARIANTS[published.variant].resolution
        return ServingSignature("tflite", (1, 1, side, side, 3), "logits", 600)
    if published.mode == "stream":
        return ServingSignature("stream", (None, 1, None, None, 3), "logits", 600)
    return ServingSignature("base", (None, None, None, None, 3), "classifier_head", 600)


def read_signature(path: str, output_key: Optional[str] = None) -> ServingSignature:
    """Checks that `path` holds a readable MoViNet classifier in one of the three forms and describes it.

    For a SavedModel the graph proto and the variables index are parsed (well under a second), where a full load
    restores about a thousand functions (~10-20 s for MoViNet), so the launcher can refuse a broken model before any
    work at little cost; the workers then load it for real. A .tflite file is opened with LiteRT (fast).
    """
    if not os.path.isdir(path):
        return _read_tflite_signature(path, output_key)
    from tensorflow.core.protobuf import saved_model_pb2
    import tensorflow as tf

    saved_model = saved_model_pb2.SavedModel()
    try:
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            saved_model.ParseFromString(f.read())
        tf.train.load_checkpoint(os.path.join(path, "variables", "variables")).get_variable_to_shape_map()
    except Exception as exc:
        raise ModelError(f"cannot load the SavedModel in {path}: {type(exc).__name__}: {exc}") from exc
    signatures = saved_model.meta_graphs[0].signature_def if saved_model.meta_graphs else {}
    if all(name in signatures for name in STREAM_SIGNATURES):
        kind, signature = "stream", signatures["call"]
    elif SERVING_SIGNATURE in signatures:
        kind, signature = "base", signatures[SERVING_SIGNATURE]
    else:
        raise ModelError(
            f"{path} has neither a '{SERVING_SIGNATURE}' signature (base model) nor 'init_states' and 'call' "
            f"(stream model); it has: {', '.join(signatures) or 'none'}"
        )

    def shape(tensor_info):
        return tuple(None if d.size < 0 else d.size for d in tensor_info.tensor_shape.dim)

    inputs = {name: shape(info) for name, info in signature.inputs.items()}
    outputs = {name: shape(info) for name, info in signature.outputs.items()}
    return _describe(path, kind, inputs, outputs, output_key)


def _read_tflite_signature(path: str, output_key: Optional[str]) -> ServingSignature:
    from ai_edge_litert.interpreter import Interpreter

    try:
        runner = Interpreter(model_path=path).get_signature_runner(SERVING_SIGNATURE)
    except Exception as exc:
        raise ModelError(f"cannot load the TFLite model {path}: {type(exc).__name__}: {exc}") from exc
    inputs = {name: tuple(d["shape"]) for name, d in runner.get_input_details().items()}
    outputs = {name: tuple(d["shape"]) for name, d in runner.get_output_details().items()}
    return _describe(path, "tflite", inputs, outputs, output_key)


def _describe(path: str, kind: str, inputs: dict, outputs: dict, output_key: Optional[str]) -> ServingSignature:
    if INPUT_KEY not in inputs:
        raise ModelError(f"{path}: the model takes {sorted(inputs)}, not '{INPUT_KEY}'")
    logits = {k: v for k, v in outputs.items() if k in LOGITS_KEYS or len(v) == 2} if kind != "base" else outputs
    key = output_key or _logits_key(logits, path)
    if key not in outputs:
        raise ModelError(f"{path}: no output named '{key}' (outputs: {sorted(outputs)})")
    num_classes = outputs[key][-1] if outputs[key] else None
    if not num_classes:
        raise ModelError(f"{path}: the output '{key}' has no fixed number of classes ({outputs[key]})")
    return ServingSignature(kind, tuple(inputs[INPUT_KEY]), key, int(num_classes))


def _logits_key(outputs: dict, local_dir: str) -> str:
    for key in LOGITS_KEYS:
        if key in outputs:
            return key
    if len(outputs) == 1:
        return next(iter(outputs))
    raise ModelError(
        f"{local_dir}: cannot tell which output holds the logits ({list(outputs)}); set output_key in its "
        f"{METADATA_FILE}"
    )


def _read_metadata(local_path: str) -> ModelMetadata:
    """`vidlabel.json` in a SavedModel folder, or beside a .tflite file."""
    folder = local_path if os.path.isdir(local_path) else os.path.dirname(local_path)
    path = os.path.join(folder, METADATA_FILE)
    if not os.path.exists(path):
        return ModelMetadata()
    with open(path, encoding="utf-8") as f:
        return ModelMetadata.from_json(f.read())


def _from_hub(handle: str) -> str:
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
        raise ModelError(f"cannot download the model {handle} ({_download_problem(exc)}). {OFFLINE_HELP}") from exc


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


class _Truncated(OSError):
    """A response body that ended before its Content-Length."""


class _CheckedBody:
    """A response whose reads raise `_Truncated` when the connection closes before Content-Length bytes came
    (http.client returns a short read as an ordinary end of data)."""

    def __init__(self, response: http.client.HTTPResponse):
        self._response = response
        self._received = 0

    def read(self, amt: Optional[int] = None) -> bytes:
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
        return (f"the connection closed after {self._received + more:,} bytes of the body, {expected:,} more were "
                "due; try again")

    def close(self) -> None:
        self._response.close()

    def __getattr__(self, name):
        return getattr(self._response, name)


# What a failed download raises: socket errors, timeouts, HTTP status errors (all OSError), a malformed or truncated
# response (http.client.HTTPException), and a URL urllib cannot parse (ValueError).
_DOWNLOAD_ERRORS = (OSError, http.client.HTTPException, ValueError)


def _download_problem(exc: BaseException) -> str:
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


def _fetch(url: str, out: BinaryIO) -> None:
    """Writes the body at `url` (http, https, ftp or file) to `out`; raises one of _DOWNLOAD_ERRORS."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        body = _CheckedBody(response)
        while chunk := body.read(1 << 20):
            out.write(chunk)


def _download_to_cache(url: str) -> str:
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
            _fetch(url, out)
        with open(partial, "rb") as f:
            if f.read(8)[4:8] != b"TFL3":  # the TFLite flatbuffer's file identifier
                raise ModelError(f"the file at {url} is not a TFLite model (no TFL3 identifier); check the URL")
        os.replace(partial, target)
    except _DOWNLOAD_ERRORS as exc:
        raise ModelError(f"cannot download the model {url} ({_download_problem(exc)}). {OFFLINE_HELP}") from exc
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def fetch_model(uri: str) -> str:
    """A model's local path on this machine: a local path as it is, a gs:// (or other remote) copy fetched into the
    cache. Workers call this when they load the model, so a model the launcher staged under the job's temp location
    reaches every worker without internet access."""
    if not has_scheme(uri):
        if not os.path.exists(uri):
            raise ModelError(f"the model {uri} is not on this machine (a local --model path only works on the local "
                             "runner; on Dataflow the launcher stages it under --temp_location)")
        return uri
    return _copy_to_cache(uri.rstrip("/"))


def stage_model(local_path: str, location: str) -> str:
    """Copies a resolved model (a SavedModel folder, or a .tflite file with its vidlabel.json and labels.txt) under
    `location`, the job's temp location, and returns its URI there, for workers to `fetch_model`.

    The copy is addressed by its content, so a model is uploaded once however many jobs use it, and a job never
    sees another model's files. A copy found there is reused only if every file is present at its size (a temp
    bucket's lifecycle rule may have deleted some since); otherwise it is uploaded again."""
    files = _model_files(local_path)
    target = f"{location.rstrip('/')}/{STAGED_MODELS}/{_files_sha256(files)[:16]}"
    uri = target if os.path.isdir(local_path) else f"{target}/{TFLITE_FILE}"
    staged = {m.path[len(target) + 1 :]: m.size_in_bytes for m in FileSystems.match([target + "/**"])[0].metadata_list}
    if staged == {name: os.path.getsize(path) for name, path in files}:
        return uri
    for name, path in files:
        with open(path, "rb") as src, FileSystems.create(
            f"{target}/{name}", compression_type=CompressionTypes.UNCOMPRESSED
        ) as dest:
            while chunk := src.read(1 << 20):
                dest.write(chunk)
    return uri


def _model_files(local_path: str) -> list[tuple[str, str]]:
    """(staged name, local path) of a model's files: every file of a SavedModel folder; a TFLite file (staged as
    model.tflite, the name workers recognise) and the metadata and labels beside it."""
    if os.path.isdir(local_path):
        return _folder_files(local_path)
    folder = os.path.dirname(local_path)
    beside = [(n, os.path.join(folder, n)) for n in (METADATA_FILE, LABELS_FILE) if os.path.exists(os.path.join(folder, n))]
    return [(TFLITE_FILE, local_path)] + beside


def _copy_to_cache(uri: str) -> str:
    """Copies a remote SavedModel folder, or a .tflite file with the metadata and labels beside it, into the local
    cache (TensorFlow's GCS client does not reach emulators, and LiteRT reads local files only).

    The cache entry is named by the URI and the objects' sizes and update times, so a model replaced at the same
    URI is fetched again. Worker processes on one machine may fetch at once: each copies into a folder of its own
    and renames it into place; the first rename wins."""
    is_file = uri.endswith(".tflite")
    folder = uri.rsplit("/", 1)[0] if is_file else uri
    try:
        if is_file:
            wanted = [uri] + [f"{folder}/{name}" for name in (METADATA_FILE, LABELS_FILE)]
            found = [m for result in FileSystems.match([escape_glob(p) for p in wanted]) for m in result.metadata_list]
            if uri not in {m.path for m in found}:
                raise ModelError(f"--model {uri}: no such object")
        else:
            found = FileSystems.match([escape_glob(uri) + "/**"])[0].metadata_list
            if not any(posixpath.basename(m.path) == "saved_model.pb" for m in found):
                raise ModelError(f"--model {uri}: no SavedModel there (no saved_model.pb below it)")
    except OSError as exc:  # Beam's BeamIOError: a missing bucket, no permission, no network
        raise ModelError(f"--model {uri}: cannot list it ({storage_problem(exc)})") from exc
    version = "\n".join(f"{m.path} {m.size_in_bytes} {m.last_updated_in_seconds}" for m in sorted(found, key=lambda m: m.path))
    target = os.path.join(cache_dir(), "models", hashlib.sha256(f"{uri}\n{version}".encode()).hexdigest()[:16])
    local = os.path.join(target, posixpath.basename(uri)) if is_file else target
    if os.path.isdir(target):
        return local
    partial = f"{target}.partial-{uuid.uuid4().hex}"
    try:
        for m in found:
            dest = os.path.join(partial, os.path.normpath(m.path[len(folder) + 1 :]))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with FileSystems.open(m.path, compression_type=CompressionTypes.UNCOMPRESSED) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        os.rename(partial, target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not os.path.isdir(target):  # not another process that got there first with the same files
            raise
    return local


def load_labels(labels: Optional[str], located: LocatedModel) -> list[str]:
    """Class names in classifier order: `--label_file`, else the model's own labels.txt, else (published models only)
    the published Kinetics-600 file, downloaded once and cached."""
    if labels:
        if not FileSystems.exists(labels):
            raise ModelError(f"--label_file {labels}: no such file")
        with FileSystems.open(labels, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return _parse_labels(f.read())
    folder = located.path if os.path.isdir(located.path) else os.path.dirname(located.path)
    own = os.path.join(folder, LABELS_FILE)
    if os.path.exists(own):
        with open(own, "rb") as f:
            return _parse_labels(f.read())
    if located.published:
        return _parse_labels(_cached_kinetics_labels())
    raise ModelError(
        f"the model {located.source} has no {LABELS_FILE} beside it: pass --label_file FILE (one class name a line, in "
        "classifier order; for Kinetics-600 models the file the MoViNet tutorial uses)"
    )


def _parse_labels(data: bytes) -> list[str]:
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


def kinetics_labels_url() -> str:
    """Where the published models' labels come from: VIDLABEL_KINETICS_LABELS_URL if set, else the published file."""
    return os.environ.get(KINETICS_600_LABELS_URL_ENV) or KINETICS_600_LABELS_URL


def _cached_kinetics_labels() -> bytes:
    """The Kinetics-600 label file, downloaded once into the cache. Whatever the location, the bytes must be the
    published file's (sha256): a mirror's or proxy's page, or a file cut short, is refused and not cached."""
    path = os.path.join(cache_dir(), "kinetics_600_labels.txt")
    if not os.path.exists(path):
        url = kinetics_labels_url()
        where = f"{url} (from {KINETICS_600_LABELS_URL_ENV})" if url != KINETICS_600_LABELS_URL else url
        data = io.BytesIO()
        try:
            if urllib.parse.urlsplit(url).scheme in ("http", "https", "ftp", "file"):
                _fetch(url, data)
            else:  # a local path or gs://
                with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    data.write(f.read())
        except _DOWNLOAD_ERRORS as exc:
            raise ModelError(
                f"cannot download the Kinetics-600 labels from {where}: {_download_problem(exc)}; pass --label_file "
                f"FILE with the 600 class names, or set {KINETICS_600_LABELS_URL_ENV} to where a copy of the file is"
            ) from exc
        if hashlib.sha256(data.getvalue()).hexdigest() != KINETICS_600_LABELS_SHA256:
            raise ModelError(
                f"the file at {where} is not the Kinetics-600 label file (sha256 differs from "
                f"{KINETICS_600_LABELS_SHA256[:12]}...); pass --label_file FILE or set {KINETICS_600_LABELS_URL_ENV}"
            )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.partial-{uuid.uuid4().hex}"
        with open(partial, "wb") as f:
            f.write(data.getvalue())
        os.replace(partial, path)
    with open(path, "rb") as f:
        return f.read()
