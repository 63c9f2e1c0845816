"""Fine-tuning on small data (issue 18): held-out video accuracy of `vidlabel finetune` recipes on motion videos
from `bench/motion_videos.py` (a generator apart from `vidlabel synth`: textured drifting backgrounds, distractors,
camera shake), each model labelling the same held-out videos through `vidlabel run` and read back with DuckDB.

    .venv/bin/python bench/small_data.py [--work bench/out/small_data] [--runs NAME,...] [-- EXTRA FINETUNE FLAGS]

Runs (each skipped when its model exists in WORK, so a long session can be resumed):
- `random30`: 30 videos per class (left, right, up, down), random weights, today's defaults;
- `random10`: 10 videos per class of those, random weights, today's defaults;
- `random30_no_still`: the same without the still frame blended into training clips (`--still_frame 0`);
- `random30_8fps`: the same with the previous version's defaults: 8 fps, 1-s clips, 15 epochs, patience 5, no
  still frame (`--still_frame 0 --fps 8 --clip_seconds 1 --epochs 15 --patience 5`);
- `plain30`: that without augmentation and regularisation (`--augment off --weight_decay 0 --dropout 0
  --label_smoothing 0`), the recipe before issue 18;
- `backbone`: 40 videos per class of four *diagonal* motions (other classes), random weights: the backbone;
- `init30`, `init10`: 30 and 10 videos per class from the backbone (`--init`: every weight at the full rate);
- `init30_two_stage`, `init10_two_stage`: the same with `--freeze_epochs 3` (the head alone first, then every
  weight at a tenth of the rate);
- `unlearnable`: 30 videos per class filed under random classes.
`--backbone MODEL` starts init30 and init10 from another model instead (the demo's, say).
Held-out: 10 new videos per class. Prints a Markdown table (validation and held-out accuracy, epochs, times) and
writes WORK/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import duckdb

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import motion_videos  # noqa: E402
from common import vidlabel_command  # noqa: E402

EIGHT_FPS = ("--still_frame", "0", "--fps", "8", "--clip_seconds", "1", "--epochs", "15", "--patience", "5")
PLAIN = (*EIGHT_FPS, "--augment", "off", "--weight_decay", "0", "--dropout", "0", "--label_smoothing", "0")
RUNS = {  # name: (training data, flags)
    "random30": ("axis30", ()),
    "random10": ("axis10", ()),
    "random30_no_still": ("axis30", ("--still_frame", "0")),
    "random30_8fps": ("axis30", EIGHT_FPS),
    "plain30": ("axis30", PLAIN),
    "backbone": ("diagonal40", ()),
    "init30": ("axis30", ("--init", "{backbone}")),
    "init10": ("axis10", ("--init", "{backbone}")),
    "init30_two_stage": ("axis30", ("--init", "{backbone}", "--freeze_epochs", "3")),
    "init10_two_stage": ("axis10", ("--init", "{backbone}", "--freeze_epochs", "3")),
    "unlearnable": ("shuffled30", ()),
}
DATA = {  # name: generator flags
    "axis30": ("--directions", "axis", "--videos_per_class", "30", "--seed", "1"),
    "heldout": ("--directions", "axis", "--videos_per_class", "10", "--seed", "2"),
    "diagonal40": ("--directions", "diagonal", "--videos_per_class", "40", "--seed", "3"),
    "shuffled30": ("--directions", "axis", "--videos_per_class", "30", "--seed", "4", "--shuffle_labels"),
}


def dataset(work: pathlib.Path, name: str) -> pathlib.Path:
    folder = work / "data" / name
    if name == "axis10":  # the first 10 videos per class of axis30, as a manifest
        source = dataset(work, "axis30")
        folder = work / "data" / "axis10.csv"
        lines = [f"{p},{p.parent.name}" for c in sorted(source.iterdir()) for p in sorted(c.glob("*.mp4"))[:10]]
        folder.write_text("uri,label\n" + "\n".join(lines) + "\n")
        return folder
    if not folder.exists():
        partial = folder.with_name(name + ".partial")
        motion_videos.main(["--out", str(partial), *DATA[name]])
        partial.rename(folder)
    return folder


def held_out_accuracy(work: pathlib.Path, model: pathlib.Path, name: str) -> tuple[int, int]:
    tables = work / "tables" / name
    if not tables.exists():
        command = vidlabel_command("run", "--model", model, "--input", dataset(work, "heldout"), "--output", tables)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    rows = duckdb.sql(
        f"SELECT regexp_extract(video_uri, '/([^/]+)/[^/]+$', 1), top_k[1].label "
        f"FROM read_parquet('{tables}/videos-*.parquet') WHERE status = 'ok'"
    ).fetchall()
    return sum(truth == predicted for truth, predicted in rows), len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path("bench/out/small_data"))
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument(
        "--backbone",
        help="The model init30 and init10 start from (default: WORK/models/backbone, the `backbone` run's); for "
        "example the demo's model, out/demo/model.",
    )
    args, extra = parser.parse_known_args()
    extra = [flag for flag in extra if flag != "--"]
    work = args.work.resolve()
    (work / "models").mkdir(parents=True, exist_ok=True)
    results = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else {}
    for name in args.runs.split(","):
        data_name, flags = RUNS[name]
        model = work / "models" / name
        if not model.exists():
            data = dataset(work, data_name)
            flags = [f.format(backbone=args.backbone or work / "models" / "backbone") for f in flags]
            started = time.monotonic()
            log = work / f"{name}.log"
            with open(log, "w") as f:
                command = vidlabel_command("finetune", "--data", data, "--out", model, *flags, *extra)
                print(" ".join(map(str, command[3:])), flush=True)
                subprocess.run(command, check=True, stdout=f, stderr=subprocess.STDOUT)
            results[name] = {"flags": flags + extra, "wall_seconds": time.monotonic() - started}
        results.setdefault(name, {"flags": None, "wall_seconds": None})
        record = json.loads((model / "training.json").read_text())
        correct, total = held_out_accuracy(work, model, name) if name != "backbone" else (None, None)
        results[name].update(
            data=data_name,
            validation_accuracy=record["validation"]["accuracy"],
            validation_video_accuracy=record["validation"]["video_accuracy"],
            best_epoch=record["best_epoch"],
            epochs_run=len(record["history"]),
            train_seconds=record["train_seconds"],
            clips_per_second=record["train_clips"] * len(record["history"]) / record["train_seconds"],
            warnings=len(record["warnings"]),
            held_out=None if total is None else [correct, total],
        )
        (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| run | data | validation acc | held-out videos | best / run epochs | train s | clips/s | warned |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        held = (
            f"{r['held_out'][0]}/{r['held_out'][1]} = {r['held_out'][0] / r['held_out'][1]:.2f}"
            if r["held_out"]
            else "-"
        )
        print(
            f"| {name} | {r['data']} | {r['validation_accuracy']:.3f} | {held} | {r['best_epoch']} / "
            f"{r['epochs_run']} | {r['train_seconds']:.0f} | {r['clips_per_second']:.1f} | {r['warnings']} |"
        )
    print(f"(machine: {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
