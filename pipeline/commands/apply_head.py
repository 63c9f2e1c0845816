"""`vidlabel apply-head OUTPUT HEAD --out LABELS`: a head from `vidlabel train-head` applied to every clip.

Every clip of the result with an embedding gets the head's classes' probabilities (a softmax over the weights in
HEAD), read in batches from the predictions table and written as the `custom_labels` table into a new folder LABELS:
no decoding, no model, seconds for an archive (bench/README.md). The labelled result is never modified, so any
number of heads can be applied to one result. The head must have been trained on embeddings of the same model (its
sha256 in the result's run.json), since another model's features mean something else.
"""

from __future__ import annotations

import argparse
import json
import os

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vidlabel.pipeline import publish
from vidlabel.pipeline.commands import search, train_head
from vidlabel.transforms import storage
from vidlabel.transforms.errors import EXIT_OK, UsageError

TABLE_FILE = "custom_labels-00000-of-00001.parquet"
BATCH_ROWS = 65536

SCORE = pa.struct([("label", pa.string()), ("score", pa.float32())])
CUSTOM_LABELS_SCHEMA = pa.schema(
    [
        ("video_uri", pa.string()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("label", pa.string()),  # the head's most probable class
        ("score", pa.float32()),  # its probability
        ("scores", pa.list_(SCORE)),  # every class of the head, most probable first
        ("head", pa.string()),  # the HEAD file it came from
    ]
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidlabel apply-head", description=__doc__.split("\n")[0])
    p.add_argument("output", help="The --output of a finished `vidlabel run --embeddings` (local or gs://).")
    p.add_argument("head", help="A head written by `vidlabel train-head` (.json).")
    p.add_argument("--out", required=True, help="A new local folder for the custom_labels table.")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if storage.has_scheme(args.out) or os.path.exists(args.out):
        raise UsageError(f"--out {args.out}: give a new local folder")
    head = read_head(args.head)
    folder = publish.result_folder(args.output)
    record = publish.read_record(folder)
    dim = search.embedding_dim(record, args.output)
    model = train_head.model_identity(record)
    if (model["sha256"], model["dim"]) != (head["model"]["sha256"], head["model"]["dim"]):
        raise UsageError(
            f"{args.head} was trained on embeddings of {head['model']['name']}; {args.output} holds those of "
            f"{model['name']} (another model's features mean something else): train a head on this result"
        )
    con = duckdb.connect()
    source, params = search.predictions_source(con, folder)
    reader = con.sql(
        f"SELECT video_uri, start_s, end_s, embedding FROM {source} WHERE embedding IS NOT NULL "
        "ORDER BY video_uri, start_s",
        params=params,
    ).to_arrow_reader(BATCH_ROWS)
    os.makedirs(args.out)
    clips = 0
    with pq.ParquetWriter(os.path.join(args.out, TABLE_FILE), CUSTOM_LABELS_SCHEMA) as writer:
        for batch in reader:
            writer.write_table(custom_labels(batch, head, args.head, dim))
            clips += batch.num_rows
    with open(os.path.join(args.out, "head.json"), "w", encoding="utf-8") as f:
        json.dump({**head, "applied_to": args.output}, f, indent=1)
    counts = con.sql(
        "SELECT label, count(*) FROM read_parquet($file) GROUP BY label ORDER BY label",
        params={"file": os.path.join(args.out, TABLE_FILE)},
    ).fetchall()
    print(f"vidlabel apply-head: {clips} clips -> {args.out}/{TABLE_FILE}")
    print("vidlabel apply-head: clips by label: " + ", ".join(f"{label} {n}" for label, n in counts))
    return EXIT_OK


def read_head(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            head = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a head from `vidlabel train-head` ({e})") from None
    if not isinstance(head, dict) or head.get("format") != train_head.HEAD_FORMAT:
        raise UsageError(f"{path}: not a head from `vidlabel train-head` (format {train_head.HEAD_FORMAT})")
    return head


def custom_labels(batch: pa.RecordBatch, head: dict, head_path: str, dim: int) -> pa.Table:
    embeddings = search.embedding_matrix(batch["embedding"], dim)
    logits = embeddings @ np.asarray(head["weights"], np.float32).T + np.asarray(head["bias"], np.float32)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    order = np.argsort(-probabilities, axis=1, kind="stable")
    classes = np.asarray(head["classes"], dtype=object)
    ranked = np.take_along_axis(probabilities, order, axis=1)
    scores = pa.ListArray.from_arrays(
        pa.array(np.arange(0, ranked.size + 1, ranked.shape[1], dtype=np.int32)),
        pa.StructArray.from_arrays(
            [pa.array(classes[order].ravel(), pa.string()), pa.array(ranked.ravel(), pa.float32())],
            fields=list(SCORE),
        ),
    )
    return pa.table(
        {
            "video_uri": batch["video_uri"],
            "start_s": batch["start_s"],
            "end_s": batch["end_s"],
            "label": pa.array(classes[order[:, 0]], pa.string()),
            "score": pa.array(ranked[:, 0], pa.float32()),
            "scores": scores,
            "head": pa.array([head_path] * batch.num_rows, pa.string()),
        },
        schema=CUSTOM_LABELS_SCHEMA,
    )
