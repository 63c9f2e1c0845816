"""Step 1 of a video's path: find the video files to label, as URIs.

`--input` takes a video file, a folder (searched recursively for files with a video extension, case-insensitive)
or a glob (every file it matches; local or gs://). `--manifest` takes a text file of URIs, one a line, blank lines
and `#` comments ignored; relative local paths in it are relative to the manifest's folder.

The same rules serve the launcher (which must count the files and refuse an input that matches nothing before any
work starts) and the pipeline's `ListVideos` transform.
"""
from __future__ import annotations

import os
import posixpath
import urllib.parse
from typing import Iterable, NamedTuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from vidlabel.transforms.types import VideoFile

DEFAULT_EXTENSIONS = (
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "gif", "mpg", "mpeg", "ts", "mts", "m2ts", "flv", "wmv", "3gp", "ogv",
)  # fmt: skip

_GLOB_CHARS = set("*?[")
_FILE_URL = "file://"


class InputPattern(NamedTuple):
    """A Beam file pattern and whether its matches are kept only when they carry a video extension."""

    pattern: str
    videos_only: bool


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


def storage_problem(exc: BaseException) -> str:
    """The cause of a Beam file system error in a few words: the storage client's message, not Beam's wrapping."""
    inner = getattr(exc, "exception_details", None) or {}
    causes = [e for e in inner.values() if e is not None] if isinstance(inner, dict) else []
    while causes and getattr(causes[0], "exception_details", None):
        causes = [e for e in causes[0].exception_details.values() if e is not None]
    cause = causes[0] if causes else exc
    return f"{type(cause).__name__}: {cause}"


def is_glob(path: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in path)


def input_pattern(path: str) -> InputPattern:
    """A folder means every video below it; a glob or a single file means exactly what it names."""
    if is_glob(path):
        return InputPattern(path, videos_only=False)
    is_folder = os.path.isdir(path) if not has_scheme(path) else (path.endswith("/") or _is_remote_folder(path))
    if is_folder:
        join = posixpath.join if has_scheme(path) else os.path.join
        return InputPattern(join(path.rstrip("/") or "/", "**"), videos_only=True)
    return InputPattern(path, videos_only=False)


def _is_remote_folder(path: str) -> bool:
    """A remote path with no object of its own but objects below it is a folder (a prefix)."""
    if FileSystems.exists(path):
        return False
    return bool(FileSystems.match([path.rstrip("/") + "/**"], limits=[1])[0].metadata_list)


def has_video_extension(path: str, extensions: Iterable[str]) -> bool:
    ext = path.rsplit(".", 1)[-1].lower() if "." in posixpath.basename(path) else ""
    return ext in extensions


def normalise_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({e.strip().lower().lstrip(".") for e in extensions if e.strip()}))


def match_files(pattern: InputPattern, extensions: Iterable[str]) -> list[VideoFile]:
    """The files a pattern matches, with their metadata (the launcher's listing; the pipeline uses `ListVideos`)."""
    metadata = FileSystems.match([pattern.pattern])[0].metadata_list
    return [
        VideoFile(to_uri(m.path), m.size_in_bytes, m.last_updated_in_seconds)
        for m in metadata
        if not pattern.videos_only or has_video_extension(m.path, extensions)
    ]


def manifest_entries(manifest: str, lines: Iterable[str]) -> Iterable[str]:
    """URIs listed in a manifest's lines: blank lines and `#` comments are skipped; relative paths are taken
    relative to the manifest's own folder."""
    base = manifest.rsplit("/", 1)[0] if has_scheme(manifest) else os.path.dirname(os.path.abspath(manifest))
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if has_scheme(entry) or os.path.isabs(entry):
            yield to_uri(entry)
        else:
            yield to_uri(posixpath.join(base, entry) if has_scheme(base) else os.path.join(base, entry))


def read_manifest(manifest: str) -> list[str]:
    with FileSystems.open(manifest, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        text = f.read().decode("utf-8")
    return list(manifest_entries(manifest, text.splitlines()))


def escape_glob(path: str) -> str:
    """A literal path as a Beam file pattern (local glob and GCS fnmatch alike): "clip [1080p].mp4" is one file."""
    return "".join(f"[{ch}]" if ch in _GLOB_CHARS else ch for ch in path)


def stat_video(uri: str) -> VideoFile:
    """The file's size and modification time now; both None when it is gone (decoding then reports it)."""
    local = to_local_path(uri)
    try:
        if local is not None:
            st = os.stat(local)
            return VideoFile(uri, st.st_size, st.st_mtime)
        found = [m for m in FileSystems.match([escape_glob(uri)])[0].metadata_list if m.path == uri]
    except (OSError, ValueError):  # Beam's BeamIOError is an OSError
        found = []
    if not found:
        return VideoFile(uri, None, None)
    return VideoFile(uri, found[0].size_in_bytes, found[0].last_updated_in_seconds)


class ListVideos(beam.PTransform):
    """PBegin -> PCollection[VideoFile]: every listed file once, with the size and modification time seen when
    it was listed (what --incremental compares), spread across workers.

    Pattern matches carry their metadata; manifest entries are looked up one by one. Keying by URI and grouping
    both keeps each file once (a file named twice, or by two inputs) and breaks fusion, so decoding is spread over
    all workers instead of running where the listing ran.
    """

    def __init__(self, inputs: list[str], manifest: str | None, extensions: Iterable[str]):
        super().__init__()
        self._patterns = [input_pattern(i) for i in inputs]
        self._manifest = manifest
        self._extensions = normalise_extensions(extensions)

    def expand(self, pbegin):
        extensions = self._extensions
        listed = []
        for videos_only in (True, False):
            patterns = [p.pattern for p in self._patterns if p.videos_only == videos_only]
            if not patterns:
                continue
            name = "Folder" if videos_only else "File"
            matched = pbegin | f"{name}Patterns" >> beam.Create(patterns) | f"Match{name}Patterns" >> fileio.MatchAll()
            if videos_only:
                matched = matched | "KeepVideoExtensions" >> beam.Filter(lambda m: has_video_extension(m.path, extensions))
            listed.append(
                matched
                | f"{name}Files" >> beam.Map(lambda m: VideoFile(to_uri(m.path), m.size_in_bytes, m.last_updated_in_seconds))
            )
        if self._manifest:
            manifest = self._manifest
            listed.append(
                pbegin
                | "ReadManifest" >> beam.io.ReadFromText(manifest, compression_type=CompressionTypes.UNCOMPRESSED)
                | "ManifestUris" >> beam.FlatMap(lambda line: manifest_entries(manifest, [line]))
                | "StatManifestFiles" >> beam.Map(stat_video)
            )
        return (
            listed
            | "AllFiles" >> beam.Flatten()
            | "KeyByUri" >> beam.Map(lambda f: (f.uri, f))
            | "GroupByUri" >> beam.GroupByKey()
            | "EachFileOnce" >> beam.MapTuple(lambda uri, files: next(iter(files)))
        )
