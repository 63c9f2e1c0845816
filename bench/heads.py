"""Labels of your own: how well `vidlabel train-head` learns classes the backbone never saw, from 20 examples each,
and how fast `apply-head` labels an archive.

    .venv/bin/python bench/heads.py [--examples 20]

- accuracy: `vidlabel synth` renders 40 videos of each of rotate_clockwise, rotate_anticlockwise, red and blue
  (none of them among the demo model's six training classes: four directions of motion, grow, shrink) into
  bench/.inputs/heads/; each backbone labels them with `--embeddings`; for each task (rotation: clockwise against
  anticlockwise; colour: red against blue) `train-head` learns from the first clip of `--examples` videos of each
  class and `apply-head` labels every clip; the accuracy is over the clips of the other 20 videos of each class
  (never seen in training), next to the cross-validated accuracy train-head reports. Backbones: the demo's model
  (`bench/.models/demo/model`) and A0 with random weights (TFLite), the control.
- speed: `apply-head` over the million-clip result bench/embeddings.py generates (`--rows`), with a head trained on
  it (random labels: only the time counts), wall time of the command.
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import shutil
import subprocess
import sys
import time

import duckdb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import random_model, vidlabel_command  # noqa: E402  (bench scripts are run as files)

BENCH = pathlib.Path(__file__).resolve().parent
WORK = BENCH / ".inputs" / "heads"
MODELS = BENCH / ".models"
TASKS = {"rotation": ("rotate_clockwise", "rotate_anticlockwise"), "colour": ("red", "blue")}
VIDEOS_PER_CLASS = 40


def vidlabel(*args) -> float:
    started = time.perf_counter()
    subprocess.run(vidlabel_command(*args), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def accuracy(examples: int) -> None:
    videos = WORK / "videos"
    if not videos.exists():
        classes = ",".join(c for pair in TASKS.values() for c in pair)
        vidlabel("synth", "--out", videos, "--classes", classes, "--videos_per_class", VIDEOS_PER_CLASS, "--seed", 31)
    backbones = {
        "demo": MODELS / "demo" / "model",
        "a0-random": random_model(MODELS / "a0-stream", "a0", "stream", "--tflite") / "model.tflite",
    }
    print("| backbone | task | train-head s | cross-validated | held-out clip accuracy | held-out clips |")
    print("| --- | --- | --- | --- | --- | --- |")
    for backbone, model in backbones.items():
        out = WORK / f"result-{backbone}"
        if not (out / "run.json").exists():
            vidlabel("run", "--input", videos, "--output", out, "--model", model, "--embeddings", "--overwrite")
        for task, classes in TASKS.items():
            head, labels = WORK / f"head-{backbone}-{task}.json", WORK / f"labels-{backbone}-{task}"
            head.unlink(missing_ok=True)
            shutil.rmtree(labels, ignore_errors=True)
            train = {c: sorted((videos / c).glob("*.mp4"))[:examples] for c in classes}
            test = {c: sorted((videos / c).glob("*.mp4"))[VIDEOS_PER_CLASS // 2 :] for c in classes}
            examples_csv = WORK / f"examples-{task}.csv"
            with open(examples_csv, "w", newline="") as f:
                rows = csv.writer(f)
                rows.writerow(["uri", "start_s", "label"])
                rows.writerows([path, 0.5, label] for label, paths in train.items() for path in paths)
            train_s = vidlabel("train-head", out, "--examples", examples_csv, "--out", head)
            vidlabel("apply-head", out, head, "--out", labels)
            truth = [(str(path), label) for label, paths in test.items() for path in paths]
            correct, clips = held_out(labels, truth)
            cross = json.loads(head.read_text())["cross_validated_accuracy"]
            print(
                f"| {backbone} | {task} | {train_s:.1f} | {cross:.3f} | **{correct / clips:.3f}** | {clips} |",
                flush=True,
            )


def held_out(labels: pathlib.Path, truth: list[tuple[str, str]]) -> tuple[int, int]:
    con = duckdb.connect()
    con.execute("CREATE TABLE truth (uri VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO truth VALUES (?, ?)", truth)
    return con.sql(
        "SELECT count(*) FILTER (WHERE c.label = t.label), count(*) "
        "FROM read_parquet($files) c JOIN truth t ON c.video_uri = t.uri",
        params={"files": [str(p) for p in labels.glob("custom_labels-*.parquet")]},
    ).fetchall()[0]


def speed(rows: int) -> None:
    result = BENCH / ".inputs" / "embeddings" / f"search-{rows}"
    if not (result / "run.json").exists():
        bench_args = ("--parts", "search", "--rows", rows, "--rounds", 1)
        subprocess.run([sys.executable, BENCH / "embeddings.py", *map(str, bench_args)], check=True)
    uris = duckdb.sql(f"SELECT DISTINCT video_uri FROM '{result}/predictions-*.parquet' LIMIT 40").fetchall()
    examples_csv = WORK / "examples-speed.csv"
    with open(examples_csv, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["uri", "start_s", "label"])
        out.writerows([uri, 0.0, "ab"[i % 2]] for i, (uri,) in enumerate(uris))
    head, labels = WORK / "head-speed.json", WORK / "labels-speed"
    head.unlink(missing_ok=True)
    shutil.rmtree(labels, ignore_errors=True)
    train_s = vidlabel("train-head", result, "--examples", examples_csv, "--out", head)
    apply_s = vidlabel("apply-head", result, head, "--out", labels)
    print(f"apply-head over {rows} clips: {apply_s:.1f} s (train-head on 40 of them: {train_s:.1f} s; whole commands)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=20, help="Training videos per class (at most 20).")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--parts", default="accuracy,speed")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if "accuracy" in args.parts:
        accuracy(min(args.examples, VIDEOS_PER_CLASS // 2))
    if "speed" in args.parts:
        speed(args.rows)


if __name__ == "__main__":
    main()
