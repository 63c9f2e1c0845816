"""Paths and URIs, for every layer: local files and `gs://` alike, through Beam's FileSystems.

A video is known in every table by its URI (`to_uri`); `to_local_path` turns it back into a path when it is a
local file. Writers that must never leave half a folder behind go through `atomic_folder`; lists a launcher
hands to workers are JSON lines (`write_json_lines`, `read_json_lines`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.parse
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_GLOB_CHARS = set("*?[")
_FILE_URL = "file://"


def has_scheme(path: str) -> bool:
    return "://" in path


def to_uri(path: str) -> str:
    """The URI a video is known by in every table: absolute, and valid UTF-8 even when the file name is not.

    A local name that is not valid UTF-8 (Python holds its bytes as surrogate escapes) becomes a percent-encoded
    `file://` URL, reversible with `urllib.parse.unquote_to_bytes`; all other local paths stay plain paths.
    """
    if has_scheme(path):
        return path
    path = os.path.abspath(path)
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return _FILE_URL + urllib.parse.quote(os.fsencode(path), safe="/")


def to_local_path(uri: str) -> str | None:
    """The local file system path of a URI made by `to_uri`, or None for remote URIs such as gs://."""
    if uri.startswith(_FILE_URL):
        return os.fsdecode(urllib.parse.unquote_to_bytes(uri[len(_FILE_URL) :]))
    return None if has_scheme(uri) else uri


def is_glob(path: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in path)


def escape_glob(path: str) -> str:
    """A literal path as a Beam file pattern (local glob and GCS fnmatch alike): "clip [1080p].mp4" is one file."""
    return "".join(f"[{ch}]" if ch in _GLOB_CHARS else ch for ch in path)


def storage_problem(exc: BaseException) -> str:
    """The cause of a Beam file system error in a few words: the storage client's message, not Beam's wrapping."""
    inner = getattr(exc, "exception_details", None) or {}
    causes = [e for e in inner.values() if e is not None] if isinstance(inner, dict) else []
    while causes and getattr(causes[0], "exception_details", None):
        causes = [e for e in causes[0].exception_details.values() if e is not None]
    cause = causes[0] if causes else exc
    return f"{type(cause).__name__}: {cause}"


def write_json_lines(values: Iterable, path: str) -> None:
    """One JSON value a line (local or gs://): lists that launchers hand to workers, whatever characters the URIs
    in them hold (a newline in a file name stays inside its line)."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for value in values:
            f.write((json.dumps(value) + "\n").encode("utf-8"))


def read_json_lines(path: str) -> beam.PTransform:
    """PBegin -> PCollection of the values `write_json_lines` wrote. validate=False: building the graph does not
    touch storage (a dry run works offline)."""
    return beam.io.ReadFromText(path, compression_type=CompressionTypes.UNCOMPRESSED, validate=False) | beam.Map(
        json.loads
    )


def check_new_folder(flag: str, out: str) -> None:
    """A folder a command will create: it must not exist, or be empty (nothing of the user's is ever replaced)."""
    from vidlabel.transforms.errors import UsageError

    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise UsageError(f"{flag} {out} already exists and is not empty; choose a new folder")


@contextlib.contextmanager
def atomic_folder(out: str) -> Iterator[str]:
    """Yields a staging folder beside OUT to write into, and renames it to OUT when the block succeeds: OUT is
    then whole or absent, whatever kills the writer. OUT must not exist or be empty (`check_new_folder`); a
    staging folder left by a killed writer is replaced."""
    staging = out.rstrip("/") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if os.path.isdir(out):
        os.rmdir(out)
    os.replace(staging, out)
