"""Step 1 of a video's path: find the video files to label, as URIs.

`--input` takes a video file, a folder (searched recursively for files with a video extension, case-insensitive)
or a glob (every file it matches; local or gs://). `--manifest` takes a text file of URIs, one a line, blank lines
and `#` comments ignored; relative local paths in it are relative to the manifest's folder.

Files are listed once, at launch (`list_videos`): the launcher must count them and refuse an input that matches
nothing before any work starts, and --incremental decides there which of them need labelling. The files to label
are then written as file lists, one per batch of files (`write_job_files`, JSON lines in the run's folder, which
workers can read on every runner: a million URIs cannot travel inside a Dataflow graph; `pipeline/batches.py`),
and each batch's pipeline starts by reading its list back (`ReadJobFiles`), so building the graph does no remote
I/O and the progress total is what runs.
"""

from __future__ import annotations

import concurrent.futures
import os
import posixpath
from collections.abc import Iterable
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from vidlabel.transforms.errors import UsageError
from vidlabel.transforms.storage import (
    escape_glob,
    has_scheme,
    is_glob,
    read_json_lines,
    storage_problem,
    to_local_path,
    to_uri,
    write_json_lines,
)
from vidlabel.transforms.types import VideoFile

DEFAULT_EXTENSIONS = tuple("mp4 m4v mov mkv webm avi gif mpg mpeg ts mts m2ts flv wmv 3gp ogv".split())
# Remote manifest entries: a folder naming at least this many is listed whole (one request per thousand objects);
# fewer are looked up one by one, in parallel.
LIST_FOLDER_FROM = 50


class InputPattern(NamedTuple):
    """A Beam file pattern and whether its matches are kept only when they carry a video extension."""

    pattern: str
    videos_only: bool


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
    """The files a pattern matches, with their size and modification time."""
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


def list_videos(inputs: list[str], manifest: str | None, extensions: tuple[str, ...]) -> list[VideoFile]:
    """Every file the inputs and the manifest name, each once, with its size and modification time, in URI order.
    Raises UsageError for an input that matches nothing or cannot be listed."""
    files: dict[str, VideoFile] = {}
    for path in inputs:
        if not is_glob(path) and not has_scheme(path) and not os.path.exists(path):
            raise UsageError(f"--input {path}: no such file or folder")
        try:
            pattern = input_pattern(path)
            found = match_files(pattern, extensions)
        except OSError as exc:  # Beam's BeamIOError: no permission, no network
            raise UsageError(f"--input {path}: cannot list it ({storage_problem(exc)})") from exc
        if not found:
            what = f"no file with a video extension ({', '.join(extensions)}); change it with --extensions"
            nothing = "no such object, and no object below it as a folder" if has_scheme(path) else "matched no file"
            raise UsageError(f"--input {path}: " + (what if pattern.videos_only else nothing))
        files.update((f.uri, f) for f in found)
    if manifest:
        if not FileSystems.exists(manifest):
            raise UsageError(f"--manifest {manifest}: no such file")
        entries = read_manifest(manifest)
        if not entries:
            raise UsageError(f"--manifest {manifest}: lists no video (only blank lines or # comments)")
        files.update((f.uri, f) for f in stat_videos([uri for uri in dict.fromkeys(entries) if uri not in files]))
    return [files[uri] for uri in sorted(files)]


def stat_videos(uris: list[str]) -> list[VideoFile]:
    """Each file's size and modification time now; both None when it is gone (decoding then reports it). Local
    files are stat'ed. Remote ones are listed a folder at a time where a folder holds many of them, and looked up
    one by one, in parallel, elsewhere."""
    found: dict[str, VideoFile] = {}
    remote: dict[str, list[str]] = {}
    for uri in uris:
        local = to_local_path(uri)
        if local is None:
            remote.setdefault(uri.rsplit("/", 1)[0], []).append(uri)
            continue
        try:
            st = os.stat(local)
            found[uri] = VideoFile(uri, st.st_size, st.st_mtime)
        except OSError:
            pass
    dense = [folder for folder, members in remote.items() if len(members) >= LIST_FOLDER_FROM]
    sparse = [uri for folder, members in remote.items() if len(members) < LIST_FOLDER_FROM for uri in members]
    patterns = [escape_glob(folder) + "/*" for folder in dense] + [escape_glob(uri) for uri in sparse]
    wanted = set(uris)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for metadata in pool.map(_match_or_nothing, patterns):
            found.update(
                (m.path, VideoFile(m.path, m.size_in_bytes, m.last_updated_in_seconds))
                for m in metadata
                if m.path in wanted
            )
    return [found.get(uri, VideoFile(uri, None, None)) for uri in uris]


def _match_or_nothing(pattern: str) -> list:
    try:
        return FileSystems.match([pattern])[0].metadata_list
    except (OSError, ValueError):  # Beam's BeamIOError is an OSError: a missing object is decoding's error to report
        return []


def write_job_files(files: Iterable[VideoFile], path: str) -> None:
    """The files a job labels, for `ReadJobFiles` (local or gs://)."""
    write_json_lines((file._asdict() for file in files), path)


class ReadJobFiles(beam.PTransform):
    """PBegin -> PCollection[VideoFile]: the files the launcher listed for this job (`write_job_files`), spread
    across workers: the reshuffle breaks fusion, so decoding runs on every worker instead of where the list was
    read."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, pbegin):
        return (
            pbegin
            | "ReadFileList" >> read_json_lines(self._path)
            | "ToVideoFiles" >> beam.Map(lambda fields: VideoFile(**fields))
            | "SpreadOverWorkers" >> beam.Reshuffle()
        )
