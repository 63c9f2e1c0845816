"""The base-model rewrite for CPU: run a SavedModel's depthwise 3D convolutions as per-tap 2D ones, same outputs.

MoViNet base models (A0-A5) build each depthwise 3D convolution as a grouped `Conv3D` (Model Garden's
`nn_layers.Conv3D` with `groups=channels`, compiled with XLA), and XLA's CPU kernel for grouped convolutions is
very slow (bench/README.md gives the figures). The same convolution is exactly a sum, over its temporal taps, of 2D
depthwise convolutions of time-shifted frames, and TensorFlow's 2D depthwise kernel is fast. So
`fast_serving_function` takes a loaded SavedModel's `serving_default`, freezes it with its own variables, and
rewrites every depthwise `Conv3D` in the frozen graph as that sum. The result needs neither Model Garden nor a new
export: it works on any SavedModel, published ones included, at load time, and gives the same probabilities (tests
hold it to 1e-4 of the plain model).

Every other op, the regular (pointwise, stem, head) `Conv3D`s included, is left as the SavedModel has it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

from vidlabel.movinet import features

CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")
XLA_MUST_COMPILE = "_XlaMustCompile"


def depthwise_conv3d(inputs, filters, strides, padding: str):
    """`tf.nn.conv3d(inputs, filters, strides, padding)` for a depthwise filter [kt, kh, kw, 1, C * m] on inputs
    [B, T, H, W, C] (TensorFlow infers groups = C from the filter), computed as the sum over the kt temporal taps of
    `tf.nn.depthwise_conv2d` on frames [B * T', H, W, C]. Both number output channels c * m + j, so the filter is
    only reshaped. 'SAME' pads time as `conv3d` does (the extra frame after, when the total is odd) and leaves space to
    `depthwise_conv2d`, whose 'SAME' is the same rule per dimension."""
    import tensorflow as tf

    kt, kh, kw, _, out_channels = filters.shape
    channels = inputs.shape[-1]
    _, st, sh, sw, _ = strides
    shape = tf.shape(inputs)
    batch, frames, height, width = shape[0], shape[1], shape[2], shape[3]
    if padding == "SAME":
        out_frames = (frames + st - 1) // st
        pad = tf.maximum((out_frames - 1) * st + kt - frames, 0)
        before, after = pad // 2, pad - pad // 2
    else:
        out_frames, before, after = (frames - kt) // st + 1, 0, 0
    # Time-major, so that each tap's shifted frames are a slice of the first dimension, which TensorFlow takes
    # without copying (a slice of the time axis of [B, T, ...] is a strided copy of the whole input per tap).
    frames_first = tf.pad(tf.transpose(inputs, [1, 0, 2, 3, 4]), [[before, after], [0, 0], [0, 0], [0, 0], [0, 0]])
    taps = tf.reshape(filters, [kt, kh, kw, channels, out_channels // channels])
    total = None
    for k in range(kt):
        shifted = frames_first[k : k + (out_frames - 1) * st + 1 : st]
        out = tf.nn.depthwise_conv2d(
            tf.reshape(shifted, [out_frames * batch, height, width, channels]),
            taps[k],
            strides=[1, sh, sw, 1],
            padding=padding,
        )
        total = out if total is None else total + out
    out_shape = tf.shape(total)
    return tf.transpose(
        tf.reshape(total, [out_frames, batch, out_shape[1], out_shape[2], out_channels]), [1, 0, 2, 3, 4]
    )


@dataclasses.dataclass(frozen=True)
class _DepthwiseConv:
    """One depthwise `Conv3D` node found in the frozen graph's function library."""

    function: str | None  # the FunctionDef holding the node; None: the graph itself
    node: str
    channels: int
    filter_shape: tuple
    strides: tuple
    padding: str


def fast_serving_function(serving_fn, features_of: str | None = None, rewrite: bool = True) -> tuple[Callable, int]:
    """The SavedModel signature `serving_fn`, frozen and with its depthwise `Conv3D`s rewritten: a function of the
    same input returning the same dict of outputs, and how many convolutions it rewrote (0: the model has none,
    e.g. a causal (2+1)D network, and the function is the frozen original). `rewrite=False`: frozen only (GPU).

    `features_of` (the logits' output key): the dict also holds `features.FEATURES_KEY`, the pooled features
    [B, C] the classifier head reads (`features.pooled_feature_tensor`; ModelError when the graph has none). Frozen
    node names survive the rewrite, so the tensor found in the frozen graph is one more fetch of the pruned one."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(serving_fn)
    graph_def = frozen.graph.as_graph_def()
    convs = _find_depthwise_convs(graph_def) if rewrite else []
    library = {f.signature.name: f for f in graph_def.library.function}
    replacements = {}
    for conv in convs:
        key = (conv.channels, conv.filter_shape, conv.strides, conv.padding)
        if key not in replacements:
            replacements[key] = _replacement_function(*key)
            graph_def.library.function.add().CopyFrom(replacements[key].function_def)
        nodes = graph_def.node if conv.function is None else library[conv.function].node_def
        node = next(n for n in nodes if n.name == conv.node)
        # PartitionedCall's output is named `output`, like Conv3D's, so the nodes reading it need no change.
        inputs = list(node.input)
        node.Clear()
        node.name, node.op = conv.node, "PartitionedCall"
        node.input.extend(inputs)
        node.attr["f"].func.name = replacements[key].function_def.signature.name
        node.attr["Tin"].list.type.extend([tf.float32.as_datatype_enum] * 2)
        node.attr["Tout"].list.type.append(tf.float32.as_datatype_enum)
    if convs:
        _drop_xla(graph_def)  # XLA would compile the 2D depthwise convolutions back into grouped ones
        # The loaded SavedModel holds functions of the same names in the process, and TensorFlow refuses a second,
        # different definition under a name it knows.
        _rename_functions(graph_def, suffix=f"_depthwise2d_{uuid.uuid4().hex[:8]}")

    input_names = [t.name for t in frozen.inputs]
    # Freezing keeps the outputs in order but not the signature's dict of names.
    output_names = tf.nest.pack_sequence_as(serving_fn.structured_outputs, [t.name for t in frozen.outputs])
    channels = None
    if features_of is not None:
        logits = frozen.graph.get_tensor_by_name(output_names[features_of])
        tensor, channels = features.pooled_feature_tensor(logits, library)
        output_names[features.FEATURES_KEY] = tensor.name
    wrapped = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(graph_def, name=""), [])
    pruned = wrapped.prune(
        feeds=[wrapped.graph.get_tensor_by_name(n) for n in input_names],
        fetches=tf.nest.map_structure(wrapped.graph.get_tensor_by_name, output_names),
    )
    if channels is None:
        return pruned, len(convs)

    def with_features(*args, **kwargs):
        outputs = dict(pruned(*args, **kwargs))
        outputs[features.FEATURES_KEY] = tf.reshape(outputs[features.FEATURES_KEY], [-1, channels])
        return outputs

    return with_features, len(convs)


def _conv3d_ops(graph_def):
    """(function name, op) for every `Conv3D` in a frozen graph, wherever it sits in the nest of function calls
    (None: the graph itself), with the static shapes shape inference gives it."""
    import tensorflow as tf
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph

    library = {f.signature.name: f for f in graph_def.library.function}

    def visit(graph, function):
        for op in graph.get_operations():
            if op.type in CALL_OPS:
                name = op.get_attr("f").name
                yield from visit(function_def_to_graph(library[name], input_shapes=[t.shape for t in op.inputs]), name)
            elif op.type == "Conv3D":
                yield function, op

    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    return list(visit(graph, None))


def _find_depthwise_convs(graph_def) -> list[_DepthwiseConv]:
    """Every `Conv3D` with a depthwise filter [kt, kh, kw, 1, C * m] on C > 1 channels."""
    found: dict[tuple, _DepthwiseConv] = {}
    for function, op in _conv3d_ops(graph_def):
        conv = _depthwise(op, function)
        if conv is not None:
            found.setdefault((conv.function, conv.node), conv)
    return list(found.values())


def _depthwise(op, function: str | None) -> _DepthwiseConv | None:
    inputs, filters = op.inputs
    channels = inputs.shape[-1]
    if not filters.shape.is_fully_defined() or channels is None or channels == 1:
        return None
    if filters.shape[3] != 1 or filters.shape[4] % channels:
        return None
    if list(op.get_attr("dilations")) != [1] * 5 or op.get_attr("data_format") != b"NDHWC":
        return None
    return _DepthwiseConv(
        function=function,
        node=op.name,
        channels=int(channels),
        filter_shape=tuple(filters.shape.as_list()),
        strides=tuple(op.get_attr("strides")),
        padding=op.get_attr("padding").decode(),
    )


def _replacement_function(channels: int, filter_shape: tuple, strides: tuple, padding: str):
    import tensorflow as tf

    @tf.function(autograph=False)
    def vidlabel_depthwise_conv3d(inputs, filters):
        return depthwise_conv3d(inputs, filters, strides, padding)

    return vidlabel_depthwise_conv3d.get_concrete_function(
        tf.TensorSpec([None, None, None, None, channels], tf.float32), tf.TensorSpec(filter_shape, tf.float32)
    )


def _drop_xla(graph_def) -> None:
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        function.attr.pop(XLA_MUST_COMPILE, None)
        nodes.extend(function.node_def)
    for node in nodes:
        node.attr.pop(XLA_MUST_COMPILE, None)


def _rename_functions(graph_def, suffix: str) -> None:
    names = {f.signature.name: f.signature.name + suffix for f in graph_def.library.function}
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        function.signature.name = names[function.signature.name]
        nodes.extend(function.node_def)
    for node in nodes:
        for value in node.attr.values():
            for func in [value.func] if value.HasField("func") else value.list.func:
                func.name = names.get(func.name, func.name)
