"""Step 3 of a video's path: score clips with MoViNet through Beam's RunInference.

Beam's `TFModelHandlerTensor` loads with `tf.keras.models.load_model`, which cannot load the published MoViNet
SavedModels (apache/beam#30616), and Keras 3 cannot wrap them; so vidlabel has its own `ModelHandler`, which
loads one of three classifiers (one per MoViNet form) and calls the model's signatures directly. RunInference's
`Shared` handle keeps one loaded model per worker process, shared by its threads.

Every form scores a clip from that clip's frames alone, so base and stream rows mean the same thing: a stream
model starts each clip from its initial states and reports the logits after the clip's last frame. With
`carry_states` (the tutorial's cumulative behaviour) a stream model instead carries its states from clip to clip
through the whole video.
"""
from __future__ import annotations

import collections
import threading
from typing import Any, Iterable, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from vidlabel.transforms import clips, depthwise, models
from vidlabel.transforms.types import ClipKey

States = dict  # name -> array; a stream model's memory of the frames it has seen


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class BaseClassifier:
    """A base SavedModel: whole clips [B, T, H, W, 3] -> logits [B, C] through `serving_default`.

    On CPU the signature runs with its depthwise 3D convolutions rewritten as per-tap 2D ones
    (`depthwise.fast_serving_function`: the same probabilities, ~25x faster for A0). With a GPU the SavedModel runs
    as it is (cuDNN has grouped 3D convolutions; the rewrite was measured on CPU only). `rewrite_depthwise` forces
    either way (benchmarks and tests compare the two)."""

    max_batch: Optional[int] = None
    streams = False

    def __init__(self, path: str, output_key: str, rewrite_depthwise: Optional[bool] = None):
        import tensorflow as tf  # imported here: TF objects must never be pickled with the pipeline

        self._tf = tf
        self._output_key = output_key
        loaded = _load_savedmodel(path)
        serving_fn = loaded.signatures[models.SERVING_SIGNATURE]
        self.rewritten_convolutions = 0
        if rewrite_depthwise is None:
            rewrite_depthwise = not tf.config.list_physical_devices("GPU")
        if rewrite_depthwise:
            # The frozen function holds the weights as constants, so the loaded SavedModel is not kept (A0: ~70 MB
            # less at the peak, measured).
            self._fn, self.rewritten_convolutions = depthwise.fast_serving_function(serving_fn)
        else:
            self._model = loaded  # kept: the signature needs its variables alive
            self._fn = lambda clips: serving_fn(**{models.INPUT_KEY: clips})

    def logits(self, clips: np.ndarray, states: Optional[States] = None) -> tuple[np.ndarray, Optional[States]]:
        return self._fn(self._tf.constant(clips, dtype=self._tf.float32))[self._output_key].numpy(), None


class StreamClassifier:
    """A stream SavedModel: frames go through `call` one at a time, states carried from `init_states`.

    Clips of equal shape share a batch: each starts from fresh states at frame 0, so they advance in lockstep (the
    `*_frame_count` states are shared by the batch)."""

    max_batch: Optional[int] = None
    streams = True

    def __init__(self, path: str, output_key: str):
        import tensorflow as tf

        self._tf = tf
        self._output_key = output_key
        self._model = _load_savedmodel(path)
        self._init_states = self._model.signatures["init_states"]
        self._call = self._model.signatures["call"]

    def initial_states(self, clips: np.ndarray) -> States:
        batch, _, height, width, channels = clips.shape
        return self._init_states(self._tf.constant([batch, 1, height, width, channels], dtype=self._tf.int32))

    def logits(self, clips: np.ndarray, states: Optional[States] = None) -> tuple[np.ndarray, States]:
        tf = self._tf
        states = dict(states if states is not None else self.initial_states(clips))
        for t in range(clips.shape[1]):
            outputs = self._call(**states, **{models.INPUT_KEY: tf.constant(clips[:, t : t + 1], dtype=tf.float32)})
            logits = outputs.pop(self._output_key)
            states = outputs
        return logits.numpy(), states


class TfliteClassifier:
    """A TFLite stream model run with LiteRT: one frame [1, 1, H, W, 3] per call, states through the signature
    runner. A LiteRT interpreter is not thread-safe and one behind a lock would serialise the fastest path, so each
    thread gets its own (thread-local), all from the same file."""

    max_batch = 1
    streams = True

    def __init__(self, path: str, output_key: str, num_threads: Optional[int] = None):
        self._path = path
        self._output_key = output_key
        self._num_threads = num_threads
        self._local = threading.local()
        self._runner()  # fail at load time, not on the first clip

    def _runner(self):
        runner = getattr(self._local, "runner", None)
        if runner is None:
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_path=self._path, num_threads=self._num_threads)
            runner = interpreter.get_signature_runner(models.SERVING_SIGNATURE)
            self._local.interpreter, self._local.runner = interpreter, runner
            self._local.zero_states = {
                name: np.zeros(d["shape"], d["dtype"])
                for name, d in runner.get_input_details().items()
                if name != models.INPUT_KEY
            }
        return runner

    def initial_states(self, clips: np.ndarray) -> States:
        self._runner()
        return dict(self._local.zero_states)

    def logits(self, clips: np.ndarray, states: Optional[States] = None) -> tuple[np.ndarray, States]:
        runner = self._runner()
        states = dict(states if states is not None else self._local.zero_states)
        frames = np.ascontiguousarray(clips, dtype=np.float32)
        for t in range(frames.shape[1]):
            outputs = runner(**states, **{models.INPUT_KEY: frames[:, t : t + 1]})
            logits = outputs.pop(self._output_key)
            states = outputs
        return logits, states


CLASSIFIERS = {"base": BaseClassifier, "stream": StreamClassifier, "tflite": TfliteClassifier}


def _load_savedmodel(path: str):
    import tensorflow as tf

    try:
        return tf.saved_model.load(path)
    except Exception as exc:
        raise models.ModelError(f"cannot load the SavedModel in {path}: {exc}") from exc


def load_classifier(path: str, signature: models.ServingSignature):
    return CLASSIFIERS[signature.kind](path, signature.output_key)


class MovinetHandler(ModelHandler[tuple, PredictionResult, Any]):
    """RunInference handler for the three MoViNet forms: (ClipKey, uint8 [T, H, W, 3]) -> PredictionResult whose
    `example` is the ClipKey and `inference` the clip's class probabilities.

    Holds only paths, names and numbers, so it pickles cheaply; the model is built in `load_model`, once per
    worker process, when RunInference sets up: a worker that cannot fetch or load the model fails then, loudly,
    before it takes any clip. `model_uri` is a local path, or (Dataflow) the gs:// copy the launcher staged,
    fetched into the worker's cache first."""

    def __init__(
        self,
        model_uri: str,
        signature: models.ServingSignature,
        *,
        max_batch_size: int,
        model_name: str,
        carry_states: bool = False,
    ):
        super().__init__()
        if carry_states and signature.kind == "base":
            raise ValueError("carry_states needs a stream or tflite model")
        self._model_uri = model_uri
        self._signature = signature
        self._max_batch_size = max_batch_size
        self._model_name = model_name
        self._carry_states = carry_states

    def load_model(self):
        model = load_classifier(models.fetch_model(self._model_uri), self._signature)
        model.video_states = collections.OrderedDict()  # carry_states: the last states of recent videos
        return model

    def run_inference(
        self, batch: Sequence[tuple], model, inference_args: Optional[dict[str, Any]] = None
    ) -> Iterable[PredictionResult]:
        if self._carry_states:
            return [self._score_carrying_states(key, clip, model) for key, clip in batch]
        # Clips of equal shape are scored together; a shorter tail clip is scored on its own, never padded.
        by_shape: dict[tuple, list[int]] = collections.defaultdict(list)
        for i, (_, clip) in enumerate(batch):
            by_shape[clip.shape].append(i)
        results: list[Optional[PredictionResult]] = [None] * len(batch)
        step = model.max_batch or len(batch)
        for indices in by_shape.values():
            for chunk in (indices[i : i + step] for i in range(0, len(indices), step)):
                logits, _ = model.logits(clips.model_input(np.stack([batch[i][1] for i in chunk])))
                for i, p in zip(chunk, softmax(np.asarray(logits))):
                    # The clip's frames are not carried on, so their memory is freed once the clip is scored.
                    results[i] = PredictionResult(example=batch[i][0], inference=p, model_id=self._model_name)
        return results

    def _score_carrying_states(self, key: ClipKey, clip: np.ndarray, model) -> PredictionResult:
        """Cumulative mode: a video's clips arrive in order on one worker (decoding and scoring are fused, with no
        shuffle between them), so the states after clip i start clip i + 1."""
        states = None if key.clip_index == 0 else model.video_states.pop(key.video_uri, None)
        if key.clip_index and states is None:
            raise RuntimeError(f"clip {key.clip_index} of {key.video_uri} arrived without the states of the one before")
        logits, states = model.logits(clips.model_input(clip[None]), states)
        model.video_states[key.video_uri] = states
        while len(model.video_states) > 64:  # videos whose last clip has passed
            model.video_states.popitem(last=False)
        return PredictionResult(example=key, inference=softmax(np.asarray(logits))[0], model_id=self._model_name)

    def get_num_bytes(self, batch: Sequence[tuple]) -> int:
        return sum(clip.nbytes for _, clip in batch)

    def batch_elements_kwargs(self) -> dict[str, Any]:
        return {"min_batch_size": 1, "max_batch_size": self._max_batch_size}

    def get_metrics_namespace(self) -> str:
        return f"vidlabel_movinet_{self._signature.kind}"
