"""`vidlabel train-head OUTPUT --examples examples.csv --out HEAD`: a label of your own, learnt from a few clips.

A result labelled with `--embeddings` holds every clip's pooled backbone features. A logistic regression over them
(scikit-learn's, on standardised features) learns a new set of classes from clips the user points at, in seconds and
without decoding anything: the cheap alternative to `vidlabel finetune`, which retrains the network on videos. It
works when the backbone's features already tell the classes apart; whether they do is what the cross-validated
accuracy it reports says. It is measured by video (`StratifiedGroupKFold`: no video gives clips to both the
training and the test folds, since clips of one video look alike), and it comes with warnings when a class has
fewer than `TRUSTED_EXAMPLES` examples or the accuracy is under `GOOD_ACCURACY`: then fine-tune instead.

`examples.csv` has a header and one row per example: `uri,start_s,label`, the video as it was labelled (a path or
URI) and a second inside the clip to learn from (the clip holding it, as `vidlabel search --like --at` picks it).

HEAD is a JSON file (no pickle: it is read by `vidlabel apply-head`, and by anyone): the classes, the weights and
bias of the softmax over them (the standardisation folded in), the model whose embeddings it was trained on (its
sha256, which apply-head checks), the examples per class and the cross-validated accuracy.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import time

import duckdb
import numpy as np
import pyarrow as pa

from vidlabel.pipeline import publish
from vidlabel.pipeline.commands import search
from vidlabel.transforms import storage
from vidlabel.transforms.errors import EXIT_OK, UsageError

HEAD_FORMAT = "vidlabel-head/1"
TRUSTED_EXAMPLES = 5  # fewer examples in a class: the accuracy is a guess
GOOD_ACCURACY = 0.8  # below this cross-validated accuracy the features do not separate the classes: fine-tune
MAX_FOLDS = 5


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidlabel train-head", description=__doc__.split("\n")[0])
    p.add_argument("output", help="The --output of a finished `vidlabel run --embeddings` (local or gs://).")
    p.add_argument("--examples", required=True, help="A CSV file with the header uri,start_s,label.")
    p.add_argument("--out", required=True, help="The head to write: a new .json file.")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not args.out.endswith(".json") or os.path.exists(args.out):
        raise UsageError(f"--out {args.out}: give a new file name ending in .json")
    examples = read_examples(args.examples)
    folder = publish.result_folder(args.output)
    record = publish.read_record(folder)
    dim = search.embedding_dim(record, args.output)
    con = duckdb.connect()
    source, params = search.predictions_source(con, folder)
    clips = example_clips(con, source, params, examples, args.examples)
    started = time.perf_counter()
    labels = clips["label"].to_numpy(zero_copy_only=False)
    embeddings = search.embedding_matrix(clips["embedding"], dim)
    videos = clips["video_uri"].to_numpy(zero_copy_only=False)
    accuracy, folds, by = cross_validated_accuracy(embeddings, labels, videos)
    classes, weights, bias = fit(embeddings, labels)
    seconds = time.perf_counter() - started
    counts = {str(c): int((labels == c).sum()) for c in classes}
    head = {
        "format": HEAD_FORMAT,
        "classes": [str(c) for c in classes],
        "weights": weights.tolist(),
        "bias": bias.tolist(),
        "model": model_identity(record),
        "trained_on": args.output,
        "examples": counts,
        "cross_validated_accuracy": accuracy,
        "folds": folds,
        "folds_by": by,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(args.out, "x", encoding="utf-8") as f:
        json.dump(head, f, indent=1)
    chance = max(counts.values()) / len(labels)
    per_class = ", ".join(f"{label} {n}" for label, n in counts.items())
    print(f"vidlabel train-head: {len(labels)} examples of {len(classes)} classes ({per_class})")
    print(
        f"vidlabel train-head: cross-validated accuracy {accuracy:.3f} ({folds} folds by {by}; chance {chance:.3f}); "
        f"trained in {seconds:.1f} s -> {args.out}"
    )
    for warning in warnings(counts, accuracy, chance):
        print(f"vidlabel train-head: warning: {warning}")
    return EXIT_OK


def read_examples(path: str) -> pa.Table:
    """The examples as a table (uri, start_s, label, line), every row checked before anything is read."""
    if not os.path.isfile(path):
        raise UsageError(f"--examples {path}: no such file")
    uris, seconds, labels, lines = [], [], [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"uri", "start_s", "label"} <= set(reader.fieldnames):
            raise UsageError(f"--examples {path}: the first line must be the header uri,start_s,label")
        for row in reader:
            line = reader.line_num
            try:
                second = float(row["start_s"])
            except (TypeError, ValueError):
                raise UsageError(f"--examples {path} line {line}: start_s {row['start_s']!r} is not a number") from None
            if not row["uri"] or not (row["label"] or "").strip():
                raise UsageError(f"--examples {path} line {line}: give a uri and a label")
            uris.append(storage.to_uri(row["uri"]))
            seconds.append(second)
            labels.append(row["label"].strip())
            lines.append(line)
    counts = {label: labels.count(label) for label in sorted(set(labels))}
    if len(counts) < 2:
        raise UsageError(f"--examples {path}: give examples of at least 2 labels (found {len(counts)})")
    if few := [label for label, n in counts.items() if n < 2]:
        raise UsageError(f"--examples {path}: give at least 2 examples of every label; {', '.join(few)} has 1")
    return pa.table({"uri": uris, "at": seconds, "label": labels, "line": lines})


def model_identity(record: dict) -> dict:
    """What a head is bound to: the model whose embeddings it was trained on (as given to `run`), its SavedModel's or
    file's sha256 where the run recorded one, and the dimension."""
    return {
        "name": record["embeddings"]["model"],
        "sha256": (record.get("model") or {}).get("sha256"),
        "dim": record["embeddings"]["dim"],
    }


def example_clips(con, source: str, params: dict, examples: pa.Table, path: str) -> pa.Table:
    """Each example's clip (the one holding its second whose middle is nearest it), with its embedding."""
    con.register("examples", examples)
    found = con.sql(
        f"""SELECT e.line, e.label, p.video_uri, p.embedding
            FROM examples e LEFT JOIN {source} p ON p.video_uri = e.uri AND p.start_s <= e.at AND e.at <= p.end_s
            QUALIFY row_number() OVER (
                PARTITION BY e.line ORDER BY abs((p.start_s + p.end_s) / 2 - e.at), p.start_s) = 1
            ORDER BY e.line""",
        params=params,
    ).to_arrow_table()
    asked = {row["line"]: row for row in examples.to_pylist()}
    for line, uri, embedding in zip(
        found["line"].to_pylist(), found["video_uri"].to_pylist(), found["embedding"].to_pylist()
    ):
        if uri is None:
            example = asked[line]
            raise UsageError(
                f"--examples {path} line {line}: the result has no clip of {example['uri']} at {example['at']:g} s "
                "(give the video as it was labelled, and a second inside it)"
            )
        if embedding is None:
            raise UsageError(f"--examples {path} line {line}: that clip has no embedding")
    return found


def cross_validated_accuracy(embeddings: np.ndarray, labels: np.ndarray, videos: np.ndarray) -> tuple[float, int, str]:
    """Accuracy on held-out folds, by video where every class has examples from 2 videos or more."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_score

    classes = np.unique(labels)
    videos_per_class = min(len(np.unique(videos[labels == c])) for c in classes)
    if videos_per_class >= 2:
        folds, by = (
            StratifiedGroupKFold(n_splits=min(MAX_FOLDS, videos_per_class), shuffle=True, random_state=0),
            "video",
        )
    else:
        examples_per_class = min(int((labels == c).sum()) for c in classes)
        folds, by = (
            StratifiedKFold(n_splits=min(MAX_FOLDS, examples_per_class), shuffle=True, random_state=0),
            "example",
        )
    scores = cross_val_score(classifier(), embeddings, labels, groups=videos if by == "video" else None, cv=folds)
    return float(scores.mean()), folds.get_n_splits(), by


def classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def fit(embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The classes, and the softmax weights [classes, dim] and bias [classes] over raw embeddings (the scaler folded
    in; a two-class model's single logit becomes the second class's, against zero for the first)."""
    model = classifier().fit(embeddings, labels)
    scaler, regression = model[0], model[-1]
    weights = regression.coef_ / scaler.scale_
    bias = regression.intercept_ - weights @ scaler.mean_
    if len(regression.classes_) == 2:
        weights, bias = np.vstack([np.zeros_like(weights[0]), weights[0]]), np.array([0.0, bias[0]])
    return regression.classes_, weights, bias


def warnings(counts: dict[str, int], accuracy: float, chance: float) -> list[str]:
    found = []
    if few := [label for label, n in counts.items() if n < TRUSTED_EXAMPLES]:
        found.append(
            f"{', '.join(few)}: fewer than {TRUSTED_EXAMPLES} examples; the accuracy above is a guess, give more"
        )
    if accuracy < GOOD_ACCURACY:
        found.append(
            f"cross-validated accuracy {accuracy:.2f} (chance {chance:.2f}): this model's features do not tell these "
            "labels apart well; give more varied examples, or train the network itself (`vidlabel finetune`)"
        )
    return found
