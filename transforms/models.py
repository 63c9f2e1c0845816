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

Models exported by `vidlabel export-model` carry `vidlabel.json` (variant, mode, rate, resolution, clip length,
which output holds the logits) and `labels.txt` beside the SavedModel, and `model.tflite` when asked for.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import posixpath
import shutil
import urllib.request
import uuid
from typing import NamedTuple, Optional

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
KINETICS_600_LABELS_SHA256 = "8dfca420"  # prefix of the published file's sha256, checked after download
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


def locate_model(model: str, offline: bool = False) -> LocatedModel:
    """Resolves `--model` to a local SavedModel folder or .tflite file and its metadata, fetching as needed.
    `offline` (a dry run): a published alias is not downloaded; its `path` stays the download URL."""
    if model in ALIASES:
        variant, mode = model.split("-")[:2]
        spec = MOVINET_VARIANTS[variant]
        metadata = ModelMetadata(
            variant=variant,
            mode=mode,
            fps=spec.fps,
            resolution=spec.resolution,
            clip_frames=round(PUBLISHED_CLIP_SECONDS * spec.fps),
            num_classes=600,
            source=ALIASES[model],
        )
        fetch = _download_to_cache if model.endswith("-tflite") else _from_hub
        return LocatedModel(model, ALIASES[model] if offline else fetch(ALIASES[model]), metadata, published=True)
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


def published_signature(alias: str) -> ServingSignature:
    """A published model's interface as its alias tells it, for a dry run that cannot download the model."""
    variant, mode = alias.split("-")[:2]
    if alias.endswith("-tflite"):
        side = MOVINET_VARIANTS[variant].resolution
        return ServingSignature("tflite", (1, 1, side, side, 3), "logits", 600)
    if mode == "stream":
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
    """Downloads (once) and caches a TF Hub / Kaggle model the way tensorflow-hub does, returning its folder."""
    os.environ.setdefault("TFHUB_CACHE_DIR", os.path.join(cache_dir(), "tfhub"))
    import tensorflow_hub as hub  # heavy: imported only when a hub model is asked for

    try:
        return hub.resolve(handle)
    except Exception as exc:
        raise ModelError(f"cannot download the model {handle} ({type(exc).__name__}: {exc}). {OFFLINE_HELP}") from exc


def _download_to_cache(url: str) -> str:
    """Downloads a published .tflite file once into the cache."""
    target = os.path.join(cache_dir(), "models", hashlib.sha256(url.encode()).hexdigest()[:16], TFLITE_FILE)
    if not os.path.exists(target):
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except OSError as exc:
            raise ModelError(f"cannot download the model {url} ({exc}). {OFFLINE_HELP}") from exc
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target + ".partial", "wb") as f:
            f.write(data)
        os.replace(target + ".partial", target)
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


def _cached_kinetics_labels() -> bytes:
    path = os.path.join(cache_dir(), "kinetics_600_labels.txt")
    if not os.path.exists(path):
        try:
            with urllib.request.urlopen(KINETICS_600_LABELS_URL, timeout=30) as response:
                data = response.read()
        except OSError as exc:
            raise ModelError(
                f"cannot download the Kinetics-600 labels from {KINETICS_600_LABELS_URL} ({exc}); "
                "pass --label_file FILE with the 600 class names"
            ) from exc
        if not hashlib.sha256(data).hexdigest().startswith(KINETICS_600_LABELS_SHA256):
            raise ModelError(f"the file at {KINETICS_600_LABELS_URL} is not the Kinetics-600 label file")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    with open(path, "rb") as f:
        return f.read()
