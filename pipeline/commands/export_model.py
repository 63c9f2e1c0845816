"""`vidlabel export-model`: build MoViNet with Model Garden and export it as the published models are.

From a Model Garden checkpoint (`--checkpoint`) or from seeded random weights (`--random_weights --seed N`: same
seed, same weights), with `vidlabel.json` and `labels.txt` beside the SavedModel so that `vidlabel run --model DIR`
(or `--model DIR/model.tflite`) needs no other flag. The exporter itself is `vidlabel.movinet.export`.
"""

from __future__ import annotations

import argparse

from vidlabel.movinet import export
from vidlabel.movinet.labels import read_labels
from vidlabel.movinet.metadata import ModelMetadata
from vidlabel.movinet.variants import MODES, MOVINET_VARIANTS, published_clip_frames
from vidlabel.transforms.errors import EXIT_OK, UsageError
from vidlabel.transforms.storage import atomic_folder, check_new_folder


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidlabel export-model",
        description="Build a MoViNet model with Model Garden and export it as a SavedModel for `vidlabel run`.",
    )
    p.add_argument("--variant", choices=sorted(MOVINET_VARIANTS), required=True)
    p.add_argument("--mode", choices=MODES, default="base")
    weights = p.add_mutually_exclusive_group(required=True)
    weights.add_argument("--checkpoint", help="A Model Garden checkpoint (prefix or folder) to load the weights from.")
    weights.add_argument(
        "--random_weights", action="store_true", help="Random weights (for tests and benchmarks: labels mean nothing)."
    )
    p.add_argument("--seed", type=int, default=0, help="Seed for --random_weights.")
    p.add_argument("--out", required=True, help="Folder to write (must not exist, or be empty).")
    p.add_argument("--labels", help="Class names, one a line; default: the 600 Kinetics classes need --labels too.")
    p.add_argument("--num_classes", type=int, default=600)
    p.add_argument("--resolution", type=int, help="Input side recorded in the metadata (default: the variant's).")
    p.add_argument("--fps", type=float, help="Frame rate recorded in the metadata (default: the variant's).")
    p.add_argument("--frames", type=int, help="Frames per clip (default: 10 seconds at the frame rate).")
    p.add_argument("--tflite", action="store_true", help="Stream mode: also write model.tflite (LiteRT).")
    p.add_argument("--quantize", choices=("int8",), help="With --tflite: dynamic-range int8 weights.")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    check_new_folder("--out", args.out)
    if (args.tflite or args.quantize) and args.mode != "stream":
        raise UsageError("--tflite and --quantize need --mode stream (TFLite runs the streaming model)")
    if args.quantize and not args.tflite:
        raise UsageError("--quantize int8 quantizes the TFLite model: add --tflite")
    labels = read_labels(args.labels, "--labels") if args.labels else None
    if labels and len(labels) != args.num_classes:
        raise UsageError(f"--labels has {len(labels)} names, but --num_classes is {args.num_classes}")
    spec = MOVINET_VARIANTS[args.variant]
    fps = args.fps or spec.fps
    metadata = ModelMetadata(
        variant=args.variant,
        mode=args.mode,
        architecture=args.mode,
        fps=fps,
        resolution=args.resolution or spec.resolution,
        clip_frames=args.frames or published_clip_frames(fps),
        num_classes=args.num_classes,
        output_key="classifier_head" if args.mode == "base" else "logits",
        source=args.checkpoint or f"random weights (seed {args.seed})",
    )
    model = export.build_classifier(args.variant, args.mode, args.num_classes, args.seed)
    with atomic_folder(args.out) as folder:
        tflite = (args.quantize or "float32") if args.tflite else None
        export.export(folder, metadata, model, checkpoint=args.checkpoint, labels=labels, tflite=tflite)
    print(
        f"exported {args.variant}-{args.mode} to {args.out}; run it with: ./run_local.sh --model {args.out} --input "
        "VIDEOS --output OUT (or `vidlabel run ...` in the activated environment)"
    )
    return EXIT_OK
