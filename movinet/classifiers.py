"""The three MoViNet forms as one interface: clips in, logits (and a stream model's states) out.

Each classifier loads its model in `__init__` and holds TensorFlow or LiteRT objects, so it is built where it runs
(a Beam worker's `load_model`, `vidlabel plot`), never pickled. `logits(clips, states)` takes float32 clips
[B, T, H, W, 3] in [0, 1]; stream forms start from fresh states when given none. `predict` also gives a stream
model's logits after chosen frames and, for a classifier built with `embeddings=True`, each clip's pooled features
(`features.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from vidlabel.movinet import depthwise, features
from vidlabel.movinet.signature import INPUT_KEY, SERVING_SIGNATURE, ServingSignature
from vidlabel.transforms.errors import ModelError

States = dict  # name -> array; a stream model's memory of the frames it has seen


class Prediction(NamedTuple):
    """What a classifier says of a batch of clips of one shape."""

    logits: np.ndarray  # [B, num_classes] after the clips' last frame
    at_frames: list[np.ndarray]  # [B, num_classes] after each frame asked for (stream forms)
    states: States | None  # after the last frame (stream forms)
    features: np.ndarray | None  # [B, C] pooled features of the clips' frames, L2-normalised; None unless embeddings


def clip_features(before: States | None, after: States) -> np.ndarray:
    """A stream model's pooled features over the frames between two states, L2-normalised: the whole clip's pooled
    features when it started from fresh states, and the clip's own frames when states carry on from the clip
    before (the backbone still carries that context, as the logits do)."""
    total, count = features.stream_pool(after)
    if before is not None and features.has_stream_pool(before):
        earlier, earlier_count = features.stream_pool(before)
        total, count = total - earlier, count - earlier_count
    return features.l2_normalised(total / max(count, 1.0))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class BaseClassifier:
    """A base SavedModel: whole clips [B, T, H, W, 3] -> logits [B, C] through `serving_default`.

    On CPU the signature runs with its depthwise 3D convolutions rewritten as per-tap 2D ones
    (`depthwise.fast_serving_function`: the same probabilities, many times faster on CPU; bench/README.md). With a
    GPU the SavedModel runs as it is (cuDNN has grouped 3D convolutions; the rewrite was measured on CPU only).
    `rewrite_depthwise` forces either way (benchmarks and tests compare the two)."""

    max_batch: int | None = None
    streams = False

    def __init__(self, path: str, output_key: str, rewrite_depthwise: bool | None = None, embeddings: bool = False):
        import tensorflow as tf  # imported here: TF objects must never be pickled with the pipeline

        self._tf = tf
        self._output_key = output_key
        self._embeddings = embeddings
        loaded = _load_savedmodel(path)
        serving_fn = loaded.signatures[SERVING_SIGNATURE]
        self.rewritten_convolutions = 0
        if rewrite_depthwise is None:
            rewrite_depthwise = not tf.config.list_physical_devices("GPU")
        if rewrite_depthwise or embeddings:
            # The frozen function holds the weights as constants, so the loaded SavedModel is not kept: less memory
            # at the peak. Embeddings need the frozen graph too (the signature returns only logits).
            self._fn, self.rewritten_convolutions = depthwise.fast_serving_function(
                serving_fn, features_of=output_key if embeddings else None, rewrite=rewrite_depthwise
            )
        else:
            self._model = loaded  # kept: the signature needs its variables alive
            self._fn = lambda clips: serving_fn(**{INPUT_KEY: clips})

    def logits(self, clips: np.ndarray, states: States | None = None) -> tuple[np.ndarray, States | None]:
        return self.predict(clips).logits, None

    def predict(self, clips: np.ndarray, frames: Sequence[int] = (), states: States | None = None) -> Prediction:
        if frames:
            raise ValueError("a base model predicts once per clip, not after chosen frames")
        outputs = self._fn(self._tf.constant(clips, dtype=self._tf.float32))
        pooled = outputs[features.FEATURES_KEY].numpy() if self._embeddings else None
        return Prediction(
            outputs[self._output_key].numpy(), [], None, None if pooled is None else features.l2_normalised(pooled)
        )


class StreamClassifier:
    """A stream SavedModel: frames go through `call` one at a time, states carried from `init_states`.

    Clips of equal shape share a batch: each starts from fresh states at frame 0, so they advance in lockstep (the
    `*_frame_count` states are shared by the batch)."""

    max_batch: int | None = None
    streams = True

    def __init__(self, path: str, output_key: str, embeddings: bool = False):
        import tensorflow as tf

        self._tf = tf
        self._output_key = output_key
        self._embeddings = embeddings
        self._model = _load_savedmodel(path)
        self._init_states = self._model.signatures["init_states"]
        self._call = self._model.signatures["call"]

    def initial_states(self, clips: np.ndarray) -> States:
        batch, _, height, width, channels = clips.shape
        return self._init_states(self._tf.constant([batch, 1, height, width, channels], dtype=self._tf.int32))

    def logits(self, clips: np.ndarray, states: States | None = None) -> tuple[np.ndarray, States]:
        prediction = self.predict(clips, (), states)
        return prediction.logits, prediction.states

    def predict(self, clips: np.ndarray, frames: Sequence[int] = (), states: States | None = None) -> Prediction:
        """The logits after the clips' last frame, the logits after each of `frames` (offsets in the clips: the
        prediction of a stream model once it has seen that frame), the states, and the clips' features."""
        tf = self._tf
        before = states
        states = dict(states if states is not None else self.initial_states(clips))
        wanted, at_frames = set(frames), {}
        for t in range(clips.shape[1]):
            outputs = self._call(**states, **{INPUT_KEY: tf.constant(clips[:, t : t + 1], dtype=tf.float32)})
            logits = outputs.pop(self._output_key)
            states = outputs
            if t in wanted:
                at_frames[t] = logits.numpy()
        pooled = clip_features(before, states) if self._embeddings else None
        return Prediction(logits.numpy(), [at_frames[t] for t in frames], states, pooled)


class TfliteClassifier:
    """A TFLite stream model run with LiteRT: one frame [1, 1, H, W, 3] per call, states through the signature
    runner. A LiteRT interpreter is not thread-safe and one behind a lock would serialise the fastest path, so each
    thread gets its own (thread-local), all from the same file."""

    max_batch = 1
    streams = True

    def __init__(self, path: str, output_key: str, num_threads: int | None = None, embeddings: bool = False):
        self._path = path
        self._output_key = output_key
        self._embeddings = embeddings
        self._num_threads = num_threads
        self._local = threading.local()
        self._runner()  # fail at load time, not on the first clip

    def _runner(self):
        runner = getattr(self._local, "runner", None)
        if runner is None:
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_path=self._path, num_threads=self._num_threads)
            runner = interpreter.get_signature_runner(SERVING_SIGNATURE)
            self._local.interpreter, self._local.runner = interpreter, runner
            self._local.zero_states = {
                name: np.zeros(d["shape"], d["dtype"])
                for name, d in runner.get_input_details().items()
                if name != INPUT_KEY
            }
        return runner

    def initial_states(self, clips: np.ndarray) -> States:
        self._runner()
        return dict(self._local.zero_states)

    def logits(self, clips: np.ndarray, states: States | None = None) -> tuple[np.ndarray, States]:
        prediction = self.predict(clips, (), states)
        return prediction.logits, prediction.states

    def predict(self, clips: np.ndarray, frames: Sequence[int] = (), states: States | None = None) -> Prediction:
        """As `StreamClassifier.predict`."""
        runner = self._runner()
        before = states
        states = dict(states if states is not None else self._local.zero_states)
        inputs = np.ascontiguousarray(clips, dtype=np.float32)
        wanted, at_frames = set(frames), {}
        for t in range(inputs.shape[1]):
            outputs = runner(**states, **{INPUT_KEY: inputs[:, t : t + 1]})
            logits = outputs.pop(self._output_key)
            states = outputs
            if t in wanted:
                at_frames[t] = np.array(logits)
        pooled = clip_features(before, states) if self._embeddings else None
        return Prediction(logits, [at_frames[t] for t in frames], states, pooled)


CLASSIFIERS = {"base": BaseClassifier, "stream": StreamClassifier, "tflite": TfliteClassifier}


def _load_savedmodel(path: str):
    import tensorflow as tf

    try:
        return tf.saved_model.load(path)
    except Exception as exc:
        raise ModelError(f"cannot load the SavedModel in {path}: {exc}") from exc


def load_classifier(path: str, signature: ServingSignature, embeddings: bool = False):
    """The classifier of the model's form; with `embeddings`, one whose `predict` also gives pooled features (the
    launcher has refused a model without them: `ServingSignature.embedding_dim`)."""
    return CLASSIFIERS[signature.kind](path, signature.output_key, embeddings=embeddings)
