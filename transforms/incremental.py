"""--incremental: which listed files need labelling, and which rows of the published result are kept.

A listed file is kept when the published videos table has a row for its URI with the same size and modification
time (`file_size`, `file_modified`), unless that row is an error and `--retry_errors` is given. Its rows in all
tables are carried into the new result, `run_id` included, so every row still says which run made it. New, changed
and retried files are labelled, and their published rows are dropped. Rows of files not listed this time are kept
as well: the new result is the union of the published one and this run's work, each file once.

Rows written by an older vidlabel are kept in this version's schema (`upgraded`): columns it did not write are
null, and tables it did not write start empty. The launcher decides which files to label (`to_label`, once, on
its one listing); the pipeline's `KeepUnchanged` then keeps every published row of the files it does not label.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import NamedTuple

import apache_beam as beam

from vidlabel.transforms import schema
from vidlabel.transforms.decode import codec_name
from vidlabel.transforms.rows import to_timestamp
from vidlabel.transforms.storage import read_json_lines
from vidlabel.transforms.types import VideoFile

VERSION_COLUMNS = ["video_uri", "status", "file_size", "file_modified"]
REPLACED_URIS = "replaced-uris.jsonl"  # in the run's folder: the published files this run labels again


class Published(NamedTuple):
    """What the published videos table says of a file: the version labelled, and whether it failed."""

    size: int | None
    modified: datetime.datetime | None
    failed: bool


def published(row: dict) -> Published:
    return Published(row["file_size"], row["file_modified"], row["status"] != "ok")


def needs_labelling(file: VideoFile, before: Published | None, retry_errors: bool) -> bool:
    """New, changed, or an error to retry. A file whose size is unknown (it vanished before it was listed) counts
    as changed."""
    if before is None or file.size is None or (retry_errors and before.failed):
        return True
    return (file.size, to_timestamp(file.modified_s)) != (before.size, before.modified)


def to_label(files: Iterable[VideoFile], before: dict[str, Published], retry_errors: bool) -> list[VideoFile]:
    return [f for f in files if needs_labelling(f, before.get(f.uri), retry_errors)]


def replaced(to_label: Iterable[VideoFile], before: dict[str, Published]) -> list[str]:
    """The URIs whose published rows give way to this run's: the files to label that the result already holds."""
    return [f.uri for f in to_label if f.uri in before]


def upgraded(row: dict, table: str) -> dict:
    """A kept row in this version's schema: columns an older version did not write are null, and its codec is the
    codec's name (vidlabel 0.2 wrote the decoder's, e.g. libdav1d for AV1)."""
    row = {name: row.get(name) for name in schema.TABLES[table].names}
    if table == "videos" and row["codec"]:
        row["codec"] = codec_name(row["codec"])
    return row


class KeepUnchanged(beam.PTransform):
    """PBegin -> {table: PCollection of the published rows kept}: every published row, upgraded to this version's
    schema, except those of the files this run labels again (`replaced_uris`: the launcher's JSON-lines list of
    their URIs, `write_json_lines`; new files have no published rows, so they are not in it and the side input
    stays as small as the set of changed and retried files).

    `tables`: the tables the published result holds (an older version's result may lack some)."""

    def __init__(self, published_folder: str, tables: Iterable[str], replaced_uris: str):
        super().__init__()
        self._published = published_folder.rstrip("/")
        self._tables = tuple(tables)
        self._replaced_uris = replaced_uris

    def expand(self, pbegin):
        replaced = beam.pvalue.AsDict(
            pbegin
            | "ReadReplacedUris" >> read_json_lines(self._replaced_uris)
            | "KeyReplacedByUri" >> beam.Map(lambda uri: (uri, True))
        )
        kept = {}
        for name in schema.TABLES:
            title = name.capitalize()
            if name not in self._tables:
                kept[name] = pbegin | f"No{title}Published" >> beam.Create([])
                continue
            kept[name] = (
                pbegin
                | f"ReadPublished{title}"
                >> beam.io.ReadFromParquet(f"{self._published}/{name}-*.parquet", validate=False)
                | f"Keep{title}OfUnchanged" >> beam.Filter(lambda row, gone: row["video_uri"] not in gone, replaced)
                | f"Upgrade{title}Rows" >> beam.Map(upgraded, name)
            )
        return kept
