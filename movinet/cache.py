"""Models as local files: the cache that remote models are copied into, and the copy staged for Dataflow workers.

Everything `--model` names is resolved to local files before any work starts, so workers only ever load local
files; on Dataflow the launcher stages the model under the job's temp location and each worker copies it into its
own cache (`fetch_model`), with no internet access needed.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from vidlabel.movinet.metadata import LABELS_FILE, METADATA_FILE, TFLITE_FILE
from vidlabel.transforms.errors import ModelError
from vidlabel.transforms.storage import escape_glob, has_scheme, storage_problem

STAGED_MODELS = "vidlabel-models"  # under the job's temp location: models staged for workers


def cache_dir() -> str:
    return os.environ.get("VIDLABEL_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "vidlabel")


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


def fetch_model(uri: str) -> str:
    """A model's local path on this machine: a local path as it is, a gs:// (or other remote) copy fetched into the
    cache. Workers call this when they load the model, so a model the launcher staged under the job's temp location
    reaches every worker without internet access."""
    if not has_scheme(uri):
        if not os.path.exists(uri):
            raise ModelError(
                f"the model {uri} is not on this machine (a local --model path only works on the local "
                "runner; on Dataflow the launcher stages it under --temp_location)"
            )
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
        with (
            open(path, "rb") as src,
            FileSystems.create(f"{target}/{name}", compression_type=CompressionTypes.UNCOMPRESSED) as dest,
        ):
            while chunk := src.read(1 << 20):
                dest.write(chunk)
    return uri


def _model_files(local_path: str) -> list[tuple[str, str]]:
    """(staged name, local path) of a model's files: every file of a SavedModel folder; a TFLite file (staged as
    model.tflite, the name workers recognise) and the metadata and labels beside it."""
    if os.path.isdir(local_path):
        return _folder_files(local_path)
    folder = os.path.dirname(local_path)
    beside = [
        (n, os.path.join(folder, n)) for n in (METADATA_FILE, LABELS_FILE) if os.path.exists(os.path.join(folder, n))
    ]
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
    version = "\n".join(
        f"{m.path} {m.size_in_bytes} {m.last_updated_in_seconds}" for m in sorted(found, key=lambda m: m.path)
    )
    target = os.path.join(cache_dir(), "models", hashlib.sha256(f"{uri}\n{version}".encode()).hexdigest()[:16])
    local = os.path.join(target, posixpath.basename(uri)) if is_file else target
    if os.path.isdir(target):
        return local
    partial = f"{target}.partial-{uuid.uuid4().hex}"
    try:
        for m in found:
            dest = os.path.join(partial, os.path.normpath(m.path[len(folder) + 1 :]))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with (
                FileSystems.open(m.path, compression_type=CompressionTypes.UNCOMPRESSED) as src,
                open(dest, "wb") as out,
            ):
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        os.rename(partial, target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not os.path.isdir(target):  # not another process that got there first with the same files
            raise
    return local
