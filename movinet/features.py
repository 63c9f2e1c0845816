"""Embeddings: the backbone's globally pooled features, the vector MoViNet's classifier head reads.

Model Garden's backbone ends in `movinet_layers.Head`: a 1x1x1 convolution to `project_filters` channels (A0 480,
A1 600, A2 640, A3 744, A4 856, A5 992), then a global average pool: `endpoints["head"]`, [B, 1, 1, 1, C].
`ClassifierHead` projects it to 2048 channels and then to the classes. That pooled vector, before the projection,
is the clip's embedding: what the network knows of the clip whatever its class list.

- Base SavedModels (vidlabel's exports and the published ones, written by the same Model Garden exporter) expose
  only logits: `pooled_feature_tensor` finds the vector in the frozen serving graph by its structure (the input of
  the classifier head's first convolution), never by names, and `depthwise.fast_serving_function` fetches it beside
  the logits.
- Stream SavedModels and TFLite files already return it: the head's pool is a running sum of each frame's spatial
  mean with a frame count, both among the states every call returns (`state_head_pool_buffer`,
  `state_head_pool_frame_count`), and the pooled features are their quotient (`stream_features`). The same quotient
  after a clip's last frame equals the whole clip's pooled features run at once (to float precision).
"""

from __future__ import annotations

import collections

import numpy as np

from vidlabel.transforms.errors import ModelError

FEATURES_KEY = "vidlabel_features"  # the extra output of a base model's serving function
STREAM_POOL_SUM = "state_head_pool_buffer"
STREAM_POOL_COUNT = "state_head_pool_frame_count"
CONV_OPS = ("Conv3D", "Conv2D")
CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")
NO_HEAD = (
    "the model has no MoViNet classifier head to read pooled features before (--embeddings needs a MoViNet "
    "exported by Model Garden, vidlabel export-model or vidlabel finetune)"
)


def pooled_feature_tensor(logits, library: dict) -> tuple[object, int]:
    """(the pooled-features tensor, its channels C) in the frozen graph of `logits`. Walks back from the logits over
    data inputs: the first convolution met is ClassifierHead's `classifier` ([1,..,1, H, num_classes]), the second
    its `head` projection ([1,..,1, C, H]), whose input is the features. A convolution is a `Conv3D`/`Conv2D` op or
    a call of a function holding exactly one (Model Garden compiles each with XLA); `library` maps the graph's
    function names to their definitions. A base model fine-tuned from a stream model has a (2+1)D head, whose
    pooled [B, 1, 1, 1, C] is reshaped before its `Conv2D`: the walk steps back through that reshape."""
    seen, queue, convs = set(), collections.deque([logits.op]), []
    while queue and len(convs) < 2:
        op = queue.popleft()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.type in CONV_OPS or _calls_one_conv(op, library):
            convs.append(op)
            queue.append(op.inputs[0].op)  # the data, not the filter or bias
        elif op.type not in ("Const", "Placeholder"):
            queue.extend(t.op for t in op.inputs)
    if len(convs) < 2:
        raise ModelError(NO_HEAD)
    classifier, head = (op.inputs[1].shape for op in convs)
    num_classes = logits.shape[-1]
    if not (
        classifier.rank in (4, 5)
        and head.rank == classifier.rank
        and all(d == 1 for d in [*list(classifier)[:-2], *list(head)[:-2]])
        and classifier[-2] == head[-1]
        and (num_classes is None or classifier[-1] == num_classes)
    ):
        raise ModelError(NO_HEAD)
    tensor = convs[1].inputs[0]
    if tensor.op.type == "Reshape" and tensor.op.inputs[0].shape.rank == 5:
        tensor = tensor.op.inputs[0]
    return tensor, int(head[-2])  # C from the filter: the tensor's own static shape often lacks it


def _calls_one_conv(op, library: dict) -> bool:
    if op.type not in CALL_OPS:
        return False
    body = library.get(op.get_attr("f").name)
    return body is not None and sum(node.op in CONV_OPS for node in body.node_def) == 1


def has_stream_pool(states: dict) -> bool:
    return STREAM_POOL_SUM in states and STREAM_POOL_COUNT in states


def stream_pool(states: dict) -> tuple[np.ndarray, float]:
    """A stream model's running sum of pooled frames [B, C] and how many frames it holds, from its states."""
    if not has_stream_pool(states):
        raise ModelError(NO_HEAD.replace("classifier head", "head pool among its states"))
    total = np.asarray(states[STREAM_POOL_SUM], np.float32)
    return total.reshape(total.shape[0], total.shape[-1]), float(np.asarray(states[STREAM_POOL_COUNT]).ravel()[0])


def l2_normalised(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero): cosine similarity is then a dot product."""
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)
