"""`vidlabel export-annotations OUTPUT --format video-intelligence --out DIR`: a result as Video Intelligence files.

One JSON file per video, as Google Cloud Video Intelligence wrote them, so code written against that service reads
vidlabel's labels unchanged. Why: Video Intelligence's label detection shuts down in 2027 and vidlabel is the
self-hosted replacement; archives have code (indexers, timeline viewers, search loaders) that reads the
`AnnotateVideoResponse` the service wrote to `outputUri`. This command writes that file for every video of a
result whose status is "ok".

The shape is the one of the service's output files, which is not the camelCase of the REST reference (that is the
`operations.get` response): field names as the proto declares them (`annotation_results`, `input_uri`,
`segment_label_annotations`, `entity.entity_id`, `start_time_offset`, `time_offset`, `confidence`), a Duration as
`{"seconds": 12, "nanos": 500000000}` (nanosecond precision), and fields at their zero value left out, as a proto
printer leaves them out (a Duration of 0 is `{}`; an empty list is absent). Only fields of
`google.cloud.videointelligence.v1` appear, so `videointelligence_v1.AnnotateVideoResponse(json.load(f))` reads a
file, and refuses any other field name.

What maps to what (one `annotation_results` entry per file):

- `input_uri`: the video's `video_uri`, unchanged (the service wrote `/bucket/object` for `gs://bucket/object`);
  `segment`: 0 to `duration_s`.
- `segment_label_annotations`: the service's segment-level labels over a whole video (no user segments) are its
  video-level labels, so a label of the video's `top_k` gets first a segment spanning the whole video with its
  video-level score; then each of the label's rows of the `segments` table (the time ranges where it scores at
  least --min_score), in time order, with their confidence, but for a range over the whole video, which would
  repeat that first segment. A label only in `segments` has only its ranges.
- `shot_label_annotations`: for each label, the shots whose `top_k` holds it, with its score there.
- `frame_label_annotations`: for each label, the seconds of `frame_labels` whose `top_k` holds it (`time_offset`).
- `shot_annotations`: every shot, in order.

Each list has one `LabelAnnotation` per label (as the service's), best first by its highest confidence. `entity`:
`description` is the class name, `language_code` "en-US", and `entity_id` is `/vidlabel/label/` followed by the class
name escaped with `urllib.parse.quote_plus(name, safe="()'")`: the name itself, so it is the same in every run and for
every model whose classes share the name (Kinetics classes have no Knowledge Graph id; an index would shift between
label sets), and `unquote_plus` gives the name back.

File names: `urllib.parse.quote(video_uri, safe="")` + ".json" (`unquote` gives the URI back; the name holds only
letters, digits, `%`, `-`, `.`, `_` and `~`, whatever the URI). A name over 255 bytes, or one that a case-insensitive
file system would take for an earlier one, becomes a prefix of it, "+" (which a quoted name never holds) and 32 hex
digits of the URI's SHA-256. `DIR/index.jsonl` maps every file to its video, one `{"file", "video_uri"}` a line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.parse
from collections.abc import Iterable

import numpy as np
import pyarrow.compute as pc

from vidlabel.pipeline import publish
from vidlabel.transforms import storage
from vidlabel.transforms.errors import EXIT_OK, UsageError

FORMATS = ("video-intelligence",)
ENTITY_ID_PREFIX = "/vidlabel/label/"
LANGUAGE_CODE = "en-US"  # what the service wrote; the class names of the published models are English
INDEX = "index.jsonl"
MAX_NAME_BYTES = 255  # a file name's limit on ext4, APFS, NTFS
HASH_DIGITS = 32
NANOS_PER_SECOND = 1_000_000_000
# The columns read of each table; the last three tables came with vidlabel 0.5 (an older result lacks them).
COLUMNS = {
    "videos": ["video_uri", "status", "duration_s", "top_k"],
    "shots": ["video_uri", "shot_index", "start_s", "end_s", "top_k"],
    "segments": ["video_uri", "label", "start_s", "end_s", "confidence"],
    "frame_labels": ["video_uri", "time_s", "top_k"],
}
TIME_ORDER = {"shots": "shot_index", "segments": "start_s", "frame_labels": "time_s"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidlabel export-annotations", description=__doc__.split("\n")[0])
    p.add_argument("output", help="The --output of a finished `vidlabel run` (local or gs://).")
    p.add_argument("--format", required=True, help=f"The files to write: {', '.join(FORMATS)}.")
    p.add_argument("--out", required=True, help="A new (or empty) local folder for the files.")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.format not in FORMATS:
        raise UsageError(f"--format {args.format}: choose from {', '.join(FORMATS)}")
    folder = publish.result_folder(args.output)
    publish.check_out_folder(args.out, folder)
    tables = read_tables(folder)
    videos = tables.pop("videos")
    ok = sorted((v for v in videos.to_pylist() if v["status"] == "ok"), key=lambda v: v["video_uri"])
    by_video = {name: RowsByVideo(table, TIME_ORDER[name]) for name, table in tables.items()}
    with storage.atomic_folder(args.out) as staging:
        write_export(ok, by_video, staging)
    failed = videos.num_rows - len(ok)
    print(
        f"vidlabel export-annotations: wrote {len(ok)} file(s) to {args.out} (which file is which video: "
        f"{os.path.join(args.out, INDEX)})" + (f"; {failed} failed video(s) have none" if failed else "")
    )
    return EXIT_OK


def read_tables(folder: str) -> dict:
    """The tables the export needs; a table missing from a result written before vidlabel 0.5 is said once on
    stderr and read as empty (None)."""
    present = publish.result_tables(storage.escape_glob(folder))
    missing = [name for name in COLUMNS if name not in present]
    if missing:
        print(
            f"vidlabel export-annotations: note: {folder} has no {', '.join(missing)} table "
            "(a result of vidlabel before 0.5): those annotations are left out",
            file=sys.stderr,
        )
    return {
        name: publish.read_table(storage.escape_glob(folder), name, columns=columns) if name in present else None
        for name, columns in COLUMNS.items()
    }


class RowsByVideo:
    """One table's rows, sorted by video then time, handed out one video at a time: only that video's rows become
    Python objects, so a large archive's tables stay columnar."""

    def __init__(self, table, time_column: str):
        self._table, self._spans = None, {}
        if table is None or table.num_rows == 0:
            return
        self._table = table.sort_by([("video_uri", "ascending"), (time_column, "ascending")])
        uris = self._table.column("video_uri")
        changes = pc.not_equal(uris.slice(1), uris.slice(0, len(uris) - 1)).to_numpy(zero_copy_only=False)
        starts = [0, *(np.flatnonzero(changes) + 1).tolist()]
        ends = [*starts[1:], len(uris)]
        self._spans = {uris[start].as_py(): (start, end - start) for start, end in zip(starts, ends)}

    def rows(self, uri: str) -> list[dict]:
        span = self._spans.get(uri)
        return self._table.slice(*span).to_pylist() if span else []


def write_export(videos: list[dict], by_video: dict[str, RowsByVideo], out: str) -> None:
    taken: set[str] = set()
    with open(os.path.join(out, INDEX), "w", encoding="utf-8") as index:
        for video in videos:
            uri = video["video_uri"]
            name = file_name(uri, taken)
            response = annotate_video_response(
                video, by_video["shots"].rows(uri), by_video["segments"].rows(uri), by_video["frame_labels"].rows(uri)
            )
            with open(os.path.join(out, name), "w", encoding="utf-8") as f:
                json.dump(response, f, indent=2)
            index.write(json.dumps({"file": name, "video_uri": uri}) + "\n")


def annotate_video_response(video: dict, shots: list[dict], segments: list[dict], frames: list[dict]) -> dict:
    """One video's `AnnotateVideoResponse`, as the service wrote it (module docstring: what maps to what)."""
    whole = video_segment(0.0, video["duration_s"])
    result = {
        "input_uri": video["video_uri"],
        "segment": whole,
        "segment_label_annotations": label_annotations(
            segment_labels(video["top_k"] or [], segments, whole), "segments"
        ),
        "shot_label_annotations": label_annotations(
            (
                (t["label"], {"segment": video_segment(shot["start_s"], shot["end_s"]), **confidence(t["score"])})
                for shot in shots
                for t in shot["top_k"] or []
            ),
            "segments",
        ),
        "frame_label_annotations": label_annotations(
            (
                (t["label"], {"time_offset": duration(frame["time_s"]), **confidence(t["score"])})
                for frame in frames
                for t in frame["top_k"] or []
            ),
            "frames",
        ),
        "shot_annotations": [video_segment(shot["start_s"], shot["end_s"]) for shot in shots],
    }
    return {"annotation_results": [{field: value for field, value in result.items() if value}]}


def segment_labels(best: list[dict], segments: list[dict], whole: dict) -> list[tuple[str, dict]]:
    """The video-level labels over the `whole` video, then each label's ranges; a range over the whole video of a
    label that already has the whole video is not repeated (it averages the same clips)."""
    over_whole = [(t["label"], {"segment": whole, **confidence(t["score"])}) for t in best]
    ranges = [
        (s["label"], {"segment": video_segment(s["start_s"], s["end_s"]), **confidence(s["confidence"])})
        for s in segments
    ]
    labels_over_whole = {label for label, _ in over_whole}
    return over_whole + [
        (label, e) for label, e in ranges if not (e["segment"] == whole and label in labels_over_whole)
    ]


def label_annotations(found: Iterable[tuple[str, dict]], kind: str) -> list[dict]:
    """One `LabelAnnotation` per label, its `kind` ("segments" or "frames") in the order found; labels best first by
    their highest confidence, then by name."""
    by_label: dict[str, list[dict]] = {}
    for label, entry in found:
        by_label.setdefault(label, []).append(entry)
    ranked = sorted(by_label.items(), key=lambda item: (-max(e.get("confidence", 0.0) for e in item[1]), item[0]))
    return [{"entity": entity(label), kind: entries} for label, entries in ranked]


def entity(label: str) -> dict:
    return {"entity_id": entity_id(label), "description": label, "language_code": LANGUAGE_CODE}


def entity_id(label: str) -> str:
    """The class name's stable id: the same for every run and every model with that class (module docstring)."""
    return ENTITY_ID_PREFIX + urllib.parse.quote_plus(label, safe="()'")


def video_segment(start_s: float, end_s: float | None) -> dict:
    segment = {"start_time_offset": duration(start_s)}
    if end_s is not None:
        segment["end_time_offset"] = duration(end_s)
    return segment


def duration(seconds: float) -> dict:
    """A proto Duration as the service's files hold it: {"seconds", "nanos"}, the parts at 0 left out."""
    whole, nanos = divmod(round(seconds * NANOS_PER_SECOND), NANOS_PER_SECOND)
    return {part: value for part, value in (("seconds", whole), ("nanos", nanos)) if value}


def confidence(score: float) -> dict:
    """A float32 score written in the fewest digits that read back as the same float32 (left out at 0, as the service
    leaves out a zero field)."""
    return {"confidence": float(str(np.float32(score)))} if score else {}


def file_name(uri: str, taken: set[str]) -> str:
    """The video's file name (module docstring); `taken` holds the lower-cased names given so far."""
    quoted = urllib.parse.quote(uri, safe="")  # ASCII: its length is its size in bytes
    name = quoted + ".json"
    if len(name) > MAX_NAME_BYTES or name.lower() in taken:
        digest = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:HASH_DIGITS]
        prefix = quoted[: MAX_NAME_BYTES - len(f"+{digest}.json")]
        cut = prefix.rfind("%", len(prefix) - 2)  # never end the prefix in half an escape
        name = f"{prefix[:cut] if cut >= 0 else prefix}+{digest}.json"
    taken.add(name.lower())
    return name
