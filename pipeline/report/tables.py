"""A result's tables as the report shows them: the archive's figures (`Overview`) and each video's page (`VideoPage`).

Everything is read once with DuckDB over the Parquet tables (local or gs://, through `publish.read_table`), and
only the columns the report needs: never the embeddings or the full score vectors. A table that an older vidlabel
did not write (shots, segments, thumbnails) reads as empty, so such a result still gets its report, without those
parts. What the report calls "a video has a label": one of its clips holds the label among its top k; its score
there is that clip's best (`VideoEntry.labels`), which is what the overview's filter and label links use.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import NamedTuple

import duckdb
import pyarrow as pa

from vidlabel.pipeline import publish
from vidlabel.transforms import schema, storage

# The columns read of each table.
COLUMNS = {
    "videos": [
        "video_uri",
        "status",
        "error",
        "duration_s",
        "source_fps",
        "width",
        "height",
        "rotation",
        "codec",
        "pix_fmt",
        "bit_depth",
        "stream_index",
        "num_frames",
        "num_clips",
        "top_k",
        "file_size",
        "file_modified",
        "model",
        "run_id",
    ],
    "predictions": ["video_uri", "start_s", "end_s", "top_k"],
    "errors": ["video_uri", "stage", "error_class", "message"],
    "shots": ["video_uri", "shot_index", "start_s", "end_s", "top_k"],
    "segments": ["video_uri", "label", "start_s", "end_s", "confidence"],
    "thumbnails": ["video_uri", "time_s", "width", "height"],
}


NEWER_TABLES = ("shots", "segments", "thumbnails")  # tables an older vidlabel did not write


class VideoEntry(NamedTuple):
    """One video as the overview lists and filters it."""

    id: int  # its page: the index of its URI in sorted order
    uri: str
    status: str
    duration_s: float | None
    labels: list[tuple[str, float]]  # every label of its clips' top k, with its best score, best first
    thumbnail: float | None  # the time of its first thumbnail


class Overview(NamedTuple):
    record: dict  # run.json
    tables: tuple[str, ...]  # the tables the result holds
    videos: list[VideoEntry]
    # Every label of any clip's top k: (label, seconds of the clips it tops, videos that have it), by time.
    label_seconds: list[tuple[str, float, int]]
    durations: list[float]  # of the videos that decoded
    codecs: list[tuple[str, int]]
    resolutions: list[tuple[str, int]]  # "1920x1080" as displayed
    failures: list[tuple[str, str, list[tuple[int, str, str]]]]  # (stage, error class, [(id, uri, message)])
    totals: dict

    @property
    def missing_tables(self) -> list[str]:
        """The tables the report draws from that this result lacks (written by an older vidlabel)."""
        return [name for name in NEWER_TABLES if name not in self.tables]


class VideoPage(NamedTuple):
    """What one video's page shows."""

    entry: VideoEntry
    facts: dict  # the videos table's row, as read (top_k aside)
    top_k: list[dict]
    error: dict | None  # its errors row: stage, error_class, message
    clips: list[tuple[float, float, str, float]]  # (start, end, top label, its score)
    shots: list[tuple[float, float, str | None, float | None]]
    segments: list[tuple[str, float, float, float]]  # (label, start, end, confidence)
    thumbnails: list[tuple[float, int, int]]  # (time, width, height)


def read_tables(folder: str) -> tuple[dict[str, pa.Table], tuple[str, ...]]:
    """The report's columns of every table; one the result lacks is an empty table of this version's schema."""
    escaped = storage.escape_glob(folder)
    present = publish.result_tables(escaped)
    tables = {}
    for name, columns in COLUMNS.items():
        table = publish.read_table(escaped, name, columns=columns) if name in present else None
        tables[name] = table if table is not None else schema.TABLES[name].empty_table().select(columns)
    return tables, present


def gather(folder: str) -> tuple[Overview, Iterator[VideoPage]]:
    """The overview, and each video's page in id order (built one at a time as the iterator is read)."""
    tables, present = read_tables(folder)
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    video_rows = con.sql("select * from videos order by video_uri").fetch_arrow_table().to_pylist()
    ids = {row["video_uri"]: i for i, row in enumerate(video_rows)}
    # Every label a video has (one of its clips holds it in its top k), with its best score: the clips' top k
    # unnested once, for the filter's data and for each label's video count.
    con.sql(
        """create temp table video_labels as
           select video_uri, t.label as label, max(t.score) as score
           from (select video_uri, unnest(top_k) as t from predictions) group by all"""
    )
    labels_of = collections.defaultdict(list)
    for uri, label, score in rows(con, "select * from video_labels order by video_uri, score desc, label"):
        labels_of[uri].append((label, score))
    first_thumbnail = dict(rows(con, "select video_uri, min(time_s) from thumbnails group by all"))
    entries = [
        VideoEntry(
            id=ids[row["video_uri"]],
            uri=row["video_uri"],
            status=row["status"],
            duration_s=row["duration_s"],
            labels=labels_of.get(row["video_uri"], []),
            thumbnail=first_thumbnail.get(row["video_uri"]),
        )
        for row in video_rows
    ]
    overview = Overview(
        record=publish.read_record(folder),
        tables=present,
        videos=entries,
        label_seconds=rows(
            con,
            """select l.label, coalesce(top.seconds, 0), l.videos
               from (select label, count(*) as videos from video_labels group by 1) l
               left join (select top_k[1].label as label, sum(end_s - start_s) as seconds
                          from predictions group by 1) top using (label)
               order by 2 desc, 3 desc, 1""",
        ),
        durations=[r["duration_s"] for r in video_rows if r["status"] == "ok" and r["duration_s"] is not None],
        codecs=rows(con, "select codec, count(*) from videos where status = 'ok' group by 1 order by 2 desc, 1"),
        resolutions=rows(
            con,
            """select width || 'x' || height, count(*) from videos where status = 'ok'
               group by 1 order by 2 desc, 1""",
        ),
        failures=failure_groups(con, ids),
        totals=totals(con),
    )
    return overview, video_pages(con, entries, video_rows)


def rows(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    return [tuple(r) for r in con.sql(query).fetchall()]


def totals(con) -> dict:
    videos, ok, seconds, clips = rows(
        con,
        """select count(*), count(*) filter (where status = 'ok'),
                  coalesce(sum(duration_s) filter (where status = 'ok'), 0), coalesce(sum(num_clips), 0)
           from videos""",
    )[0]
    counted = {name: rows(con, f"select count(*) from {name}")[0][0] for name in NEWER_TABLES}
    return {"videos": videos, "ok": ok, "failed": videos - ok, "hours": seconds / 3600, "clips": clips, **counted}


def failure_groups(con, ids: dict[str, int]) -> list[tuple[str, str, list[tuple[int, str, str]]]]:
    """Failed videos by stage and error class, the largest group first. A failed video without an errors row (a
    result's tables edited by hand) still counts, with its videos row's message."""
    groups = collections.defaultdict(list)
    for uri, stage, error_class, message in rows(
        con,
        """select v.video_uri, coalesce(e.stage, 'unknown'), coalesce(e.error_class, 'unknown'),
                  coalesce(e.message, v.error, '')
           from videos v left join errors e using (video_uri) where v.status != 'ok' order by 1""",
    ):
        groups[(stage, error_class)].append((ids[uri], uri, message))
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [(stage, error_class, members) for (stage, error_class), members in ordered]


def video_pages(con, entries: list[VideoEntry], video_rows: list[dict]) -> Iterator[VideoPage]:
    """Each video's page: every table is read once, grouped by video (the clips' top label only, a few numbers a
    clip), then the pages are built one at a time."""
    per_video = {
        name: grouped(con, query)
        for name, query in {
            "clips": "select video_uri, start_s, end_s, top_k[1].label, top_k[1].score from predictions order by 1, 2",
            "shots": "select video_uri, start_s, end_s, top_k[1].label, top_k[1].score from shots order by 1, 2",
            "segments": "select video_uri, label, start_s, end_s, confidence from segments order by 1, 3, 2",
            "thumbnails": "select video_uri, time_s, width, height from thumbnails order by 1, 2",
            "errors": "select video_uri, stage, error_class, message from errors",
        }.items()
    }
    for entry, row in zip(entries, video_rows):
        found = {name: groups.pop(entry.uri, []) for name, groups in per_video.items()}
        error = found["errors"][0] if found["errors"] else None
        yield VideoPage(
            entry=entry,
            facts={k: v for k, v in row.items() if k != "top_k"},
            top_k=row["top_k"] or [],
            error=dict(zip(("stage", "error_class", "message"), error)) if error else None,
            clips=found["clips"],
            shots=found["shots"],
            segments=found["segments"],
            thumbnails=found["thumbnails"],
        )


def grouped(con, query: str) -> dict[str, list[tuple]]:
    """A query's rows by their first column (the video's URI), in the query's order, without that column."""
    groups = collections.defaultdict(list)
    for uri, *values in con.sql(query).fetchall():
        groups[uri].append(tuple(values))
    return groups
