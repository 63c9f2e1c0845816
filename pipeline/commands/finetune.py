"""`vidlabel finetune`: teach MoViNet your own classes from labelled videos, for `vidlabel run --model OUT`.

The flags and a small main; the training itself is `vidlabel.movinet.finetune`.
"""

from __future__ import annotations

import argparse
import time

from vidlabel.movinet.augment import Augmentation
from vidlabel.movinet.finetune import EPOCHS, FINETUNE_RATE, PATIENCE, TrainingConfig, finetune
from vidlabel.movinet.variants import MODES, MOVINET_VARIANTS, clip_frame_count
from vidlabel.pipeline import __version__
from vidlabel.transforms.errors import EXIT_OK, UsageError
from vidlabel.transforms.storage import check_new_folder


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default in --help, except where it says nothing (required flags, switches, no default)."""

    def _get_help_string(self, action):
        if action.required or action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidlabel finetune",
        description="Train MoViNet on your own labelled videos; the result runs with `vidlabel run --model OUT`.",
        formatter_class=DefaultsShown,
    )
    p.add_argument(
        "--data",
        required=True,
        help="A folder with one sub-folder of videos per class, or a CSV manifest of uri,label (local or gs://).",
    )
    p.add_argument("--out", required=True, help="Model folder to write (must not exist, or be empty).")
    p.add_argument("--variant", choices=sorted(MOVINET_VARIANTS), default="a0", help="MoViNet size.")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="stream",
        help="Network: stream = causal (2+1)D (faster to train on CPU than base, exportable as stream and "
        "TFLite), base = 3D convolutions as the published base models.",
    )
    p.add_argument(
        "--init",
        help="Start from this model's backbone: a Model Garden checkpoint (prefix or folder), a "
        "MoViNet SavedModel folder (local or gs://), an alias such as a0-stream, or a hub "
        "handle. Without it: random weights.",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=4.0,
        help="Model frames per second (the published A0-A2 run at 5): fewer frames a second show more motion "
        "between two of them, and cost less to label.",
    )
    p.add_argument("--resolution", type=int, default=64, help="Square input side in pixels (CPU-sized).")
    p.add_argument(
        "--clip_seconds",
        type=float,
        default=2.0,
        help="Clip length in seconds; a video shorter than one clip is left out of training.",
    )
    p.add_argument(
        "--epochs",
        type=int,
        help="Passes over the training clips; the best one is kept (default: "
        f"{EPOCHS['random']} from random weights, {EPOCHS['init']} with --init).",
    )
    p.add_argument("--batch_size", type=int, default=8, help="Clips per optimiser step.")
    p.add_argument(
        "--learning_rate", type=float, default=2e-3, help="AdamW's first rate (cosine decay to 0 over each stage)."
    )
    p.add_argument(
        "--patience",
        type=int,
        help="Stop after this many epochs without a better validation accuracy (0: run every epoch); the best "
        f"epoch is kept either way (default: {PATIENCE['random']} from random weights, {PATIENCE['init']} with "
        "--init).",
    )
    p.add_argument(
        "--freeze_epochs",
        type=int,
        default=0,
        help="With --init: train the head alone on the frozen backbone for this many epochs, then every weight at "
        f"{FINETUNE_RATE:g} x --learning_rate (0: every weight at the full rate from the start, which did better "
        "on the small-data benchmark, docs/finetuning.md).",
    )
    p.add_argument(
        "--augment",
        choices=("on", "off"),
        default="on",
        help="Label-safe augmentation of training clips: random start and playback speed (+-20%%), random "
        "resized crop, a still frame of another clip blended in (--still_frame), brightness / contrast / "
        "saturation jitter, noise.",
    )
    p.add_argument(
        "--still_frame",
        type=float,
        default=Augmentation().still_frame,
        help="With --augment on: the largest weight of the still frame of another clip blended into each training "
        "clip. It adds no motion and hides what the video looks like, so the network learns what moves (0: off).",
    )
    p.add_argument(
        "--flip", action="store_true", help="Also mirror half the training clips (only if a mirror keeps the label)."
    )
    p.add_argument(
        "--reverse",
        action="store_true",
        help="Also play half the training clips backwards (only if the labels read the same backwards).",
    )
    p.add_argument("--weight_decay", type=float, default=0.05, help="AdamW's decoupled weight decay.")
    p.add_argument("--dropout", type=float, default=0.3, help="Dropout before the head's last layer.")
    p.add_argument("--label_smoothing", type=float, default=0.1, help="Label smoothing of the training loss.")
    p.add_argument("--validation_split", type=float, default=0.2, help="Share of each class's videos held out.")
    p.add_argument(
        "--folds",
        type=int,
        default=0,
        help="Cross-validate first: train K models, each validated on a K-th of every class's videos, and report "
        "the mean and spread of validation accuracy (K+1 trainings in all; 0: off).",
    )
    p.add_argument("--seed", type=int, default=0, help="Seeds the split, the first weights and the shuffling.")
    p.add_argument("--stream", action="store_true", help="Also export OUT/stream (stream SavedModel); --mode stream.")
    p.add_argument("--tflite", action="store_true", help="Also export OUT/stream/model.tflite; --mode stream.")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    check_new_folder("--out", args.out)
    if (args.stream or args.tflite) and args.mode != "stream":
        raise UsageError("--stream and --tflite export the causal network: use --mode stream")
    start = "init" if args.init else "random"
    epochs = EPOCHS[start] if args.epochs is None else args.epochs
    patience = PATIENCE[start] if args.patience is None else args.patience
    if args.fps <= 0 or args.resolution < 8 or epochs < 1 or args.batch_size < 1 or args.learning_rate <= 0:
        raise UsageError("--fps, --epochs, --batch_size and --learning_rate must be positive and --resolution >= 8")
    if patience < 0:
        raise UsageError(f"--patience {patience}: give 0 (never stop early) or more epochs")
    if not 0 <= args.still_frame < 1:
        raise UsageError(f"--still_frame {args.still_frame}: give a weight in [0, 1) (0: no still frame)")
    if not 0 <= args.validation_split < 1:
        raise UsageError("--validation_split must be in [0, 1)")
    if args.weight_decay < 0 or not 0 <= args.dropout < 1 or not 0 <= args.label_smoothing < 1:
        raise UsageError("--weight_decay must be >= 0, --dropout and --label_smoothing in [0, 1)")
    if not 0 <= args.freeze_epochs < epochs:
        raise UsageError(f"--freeze_epochs {args.freeze_epochs}: give 0 (one stage) up to --epochs - 1 ({epochs - 1})")
    if args.folds == 1 or args.folds < 0:
        raise UsageError(f"--folds {args.folds}: give 2 or more folds, or 0 for no cross-validation")
    config = TrainingConfig(
        args.variant,
        args.mode,
        args.fps,
        args.resolution,
        clip_frame_count(args.clip_seconds, args.fps),
        epochs,
        args.batch_size,
        args.learning_rate,
        args.seed,
        patience,
        Augmentation(args.augment == "on", args.flip, args.reverse, args.still_frame),
        args.weight_decay,
        args.dropout,
        args.label_smoothing,
        args.freeze_epochs,
    )
    started = time.time()
    record = finetune(
        args.data,
        args.out,
        config,
        init=args.init,
        validation_split=args.validation_split,
        folds=args.folds,
        stream=args.stream,
        tflite=args.tflite,
        about={"vidlabel_version": __version__},
        log=lambda line: print(line, flush=True),
    )
    best = next(row for row in record["history"] if row["epoch"] == record["best_epoch"])
    val = f", validation accuracy {best['val_accuracy']:.3f}" if "val_accuracy" in best else ""
    print(
        f"best epoch {best['epoch']}{val}; trained in {record['train_seconds']:.0f} s, "
        f"{time.time() - started:.0f} s in all"
    )
    print(
        f"model written to {args.out}; label videos with: ./run_local.sh --model {args.out} --input VIDEOS --output "
        "OUT (or `vidlabel run ...` in the activated environment)"
    )
    for warning in record["warnings"]:  # again after the last line, where users look (also in training.json)
        print(f"WARNING: {warning}")
    return EXIT_OK
