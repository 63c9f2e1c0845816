"""MoViNet built with the official Model Garden code and exported exactly as the published models are.

The published SavedModels are what Model Garden's `tools/export_saved_model.py` writes. Base: signature
`serving_default`, input `image` float32 [B, T, H, W, 3] in [0, 1], output `classifier_head` [B, num_classes]
logits. Stream: signatures `init_states` (input shape -> zero states) and `call` (image + states -> `logits` +
states), from the causal (2+1)D model. TFLite converts the stream model as Model Garden's export test does (a
second export with a static [1, 1, H, W, 3] input and no bundled `init_states`, then TFLiteConverter), optionally
with dynamic-range int8 weights.

Model Garden comes with the `export` extra (`pip install 'vidlabel[export]'`, which brings tf-models-official);
workers that only label videos never import this module.
"""

from __future__ import annotations

import os
import tempfile

from vidlabel.movinet.metadata import LABELS_FILE, METADATA_FILE, TFLITE_FILE, ModelMetadata
from vidlabel.transforms.errors import UsageError


def require_model_garden() -> None:
    try:
        import official.projects.movinet  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "building or training MoViNet needs Model Garden: pip install 'vidlabel[export]' (tf-models-official)"
        ) from exc


def build_classifier(
    variant: str,
    mode: str,
    num_classes: int,
    seed: int = 0,
    input_shape=(None, None, None, None, 3),
    external_states: bool | None = None,
    dropout_rate: float = 0.0,
):
    """The Model Garden MoViNet classifier exactly as its exporter (and the MoViNet tutorial) builds it.

    base: non-causal, 3D convolutions. stream: causal (2+1)D convolutions, hard-swish activations, positional
    encoding on A3-A5: the configuration of the published stream and TFLite models. `external_states` (default: on
    for stream) takes and returns the stream states; off, the same weights score a whole clip at once, which is how
    a stream model is fine-tuned and how it is exported as a whole-clip (base-form) SavedModel. `dropout_rate`: the
    head's dropout while training (it has no weights, so a model trained with it exports without it)."""
    require_model_garden()
    import tf_keras
    from official.projects.movinet.modeling import movinet, movinet_model

    tf_keras.utils.set_random_seed(seed)
    input_specs = tf_keras.layers.InputSpec(shape=list(input_shape))
    stream = mode == "stream"
    external_states = stream if external_states is None else external_states
    activation = (
        "hard_swish" if stream else "simple_swish"
    )  # the exporter swaps swish for its custom-gradient-free twin
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
        dropout_rate=dropout_rate,
    )


def export(
    folder: str,
    metadata: ModelMetadata,
    model,
    *,
    checkpoint: str | None = None,
    labels: list[str] | None = None,
    tflite: str | None = None,
    extra_files: dict[str, str] | None = None,
):
    """Writes `model` into `folder` with Model Garden's exporter (and model.tflite), then the metadata, labels and
    `extra_files` (name -> text). Callers write into a `storage.atomic_folder`, so a model folder is whole or absent.

    `metadata.mode` decides the interface: "stream" writes `init_states` and `call` (the model must take external
    states); "base" writes `serving_default` over whole clips."""
    require_model_garden()
    from official.projects.movinet.tools import export_saved_model

    export_saved_model.export_saved_model(
        model=model,
        input_shape=[None, None, None, None, 3],
        export_path=folder,
        causal=metadata.mode == "stream",
        bundle_input_init_states_fn=True,
        checkpoint_path=checkpoint,
    )
    if tflite:
        write_tflite(model, metadata, folder, quantize=tflite == "int8")
    files = {METADATA_FILE: metadata.to_json() + "\n", **(extra_files or {})}
    if labels:
        files[LABELS_FILE] = "\n".join(labels) + "\n"
    for name, text in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)


def write_tflite(model, metadata: ModelMetadata, folder: str, *, quantize: bool) -> None:
    """model.tflite with the same weights as `model`, converted as Model Garden's export test converts it."""
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
    with open(os.path.join(folder, TFLITE_FILE), "wb") as f:
        f.write(flatbuffer)
