"""`vidlabel export-model`: build MoViNet with the official Model Garden code and export it as published.

The published base SavedModels are what Model Garden's `tools/export_saved_model.py` writes: signature
`serving_default`, input `image` float32 [B, T, H, W, 3] in [0, 1], output `classifier_head` [B, num_classes]
logits. This command calls that same exporter, from a Model Garden checkpoint (`--checkpoint`) or from seeded random
weights (`--random_weights --seed N`: same seed, same weights), and writes `vidlabel.json` and `labels.txt` beside
the SavedModel so that `vidlabel run --model DIR` needs no other flag.

It needs the `export` extra (`pip install 'vidlabel[export]'`, which brings tf-models-official).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys

from vidlabel.transforms import models
from vidlabel.transforms.types import MOVINET_VARIANTS, PUBLISHED_CLIP_SECONDS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidlabel export-model",
        description="Build a MoViNet model with Model Garden and export it as a SavedModel for `vidlabel run`.",
    )
    p.add_argument("--variant", choices=sorted(MOVINET_VARIANTS), required=True)
    p.add_argument("--mode", choices=models.MODES, default="base")
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
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if os.path.exists(args.out) and os.listdir(args.out):
        parser().error(f"--out {args.out} already exists and is not empty; choose a new folder")
    labels = None
    if args.labels:
        with open(args.labels, encoding="utf-8") as f:
            labels = [line.strip() for line in f if line.strip()]
        if len(labels) != args.num_classes:
            parser().error(f"--labels has {len(labels)} names, but --num_classes is {args.num_classes}")
    spec = MOVINET_VARIANTS[args.variant]
    fps = args.fps or spec.fps
    metadata = models.ModelMetadata(
        variant=args.variant,
        mode=args.mode,
        fps=fps,
        resolution=args.resolution or spec.resolution,
        clip_frames=args.frames or round(PUBLISHED_CLIP_SECONDS * fps),
        num_classes=args.num_classes,
        output_key="classifier_head",
        source=args.checkpoint or f"random weights (seed {args.seed})",
    )
    export(args.out, metadata, checkpoint=args.checkpoint, seed=args.seed, labels=labels)
    print(f"exported {args.variant}-{args.mode} to {args.out}; run it with: vidlabel run --model {args.out} ...")
    return 0


def build_classifier(variant: str, num_classes: int, seed: int):
    """The Model Garden MoViNet base classifier (non-causal, 3D convolutions), exactly as the exporter builds it."""
    import tf_keras
    from official.projects.movinet.modeling import movinet, movinet_model

    tf_keras.utils.set_random_seed(seed)
    input_specs = tf_keras.layers.InputSpec(shape=[None, None, None, None, 3])
    backbone = movinet.Movinet(
        model_id=variant,
        causal=False,
        conv_type="3d",
        se_type="3d",
        input_specs=input_specs,
        activation="simple_swish",  # the exporter swaps swish for its custom-gradient-free twin
        gating_activation="sigmoid",
        use_positional_encoding=False,
        use_sync_bn=False,
        use_external_states=False,
    )
    return movinet_model.MovinetClassifier(
        backbone,
        num_classes=num_classes,
        output_states=False,
        input_specs={"image": input_specs},
        activation="simple_swish",
    )


def export(out: str, metadata: models.ModelMetadata, *, checkpoint: str | None, seed: int, labels: list[str] | None):
    """Writes the SavedModel with Model Garden's exporter, then the metadata and labels beside it."""
    try:
        from official.projects.movinet.tools import export_saved_model
    except ImportError:
        sys.exit("vidlabel export-model needs Model Garden: pip install 'vidlabel[export]' (tf-models-official)")

    staging = out.rstrip("/") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    model = build_classifier(metadata.variant, metadata.num_classes, seed)
    export_saved_model.export_saved_model(
        model=model,
        input_shape=[None, None, None, None, 3],
        export_path=staging,
        causal=False,
        checkpoint_path=checkpoint,
    )
    with open(os.path.join(staging, models.METADATA_FILE), "w", encoding="utf-8") as f:
        f.write(metadata.to_json() + "\n")
    if labels:
        with open(os.path.join(staging, models.LABELS_FILE), "w", encoding="utf-8") as f:
            f.write("\n".join(labels) + "\n")
    if os.path.exists(out):
        os.rmdir(out)  # empty, checked above
    os.replace(staging, out)
