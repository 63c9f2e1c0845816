"""`vidlabel export-model`: build MoViNet with the official Model Garden code and export it as published.

The published SavedModels are what Model Garden's `tools/export_saved_model.py` writes. Base: signature
`serving_default`, input `image` float32 [B, T, H, W, 3] in [0, 1], output `classifier_head` [B, num_classes]
logits. Stream: signatures `init_states` (input shape -> zero states) and `call` (image + states -> `logits` +
states), from the causal (2+1)D model. `--tflite` converts the stream model as Model Garden's export test does (a
second export with a static [1, 1, H, W, 3] input and no bundled `init_states`, then TFLiteConverter), optionally
with dynamic-range int8 weights (`--quantize int8`).

This command calls that same exporter, from a Model Garden checkpoint (`--checkpoint`) or from seeded random
weights (`--random_weights --seed N`: same seed, same weights), and writes `vidlabel.json` and `labels.txt` beside
the SavedModel so that `vidlabel run --model DIR` (or `--model DIR/model.tflite`) needs no other flag.

It needs the `export` extra (`pip install 'vidlabel[export]'`, which brings tf-models-official).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Optional

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
    p.add_argument("--tflite", action="store_true", help="Stream mode: also write model.tflite (LiteRT).")
    p.add_argument("--quantize", choices=("int8",), help="With --tflite: dynamic-range int8 weights.")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if os.path.exists(args.out) and os.listdir(args.out):
        parser().error(f"--out {args.out} already exists and is not empty; choose a new folder")
    if (args.tflite or args.quantize) and args.mode != "stream":
        parser().error("--tflite and --quantize need --mode stream (TFLite runs the streaming model)")
    if args.quantize and not args.tflite:
        parser().error("--quantize int8 quantizes the TFLite model: add --tflite")
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
        architecture=args.mode,
        fps=fps,
        resolution=args.resolution or spec.resolution,
        clip_frames=args.frames or round(PUBLISHED_CLIP_SECONDS * fps),
        num_classes=args.num_classes,
        output_key="classifier_head" if args.mode == "base" else "logits",
        source=args.checkpoint or f"random weights (seed {args.seed})",
    )
    tflite = (args.quantize or "float32") if args.tflite else None
    model = build_classifier(args.variant, args.mode, args.num_classes, args.seed)
    export(args.out, metadata, model, checkpoint=args.checkpoint, labels=labels, tflite=tflite)
    print(f"exported {args.variant}-{args.mode} to {args.out}; run it with: ./run_local.sh --model {args.out} --input "
          "VIDEOS --output OUT (or `vidlabel run ...` in the activated environment)")
    return 0


def require_model_garden() -> None:
    try:
        import official.projects.movinet  # noqa: F401
    except ImportError:
        sys.exit("building or training MoViNet needs Model Garden: pip install 'vidlabel[export]' (tf-models-official)")


def build_classifier(
    variant: str,
    mode: str,
    num_classes: int,
    seed: int = 0,
    input_shape=(None, None, None, None, 3),
    external_states: Optional[bool] = None,
):
    """The Model Garden MoViNet classifier exactly as its exporter (and the MoViNet tutorial) builds it.

    base: non-causal, 3D convolutions. stream: causal (2+1)D convolutions, hard-swish activations, positional
    encoding on A3-A5: the configuration of the published stream and TFLite models. `external_states` (default: on
    for stream) takes and returns the stream states; off, the same weights score a whole clip at once, which is how
    a stream model is fine-tuned and how it is exported as a whole-clip (base-form) SavedModel."""
    require_model_garden()
    import tf_keras
    from official.projects.movinet.modeling import movinet, movinet_model

    tf_keras.utils.set_random_seed(seed)
    input_specs = tf_keras.layers.InputSpec(shape=list(input_shape))
    stream = mode == "stream"
    external_states = stream if external_states is None else external_states
    activation = "hard_swish" if stream else "simple_swish"  # the exporter swaps swish for its custom-gradient-free twin
    backbone = movinet.Movinet(
        model_id=variant,
        causal=stream,
        conv_type="2plus1d" if stream else "3d",
        se_type="2plus3d" if stream else "3d",
        input_specs=input_specs,
        activation=activation,
        gating_activation="hard_sigmoid" if stream else "sigmoid",
        use_positional_encoding=stream and variant in ("a3", "a4", "a5"),
        use_sync_bn=False,
        use_external_states=external_states,
    )
    return movinet_model.MovinetClassifier(
        backbone,
        num_classes=num_classes,
        output_states=external_states,
        input_specs={"image": input_specs},
        activation=activation,
    )


def export(
    out: str,
    metadata: models.ModelMetadata,
    model,
    *,
    checkpoint: Optional[str] = None,
    labels: Optional[list[str]] = None,
    tflite: Optional[str] = None,
    extra_files: Optional[dict[str, str]] = None,
):
    """Writes `model` with Model Garden's exporter (and model.tflite), then the metadata, labels and `extra_files`
    (name -> text), staged in OUT.partial and renamed, so that OUT is either whole or absent.

    `metadata.mode` decides the interface: "stream" writes `init_states` and `call` (the model must take external
    states); "base" writes `serving_default` over whole clips."""
    require_model_garden()
    from official.projects.movinet.tools import export_saved_model

    stream = metadata.mode == "stream"
    staging = out.rstrip("/") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    export_saved_model.export_saved_model(
        model=model, input_shape=[None, None, None, None, 3], export_path=staging, causal=stream,
        bundle_input_init_states_fn=True, checkpoint_path=checkpoint,
    )  # fmt: skip
    if tflite:
        write_tflite(model, metadata, staging, quantize=tflite == "int8")
    files = {models.METADATA_FILE: metadata.to_json() + "\n", **(extra_files or {})}
    if labels:
        files[models.LABELS_FILE] = "\n".join(labels) + "\n"
    for name, text in files.items():
        with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
            f.write(text)
    if os.path.exists(out):
        os.rmdir(out)  # empty, checked by the callers
    os.replace(staging, out)


def write_tflite(model, metadata: models.ModelMetadata, folder: str, *, quantize: bool) -> None:
    """model.tflite with the same weights as `model`, converted as Model Garden's export test converts it."""
    import tempfile

    import tensorflow as tf
    from official.projects.movinet.tools import export_saved_model

    shape = [1, 1, metadata.resolution, metadata.resolution, 3]
    static = build_classifier(metadata.variant, metadata.mode, metadata.num_classes, input_shape=shape)
    static.build(shape)
    static.set_weights(model.get_weights())
    with tempfile.TemporaryDirectory(prefix="vidlabel-tflite-") as tmp:
        export_saved_model.export_saved_model(
            model=static, input_shape=shape, export_path=tmp, causal=True, bundle_input_init_states_fn=False
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range: int8 weights, float activations
        flatbuffer = converter.convert()
    with open(os.path.join(folder, models.TFLITE_FILE), "wb") as f:
        f.write(flatbuffer)
