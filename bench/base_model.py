"""Base models on CPU: the plain SavedModel against the same SavedModel with its depthwise 3D convolutions
rewritten (`movinet/depthwise.py`, what `vidlabel run` uses), side by side in one process.

    .venv/bin/python bench/base_model.py [--variants a0,a1] [--models bench/.models]

For each variant (exported once into --models at its published resolution and rate, random weights: speed does not
depend on them) it measures, on one clip of the published length (A0: 50 frames at 172 px), best of three:
- model frames/s of both forms, and the ratio (target >= 20x);
- the largest difference in probabilities between them (target <= 1e-4), on a clip of random frames;
- the model's convolution FLOPs (counted from the frozen graph's Conv3D shapes: 2 x MACs) divided by the time, in
  GFLOP/s, against the machine's float32 matmul peak measured in the same run (tf.matmul 2048 x 2048).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np
from common import random_model

REPO = pathlib.Path(__file__).resolve().parents[1]


def export_base(models: pathlib.Path, variant: str) -> pathlib.Path:
    return random_model(models / f"{variant}-base", variant, "base")


def best_seconds(fn, rounds: int = 3) -> float:
    fn()  # warm-up: XLA compilation (plain), first-call allocations (both)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak_gflops(n: int = 2048) -> float:
    import tensorflow as tf

    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    return 2 * n**3 / best_seconds(lambda: tf.matmul(a, b).numpy(), rounds=10) / 1e9


def conv_gflop(serving_fn, input_shape) -> float:
    """The convolutions' work for one clip: 2 x output elements x (kernel volume x input channels per group),
    from the Conv3D shapes of the frozen graph with every function inlined (Grappler) and the input shape fixed."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tensorflow.python.grappler import tf_optimizer

    graph_def = convert_variables_to_constants_v2(serving_fn).graph.as_graph_def()
    for node in [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]:
        node.attr.pop("_XlaMustCompile", None)
    for function in graph_def.library.function:
        function.attr.pop("_noinline", None)
        function.attr.pop("_XlaMustCompile", None)
    graph = tf.Graph()
    with graph.as_default():
        clip = tf.compat.v1.placeholder(tf.float32, input_shape)
        (placeholder,) = [n.name for n in graph_def.node if n.op == "Placeholder"]
        (output,) = tf.graph_util.import_graph_def(
            graph_def, input_map={placeholder: clip}, return_elements=[serving_fn.outputs[0].name], name=""
        )
        tf.compat.v1.add_to_collection("train_op", output.op)  # what Grappler keeps
        meta_graph = tf.compat.v1.train.export_meta_graph(graph=graph)
    config = config_pb2.ConfigProto()
    config.graph_options.rewrite_options.optimizers.append("function")  # inlining only
    inlined = tf.Graph()
    with inlined.as_default():
        tf.graph_util.import_graph_def(tf_optimizer.OptimizeGraph(config, meta_graph), name="")
    total = 0
    for op in inlined.get_operations():
        if op.type == "Conv3D":
            kt, kh, kw, per_group, _ = op.inputs[1].shape.as_list()
            total += 2 * int(np.prod(op.outputs[0].shape.as_list())) * kt * kh * kw * per_group
    return total / 1e9


def measure(model: pathlib.Path) -> dict:
    import tensorflow as tf

    from vidlabel.movinet.classifiers import BaseClassifier, softmax

    metadata = json.loads((model / "vidlabel.json").read_text())
    shape = (1, metadata["clip_frames"], metadata["resolution"], metadata["resolution"], 3)
    clip = np.random.default_rng(0).random(shape, dtype=np.float32)
    start = time.perf_counter()
    plain = BaseClassifier(str(model), "classifier_head", rewrite_depthwise=False)
    plain_load = time.perf_counter() - start
    start = time.perf_counter()
    fast = BaseClassifier(str(model), "classifier_head")
    fast_load = time.perf_counter() - start
    plain_s = best_seconds(lambda: plain.logits(clip))
    fast_s = best_seconds(lambda: fast.logits(clip))
    diff = np.abs(softmax(plain.logits(clip)[0]) - softmax(fast.logits(clip)[0])).max()
    loaded = tf.saved_model.load(str(model))  # kept alive: the signature needs its variables
    gflop = conv_gflop(loaded.signatures["serving_default"], shape)
    return {
        "shape": shape,
        "plain_fps": shape[1] / plain_s,
        "fast_fps": shape[1] / fast_s,
        "max_prob_diff": float(diff),
        "gflop": gflop,
        "plain_gflops": gflop / plain_s,
        "fast_gflops": gflop / fast_s,
        "rewritten": fast.rewritten_convolutions,
        "plain_load_s": plain_load,
        "fast_load_s": fast_load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="a0")
    parser.add_argument("--models", type=pathlib.Path, default=REPO / "bench" / ".models")
    args = parser.parse_args()
    results = {v: measure(export_base(args.models, v)) for v in args.variants.split(",")}
    peak = matmul_peak_gflops()
    print(f"float32 matmul peak (tf.matmul 2048x2048, best of 10): {peak:.1f} GFLOP/s")
    print(
        "| model | clip | rewritten convs | plain frames/s | rewritten frames/s | x plain | max prob diff "
        "| conv GFLOP per clip | plain GFLOP/s | rewritten GFLOP/s | % of matmul peak | load s plain / rewritten |"
    )
    print("| --- " * 12 + "|")
    for variant, r in results.items():
        b, t, h, w, _ = r["shape"]
        print(
            f"| {variant} base | {t}x{h}x{w} | {r['rewritten']} | {r['plain_fps']:.1f} | {r['fast_fps']:.1f} "
            f"| {r['fast_fps'] / r['plain_fps']:.1f} | {r['max_prob_diff']:.1e} | {r['gflop']:.2f} "
            f"| {r['plain_gflops']:.2f} | {r['fast_gflops']:.1f} | {100 * r['fast_gflops'] / peak:.0f}% "
            f"| {r['plain_load_s']:.1f} / {r['fast_load_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
