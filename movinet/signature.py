"""A model's interface, read without loading it: which of the three forms it is, its input, its logits output.

- base: a SavedModel whose `serving_default` scores a whole clip [B, T, H, W, 3] at once (3D convolutions);
- stream: a SavedModel with `init_states` and `call` signatures; frames go through `call` one at a time with the
  states carried, so memory is constant on any clip or video length;
- tflite: the stream model converted to TFLite, run with LiteRT, states carried through its signature runner.

Reading the signature parses the graph proto and the variables index only, so the launcher refuses a broken model
at little cost before any work; the workers then load it for real (`classifiers.py`).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from vidlabel.movinet.features import STREAM_POOL_SUM
from vidlabel.movinet.metadata import METADATA_FILE
from vidlabel.transforms.errors import ModelError

SERVING_SIGNATURE = "serving_default"
STREAM_SIGNATURES = ("init_states", "call")
INPUT_KEY = "image"
LOGITS_KEYS = ("classifier_head", "logits")  # published base models, then Model Garden's stream naming


class ServingSignature(NamedTuple):
    """A model's interface, read without loading it: its form, input shape, logits output and class count."""

    kind: str  # "base", "stream" or "tflite"
    input_shape: tuple  # [B, T, H, W, 3]; None where dynamic
    output_key: str  # the output holding the logits
    num_classes: int
    # The pooled features' size (`features.py`; A0: 480), None where the model has no MoViNet head to read them.
    embedding_dim: int | None = None


def read_signature(path: str, output_key: str | None = None) -> ServingSignature:
    """Checks that `path` holds a readable MoViNet classifier in one of the three forms and describes it.

    For a SavedModel the graph proto and the variables index are parsed (well under a second), where a full load
    restores about a thousand functions (many seconds for MoViNet), so the launcher can refuse a broken model before any
    work at little cost; the workers then load it for real. A .tflite file is opened with LiteRT (fast).
    """
    if not os.path.isdir(path):
        return _read_tflite_signature(path, output_key)
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    try:
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            saved_model.ParseFromString(f.read())
        variable_shapes = tf.train.load_checkpoint(
            os.path.join(path, "variables", "variables")
        ).get_variable_to_shape_map()
    except Exception as exc:
        raise ModelError(f"cannot load the SavedModel in {path}: {type(exc).__name__}: {exc}") from exc
    signatures = saved_model.meta_graphs[0].signature_def if saved_model.meta_graphs else {}
    if all(name in signatures for name in STREAM_SIGNATURES):
        kind, signature = "stream", signatures["call"]
    elif SERVING_SIGNATURE in signatures:
        kind, signature = "base", signatures[SERVING_SIGNATURE]
    else:
        raise ModelError(
            f"{path} has neither a '{SERVING_SIGNATURE}' signature (base model) nor 'init_states' and 'call' "
            f"(stream model); it has: {', '.join(signatures) or 'none'}"
        )

    def shape(tensor_info):
        return tuple(None if d.size < 0 else d.size for d in tensor_info.tensor_shape.dim)

    inputs = {name: shape(info) for name, info in signature.inputs.items()}
    outputs = {name: shape(info) for name, info in signature.outputs.items()}
    described = _describe(path, kind, inputs, outputs, output_key)
    if kind == "base":
        return described._replace(embedding_dim=_head_input_size(variable_shapes.values(), described.num_classes))
    return described


def _read_tflite_signature(path: str, output_key: str | None) -> ServingSignature:
    from ai_edge_litert.interpreter import Interpreter

    try:
        runner = Interpreter(model_path=path).get_signature_runner(SERVING_SIGNATURE)
    except Exception as exc:
        raise ModelError(f"cannot load the TFLite model {path}: {type(exc).__name__}: {exc}") from exc
    inputs = {name: tuple(d["shape"]) for name, d in runner.get_input_details().items()}
    outputs = {name: tuple(d["shape"]) for name, d in runner.get_output_details().items()}
    return _describe(path, "tflite", inputs, outputs, output_key)


def _describe(path: str, kind: str, inputs: dict, outputs: dict, output_key: str | None) -> ServingSignature:
    if INPUT_KEY not in inputs:
        raise ModelError(f"{path}: the model takes {sorted(inputs)}, not '{INPUT_KEY}'")
    logits = {k: v for k, v in outputs.items() if k in LOGITS_KEYS or len(v) == 2} if kind != "base" else outputs
    key = output_key or _logits_key(logits, path)
    if key not in outputs:
        raise ModelError(f"{path}: no output named '{key}' (outputs: {sorted(outputs)})")
    num_classes = outputs[key][-1] if outputs[key] else None
    if not num_classes:
        raise ModelError(f"{path}: the output '{key}' has no fixed number of classes ({outputs[key]})")
    pool = inputs.get(STREAM_POOL_SUM) if kind != "base" else None
    return ServingSignature(kind, tuple(inputs[INPUT_KEY]), key, int(num_classes), int(pool[-1]) if pool else None)


def _head_input_size(kernel_shapes, num_classes: int) -> int | None:
    """A base model's pooled-feature size, from its variables' shapes: MoViNet's classifier head is two 1x1
    convolutions, C -> H (the head projection) -> num_classes, so C is the input size of the 1x1 kernel whose output
    size is the input size of the 1x1 kernel that outputs the classes. None unless exactly one such C."""
    pointwise = [tuple(shape) for shape in kernel_shapes if len(shape) in (4, 5) and all(d == 1 for d in shape[:-2])]
    hidden = {shape[-2] for shape in pointwise if shape[-1] == num_classes}
    sizes = {shape[-2] for shape in pointwise if shape[-1] in hidden}
    return sizes.pop() if len(sizes) == 1 else None


def _logits_key(outputs: dict, local_dir: str) -> str:
    for key in LOGITS_KEYS:
        if key in outputs:
            return key
    if len(outputs) == 1:
        return next(iter(outputs))
    raise ModelError(
        f"{local_dir}: cannot tell which output holds the logits ({list(outputs)}); set output_key in its "
        f"{METADATA_FILE}"
    )
