"""--incremental: which listed files need labelling, and which rows of the published result are kept.

A listed file is unchanged when the published videos table has a row for its URI with the same size and
modification time (`file_size`, `file_modified`). Its rows in all three tables are carried into the new result as
they are, `run_id` included, so every row still says which run made it. New and changed files are labelled, and
the published rows of changed files are dropped. Rows of files not listed this time are kept as well: the new
result is the union of the published one and this run's work, each file once.

The same rule serves the launcher (`new_or_changed`, to count the work) and the pipeline (`KeepUnchanged`).
"""
from __future__ import annotations

import datetime
from typing import Iterable, Optional

import apache_beam as beam

from vidlabel.transforms import schema
from vidlabel.transforms.rows import to_timestamp
from vidlabel.transforms.types import VideoFile

REPLACED = "replaced"  # URIs whose published rows give way to new ones
VERSION_COLUMNS = ["video_uri", "file_size", "file_modified"]

Version = tuple[Optional[int], Optional[datetime.datetime]]


def listed_version(file: VideoFile) -> Version:
    return file.size, to_timestamp(file.modified_s)


def published_version(row: dict) -> Version:
    return row["file_size"], row["file_modified"]


def is_unchanged(file: VideoFile, published: Optional[Version]) -> bool:
    return published is not None and file.size is not None and listed_version(file) == published


def new_or_changed(files: Iterable[VideoFile], published: dict[str, Version]) -> list[VideoFile]:
    return [f for f in files if not is_unchanged(f, published.get(f.uri))]


class _SplitByVersion(beam.DoFn):
    """(uri, {"listed": [VideoFile], "published": [Version]}) -> VideoFile to label; uri on REPLACED when a
    published row gives way."""

    def process(self, joined):
        uri, group = joined
        listed, published = list(group["listed"]), list(group["published"])
        if not listed:
            return  # published, not listed this time: kept
        file, version = listed[0], (published[0] if published else None)
        if is_unchanged(file, version):
            return
        if published:
            yield beam.pvalue.TaggedOutput(REPLACED, (uri, True))
        yield file


class KeepUnchanged(beam.PTransform):
    """PCollection[VideoFile] -> (PCollection[VideoFile] to label, {table: PCollection of kept rows})."""

    def __init__(self, published: str):
        super().__init__()
        self._published = published.rstrip("/")

    def expand(self, files):
        pipeline = files.pipeline
        published = (
            pipeline
            | "ReadPublishedVersions" >> beam.io.ReadFromParquet(f"{self._published}/videos-*.parquet", columns=VERSION_COLUMNS)
            | "KeyPublishedByUri" >> beam.Map(lambda row: (row["video_uri"], published_version(row)))
        )
        split = (
            {"listed": files | "KeyListedByUri" >> beam.Map(lambda f: (f.uri, f)), "published": published}
            | "JoinWithPublished" >> beam.CoGroupByKey()
            | "NewOrChanged" >> beam.ParDo(_SplitByVersion()).with_outputs(REPLACED, main="to_label")
        )
        replaced = beam.pvalue.AsDict(split[REPLACED])
        kept = {
            name: pipeline
            | f"ReadPublished{name.capitalize()}" >> beam.io.ReadFromParquet(f"{self._published}/{name}-*.parquet")
            | f"Keep{name.capitalize()}OfUnchanged" >> beam.Filter(lambda row, gone: row["video_uri"] not in gone, replaced)
            for name in schema.TABLES
        }
        return split.to_label, kept
