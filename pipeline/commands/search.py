"""`vidlabel search OUTPUT`: the clips of a labelled archive nearest a given clip or a new video, by embedding.

A result labelled with `--embeddings` holds every clip's embedding (the backbone's pooled features, L2-normalised,
`movinet/features.py`), so "more footage like this" is the clips whose embeddings have the largest dot product
(cosine similarity) with the query's. The query is

- `--like PATH --at SECONDS`: the clip of a video already in the result that holds that second (the one whose middle
  is nearest it where clips overlap); or
- `--like_file FILE`: a video that is not in the result, decoded and embedded with the run's own model and clip
  settings (`run.json`), its clips' embeddings averaged as a video's are (by duration, normalised).

Clips of the query's own video are left out unless `--same_video`. `--duplicates` lists instead the groups of
videos that show the same footage (`duplicates.py`). The search is brute force in DuckDB (its
`array_inner_product` over every stored embedding, a parallel scan of the Parquet files); bench/README.md gives its
speed on a million embeddings. DuckDB's `vss` extension (an HNSW index) and BigQuery's `VECTOR_SEARCH` go further
(docs/search.md). Paths, URIs and embeddings reach SQL only as bound parameters, never as SQL text.
"""

from __future__ import annotations

import argparse
import os
from typing import NamedTuple

import duckdb
import numpy as np
from apache_beam.io.filesystems import FileSystems

from vidlabel.pipeline import publish
from vidlabel.pipeline.commands import duplicates
from vidlabel.transforms import storage
from vidlabel.transforms.errors import EXIT_OK, UsageError

DEFAULT_TOP = 10


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidlabel search", description=__doc__.split("\n")[0])
    p.add_argument("output", help="The --output of a finished `vidlabel run --embeddings` (local or gs://).")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--like", metavar="PATH", help="A video of the result (as it was labelled); needs --at.")
    query.add_argument("--like_file", metavar="FILE", help="A new video, embedded with the run's model.")
    query.add_argument("--duplicates", action="store_true", help="The groups of videos that show the same footage.")
    p.add_argument("--at", type=float, metavar="SECONDS", help="With --like: the second of the video to match.")
    p.add_argument("--top", type=int, help=f"How many clips (default {DEFAULT_TOP}).")
    p.add_argument("--same_video", action="store_true", help="Also list clips of the query's own video.")
    p.add_argument(
        "--threshold",
        type=float,
        help=f"With --duplicates: the cosine similarity from which two clips are the same footage "
        f"(default {duplicates.DEFAULT_THRESHOLD}).",
    )
    p.add_argument("--out", help="Also write the results to this new Parquet file.")
    return p


class Query(NamedTuple):
    embedding: np.ndarray  # float32 [dim], unit length
    video_uri: str | None  # the query's own video in the result (left out of the results unless --same_video)
    described: str  # for the console


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    check_flags(args)
    folder = publish.result_folder(args.output)
    record = publish.read_record(folder)
    dim = embedding_dim(record, args.output)
    con = duckdb.connect()
    source, params = predictions_source(con, folder)
    if args.duplicates:
        clips = duplicates.read_clips(con, source, params, dim)
        found = duplicates.duplicate_groups(clips, args.threshold)
        groups = len(set(found["group"].to_pylist()))
        print(
            f"vidlabel search: {groups} group(s) of the same footage among {len(clips.uris)} video(s) "
            f"(clips alike from similarity {args.threshold:g})"
        )
        con.from_arrow(found).show(max_width=200, max_rows=max(found.num_rows, 1))
    else:
        query = (
            stored_clip(con, source, params, args.like, args.at) if args.like else embedded_file(args.like_file, record)
        )
        found = nearest(con, source, params, query, dim, args.top, None if args.same_video else query.video_uri)
        print(f"vidlabel search: {found.num_rows} clip(s) nearest {query.described}")
        con.from_arrow(found).show(max_width=200, max_rows=args.top)
    if args.out:
        import pyarrow.parquet as pq

        pq.write_table(found, args.out)
        print(f"vidlabel search: wrote {args.out}")
    return EXIT_OK


def embedding_dim(record: dict, output: str) -> int:
    """The dimension of a result's embeddings (`run.json`); a result labelled without `--embeddings` is refused."""
    dim = (record.get("embeddings") or {}).get("dim")
    if not dim:
        raise UsageError(
            f"{output} has no embeddings: label it with `vidlabel run ... --embeddings` (with --overwrite, "
            "or into a new --output)"
        )
    return int(dim)


def embedding_matrix(column, dim: int) -> np.ndarray:
    """An Arrow list column of embeddings (no nulls) as a float32 matrix [rows, dim]."""
    if hasattr(column, "combine_chunks"):
        column = column.combine_chunks()
    return np.asarray(column.flatten().to_numpy(), np.float32).reshape(-1, dim)


def check_flags(args) -> None:
    """Bad flags stop the command before it reads anything."""
    if args.like and args.at is None:
        raise UsageError("--like needs --at SECONDS: the second of that video whose clip to match")
    if args.at is not None and not args.like:
        raise UsageError("--at goes with --like; --like_file and --duplicates take whole files")
    if args.duplicates:
        for flag, value in (("--top", args.top), ("--same_video", args.same_video or None)):
            if value is not None:
                raise UsageError(f"{flag} goes with --like or --like_file; --duplicates lists every group")
        args.threshold = duplicates.DEFAULT_THRESHOLD if args.threshold is None else args.threshold
        if not 0 < args.threshold <= 1:
            raise UsageError(f"--threshold {args.threshold:g}: give a cosine similarity in (0, 1], such as 0.95")
    elif args.threshold is not None:
        raise UsageError("--threshold goes with --duplicates")
    args.top = DEFAULT_TOP if args.top is None else args.top
    if args.top < 1:
        raise UsageError(f"--top {args.top}: give 1 or more")
    if args.like_file and not storage.has_scheme(args.like_file) and not os.path.isfile(args.like_file):
        raise UsageError(f"--like_file {args.like_file}: no such file")
    if args.out:
        if not args.out.endswith(".parquet") or storage.has_scheme(args.out):
            raise UsageError(f"--out {args.out}: give a new local file name ending in .parquet")
        if os.path.exists(args.out):
            raise UsageError(f"--out {args.out} exists; choose a new file name")


def predictions_source(con, folder: str) -> tuple[str, dict]:
    """The predictions table as a FROM clause and its parameters: the files themselves for a local result (DuckDB
    scans them in parallel and reads only the columns a query needs), an Arrow table read through Beam's file
    systems for gs://."""
    pattern = f"{storage.escape_glob(folder)}/predictions-*.parquet"
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not storage.has_scheme(folder):
        return "read_parquet($files)", {"files": paths}
    con.register("predictions", publish.read_table(folder, "predictions"))
    return "predictions", {}


def stored_clip(con, source: str, params: dict, path: str, at: float) -> Query:
    uri = storage.to_uri(path)
    rows = con.execute(
        f"""SELECT embedding, start_s, end_s FROM {source}
            WHERE video_uri = $uri AND start_s <= $at AND $at <= end_s
            ORDER BY abs((start_s + end_s) / 2 - $at), start_s LIMIT 1""",
        {**params, "uri": uri, "at": at},
    ).fetchall()
    if not rows:
        [span] = con.execute(
            f"SELECT min(start_s), max(end_s) FROM {source} WHERE video_uri = $uri", {**params, "uri": uri}
        ).fetchall()
        if span[0] is None:
            raise UsageError(f"--like {path}: the result has no clip of {uri} (give the path as it was labelled)")
        raise UsageError(f"--at {at:g}: the clips of {uri} span {span[0]:g} to {span[1]:g} s")
    [(embedding, start_s, end_s)] = rows
    if embedding is None:
        raise UsageError(f"--like {path}: its clips have no embedding (labelled before --embeddings was on)")
    return Query(np.asarray(embedding, np.float32), uri, f"{uri} {start_s:g}-{end_s:g} s")


def embedded_file(path: str, record: dict) -> Query:
    """The file's embedding with the run's model and clip settings: its clips' embeddings averaged by duration
    (as a video's in the videos table), normalised."""
    from vidlabel.movinet import read_signature
    from vidlabel.movinet.classifiers import load_classifier
    from vidlabel.movinet.features import l2_normalised
    from vidlabel.transforms import clips, decode
    from vidlabel.transforms.types import ClipSpec

    model = record["model"]["path"]
    if not os.path.exists(model):
        raise UsageError(
            f"--like_file needs the model the result was labelled with, {model}, which is not there any more"
        )
    labelling = record["labelling"]
    spec = ClipSpec(**{field: labelling[field] for field in ClipSpec._fields if field in labelling})
    classifier = load_classifier(model, read_signature(model, None), embeddings=True)
    total = None
    uri = storage.to_uri(path)
    with decode.open_container(uri) as container:
        for key, frames in decode.video_clips(uri, container, decode.pick_video_stream(container), spec):
            weighted = (key.end_s - key.start_s) * classifier.predict(clips.model_input(frames[None])).features[0]
            total = weighted if total is None else total + weighted
    if total is None:
        raise UsageError(f"--like_file {path}: no clip could be cut from it")
    return Query(l2_normalised(total), uri, f"{path} (embedded now)")


def nearest(con, source: str, params: dict, query: Query, dim: int, top: int, leave_out: str | None):
    """The `top` clips with the highest cosine similarity to the query, as an Arrow table, best first. The lists are
    cast to arrays of the run's dimension for DuckDB's array functions (its list functions refuse a Parquet column
    holding any null list, even filtered out, as an error row's is)."""
    return con.sql(
        f"""SELECT video_uri, start_s, end_s,
                   array_inner_product(embedding::FLOAT[{dim:d}], $query::FLOAT[{dim:d}]) AS similarity,
                   list_transform(top_k, lambda x: x.label) AS labels
            FROM {source}
            WHERE embedding IS NOT NULL AND ($leave_out IS NULL OR video_uri <> $leave_out)
            ORDER BY similarity DESC, video_uri, start_s
            LIMIT $top""",
        params={**params, "query": query.embedding.tolist(), "leave_out": leave_out, "top": top},
    ).to_arrow_table()
