"""Embeddings: what `--embeddings` costs a run, how well they retrieve, and how fast `vidlabel search` is.

    .venv/bin/python bench/embeddings.py [--parts cost,retrieval,search] [--rows 1000000] [--rounds 3]

- cost: `vidlabel run` with and without `--embeddings`, alternating, best of `--rounds`, per model form (A0 TFLite
  and A0 base, random weights: speed does not depend on them) on the rendered 20-s 720p30 video and the decodable
  shared videos; wall time ratio, and the bytes the predictions files gain per clip.
- retrieval: the demo's model (`bench/.models/demo/model`, made by bench/segments.py or `vidlabel demo --out
  bench/.models/demo`) on its held-out videos (1.2-2 s), and on 60 longer videos of its classes (3-5 s, rendered
  with another seed), labelled with `--embeddings`: precision@5 of each clip's 5 nearest clips of *other* videos
  (same class = its folder), read from Parquet with DuckDB, for all query clips and split into whole clips and the
  shorter last clip of each video.
- search: a result of `--rows` clips with random unit embeddings of A0's dimension (480), written with the
  predictions schema by pyarrow in row groups as Beam's writer makes them; one query through
  `search.nearest` (DuckDB, in this process) against NumPy (pyarrow reads the column, a matrix product,
  `argpartition`), best of `--rounds`, same run; and the whole `vidlabel search` command once.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import SHARED, random_model, vidlabel_command  # noqa: E402  (bench scripts are run as files)
from decode_isolation import render_720p  # noqa: E402

BENCH = pathlib.Path(__file__).resolve().parent
MODELS = BENCH / ".models"
DEMO_MODEL = MODELS / "demo" / "model"
HELD_OUT = MODELS / "demo" / "videos" / "heldout"
DIM = 480
DECODABLE = ("anet_clean_and_jerk_h264.mp4", "k400_arm_wrestling_h264.mp4", "mug_rotate270_h264.mp4")


def run(inputs, out, model, *flags) -> float:
    """Wall time of one `vidlabel run` into a fresh `out` (a result is a link to its run folder in `out.runs`)."""
    out.unlink(missing_ok=True)
    shutil.rmtree(out.with_name(out.name + ".runs"), ignore_errors=True)
    started = time.perf_counter()
    command = vidlabel_command("run", "--input", inputs, "--output", out, "--model", model, *flags)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def table_bytes(out: pathlib.Path, name: str) -> int:
    return sum(f.stat().st_size for f in out.resolve().glob(f"{name}-*.parquet"))


def cost(work: pathlib.Path, rounds: int) -> None:
    inputs = work / "cost-inputs"
    inputs.mkdir(exist_ok=True)
    for name in DECODABLE:
        if not (inputs / name).exists():
            (inputs / name).symlink_to(SHARED / "videos" / name)
    render_720p(inputs / "gradient_720p30_20s.mp4")
    forms = {
        "a0-tflite": random_model(MODELS / "a0-stream", "a0", "stream", "--tflite") / "model.tflite",
        "a0-base": random_model(MODELS / "a0-base", "a0", "base"),
    }
    print("| model | wall s without | with --embeddings | ratio | clips | predictions bytes a clip, without / with |")
    print("| --- | --- | --- | --- | --- | --- |")
    for form, model in forms.items():
        best = {False: np.inf, True: np.inf}
        for _ in range(rounds):
            for embeddings in (False, True):
                out = work / f"cost-{form}-{embeddings}"
                flags = ("--embeddings",) if embeddings else ()
                best[embeddings] = min(best[embeddings], run(inputs, out, model, *flags))
        clips = duckdb.sql(f"select count(*) from '{work}/cost-{form}-True/predictions-*.parquet'").fetchall()[0][0]
        size = [table_bytes(work / f"cost-{form}-{e}", "predictions") / clips for e in (False, True)]
        print(
            f"| {form} | {best[False]:.1f} | {best[True]:.1f} | **{best[True] / best[False]:.3f}** | {clips} "
            f"| {size[0]:.0f} / {size[1]:.0f} |",
            flush=True,
        )


def retrieval(work: pathlib.Path) -> None:
    """Precision@5 on the demo's held-out videos (1.2-2 s: each one 1-s clip and a shorter last one) and on longer
    videos of the same classes (3-5 s, rendered with another seed), split into whole and shorter last clips."""
    if not (DEMO_MODEL / "saved_model.pb").exists():
        sys.exit(f"no demo model in {DEMO_MODEL}: run `vidlabel demo --out {DEMO_MODEL.parent}` first")
    longer = work / "retrieval-longer-videos"
    if not longer.exists():
        classes = ",".join(sorted(p.name for p in HELD_OUT.iterdir()))
        command = ("synth", "--out", longer, "--classes", classes, "--videos_per_class", 10, "--seed", 41)
        subprocess.run(vidlabel_command(*command, "--min_seconds", 3, "--max_seconds", 5), check=True)
    for name, videos in (("the demo's held-out videos", HELD_OUT), ("longer videos (3-5 s)", longer)):
        out = work / ("retrieval" if videos == HELD_OUT else "retrieval-longer")
        wall = run(videos, out, DEMO_MODEL, "--embeddings")
        count = duckdb.sql(f"select count(*) from '{out}/videos-*.parquet'").fetchall()[0][0]
        print(
            f"retrieval: demo model, {name}: {count} videos (labelled in {wall:.0f} s); precision@5 by clip embedding,"
        )
        print("  other videos only, by query clip:")
        for kind, queries, precision in precision_at_5(out):
            print(f"  {kind}: {queries} queries, **{precision:.3f}**")


def precision_at_5(out: pathlib.Path) -> list[tuple]:
    query = f"""
        WITH clips AS (
            SELECT video_uri, embedding, split_part(video_uri, '/', -2) AS class, row_number() OVER () AS id,
                   end_s - start_s >= max(end_s - start_s) OVER () - 0.01 AS whole
            FROM '{out}/predictions-*.parquet'),
        pairs AS (
            SELECT q.id, q.whole, q.class AS wanted, c.class AS found,
                   row_number() OVER (PARTITION BY q.id ORDER BY list_dot_product(q.embedding, c.embedding) DESC) AS r
            FROM clips q JOIN clips c ON q.video_uri <> c.video_uri)
        SELECT 'all clips', count(DISTINCT id), avg((wanted = found)::INT) FROM pairs WHERE r <= 5
        UNION ALL
        SELECT CASE WHEN whole THEN 'whole clips' ELSE 'shorter last clips' END, count(DISTINCT id),
               avg((wanted = found)::INT)
        FROM pairs WHERE r <= 5 GROUP BY whole"""
    return sorted(duckdb.sql(query).fetchall(), key=lambda row: ("all", "whole", "shorter").index(row[0].split()[0]))


def write_result(folder: pathlib.Path, rows: int) -> None:
    """A result of `rows` clips with random unit embeddings, in the predictions schema, plus what makes it a result."""
    from vidlabel.transforms import schema

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    per_file, group = 250_000, 30_000  # Beam's writer: ~64 MiB row groups (about 30,000 clips of 2 kB)
    for first in range(0, rows, per_file):
        n = min(per_file, rows - first)
        x = rng.standard_normal((n, DIM), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        clip = np.arange(first, first + n)
        table = pa.table(
            {
                "video_uri": pa.array([f"/archive/video-{i // 100:06d}.mp4" for i in clip]),
                "clip_index": pa.array(clip % 100, pa.int32()),
                "start_s": pa.array((clip % 100) * 10.0),
                "end_s": pa.array((clip % 100) * 10.0 + 10.0),
                "start_frame": pa.array((clip % 100) * 300),
                "end_frame": pa.array((clip % 100) * 300 + 299),
                "top_k": pa.array([[{"label": "abseiling", "score": 0.5}]] * n, schema.TOP_K),
                "scores": pa.nulls(n, pa.list_(pa.float32())),
                "embedding": pa.ListArray.from_arrays(np.arange(0, (n + 1) * DIM, DIM, dtype=np.int32), x.ravel()),
                "model": pa.array(["a0"] * n),
                "run_id": pa.array(["bench"] * n),
            },
            schema=schema.PREDICTIONS,
        )
        pq.write_table(table, folder / f"predictions-{first // per_file:05d}-of-99999.parquet", row_group_size=group)
    pq.write_table(pa.Table.from_pylist([], schema=schema.VIDEOS), folder / "videos-00000-of-00001.parquet")
    record = {"schema_version": schema.SCHEMA_VERSION, "embeddings": {"dim": DIM, "model": "a0"}, "labelling": {}}
    (folder / "run.json").write_text(json.dumps(record))


def search_speed(work: pathlib.Path, rows: int, rounds: int) -> None:
    from vidlabel.pipeline.commands import search

    folder = work / f"search-{rows}"
    if not (folder / "run.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_result(folder, rows)
    size = sum(f.stat().st_size for f in folder.glob("predictions-*.parquet"))
    rng = np.random.default_rng(1)
    vector = rng.standard_normal(DIM).astype(np.float32)
    query = search.Query(vector / np.linalg.norm(vector), None, "random")
    con = duckdb.connect()
    source, params = search.predictions_source(con, str(folder))
    best_duckdb = best_numpy = best_numpy_product = np.inf
    for _ in range(rounds):
        started = time.perf_counter()
        found = search.nearest(con, source, params, query, DIM, 10, None)
        best_duckdb = min(best_duckdb, time.perf_counter() - started)
        started = time.perf_counter()
        embeddings = pq.read_table(params["files"], columns=["embedding"]).column("embedding")
        matrix = embeddings.combine_chunks().values.to_numpy().reshape(-1, DIM)
        product_started = time.perf_counter()
        similarity = matrix @ query.embedding
        top = np.argpartition(-similarity, 10)[:10]
        top = top[np.argsort(-similarity[top])]
        best_numpy_product = min(best_numpy_product, time.perf_counter() - product_started)
        best_numpy = min(best_numpy, time.perf_counter() - started)
        del embeddings, matrix
    assert np.allclose(sorted(found.column("similarity").to_pylist(), reverse=True), similarity[top], atol=1e-5)
    print(
        f"search: {rows:,} clips of {DIM} numbers, {size / 1e9:.2f} GB of Parquet, {os.cpu_count()} cores, best of "
        f"{rounds}: DuckDB (search.nearest) **{best_duckdb:.2f} s**; NumPy {best_numpy:.2f} s (of which the "
        f"product and top 10: {best_numpy_product:.2f} s, the rest reading the column) = DuckDB / NumPy "
        f"**{best_duckdb / best_numpy:.2f}**",
        flush=True,
    )
    started = time.perf_counter()
    command = vidlabel_command("search", folder, "--like", "/archive/video-000123.mp4", "--at", "15")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    command_s = time.perf_counter() - started
    print(f"search: the whole `vidlabel search --like` command (start-up included): {command_s:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="cost,retrieval,search")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=pathlib.Path, default=BENCH / ".inputs" / "embeddings")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    if "search" in parts:
        search_speed(args.work, args.rows, args.rounds)
    if "retrieval" in parts:
        retrieval(args.work)
    if "cost" in parts:
        cost(args.work, args.rounds)


if __name__ == "__main__":
    main()
