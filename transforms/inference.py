"""Step 3 of a video's path: score clips with MoViNet through Beam's RunInference.

Beam's `TFModelHandlerTensor` loads with `tf.keras.models.load_model`, which cannot load the published MoViNet
SavedModels (apache/beam#30616), and Keras 3 cannot wrap them; so vidlabel has its own `ModelHandler`, which
loads one of the three classifiers (`movinet/classifiers.py`) and calls the model's signatures directly. RunInference's
`Shared` handle keeps one loaded model per worker process, shared by its threads.

Every form scores a clip from that clip's frames alone, so base and stream rows mean the same thing: a stream
model starts each clip from its initial states and reports the logits after the clip's last frame. With
`carry_states` (the tutorial's cumulative behaviour) a stream model instead carries its states from clip to clip
through the whole video. With `frame_labels` a stream model also reports its prediction at each of the clip's
`second_marks` (the frames at whole seconds), which costs nothing more: it predicts after every frame anyway.
With `embeddings` every clip also gets its pooled features (`movinet/features.py`): from the frozen serving graph
of a base model, from the states of a stream or TFLite model (with carried states, of the clip's own frames).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from vidlabel.movinet.cache import fetch_model
from vidlabel.movinet.classifiers import load_classifier, softmax
from vidlabel.movinet.signature import ServingSignature
from vidlabel.transforms import clips
from vidlabel.transforms.types import ClipKey, ClipScores


class MovinetHandler(ModelHandler[tuple, PredictionResult, Any]):
    """RunInference handler for the three MoViNet forms: (ClipKey, uint8 [T, H, W, 3]) -> PredictionResult whose
    `example` is the ClipKey and `inference` the clip's `ClipScores`.

    Holds only paths, names and numbers, so it pickles cheaply; the model is built in `load_model`, once per
    worker process, when RunInference sets up: a worker that cannot fetch or load the model fails then, loudly,
    before it takes any clip. `model_uri` is a local path, or (Dataflow) the gs:// copy the launcher staged,
    fetched into the worker's cache first."""

    def __init__(
        self,
        model_uri: str,
        signature: ServingSignature,
        *,
        max_batch_size: int,
        model_name: str,
        carry_states: bool = False,
        frame_labels: bool = False,
        embeddings: bool = False,
    ):
        super().__init__()
        if (carry_states or frame_labels) and signature.kind == "base":
            raise ValueError("carry_states and frame_labels need a stream or tflite model")
        self._model_uri = model_uri
        self._signature = signature
        self._max_batch_size = max_batch_size
        self._model_name = model_name
        self._carry_states = carry_states
        self._frame_labels = frame_labels
        self._embeddings = embeddings

    def load_model(self):
        model = load_classifier(fetch_model(self._model_uri), self._signature, embeddings=self._embeddings)
        model.video_states = collections.OrderedDict()  # carry_states: the last states of recent videos
        return model

    def run_inference(
        self, batch: Sequence[tuple], model, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        if self._carry_states:
            return [self._score_carrying_states(key, clip, model) for key, clip in batch]
        # Clips of equal shape are scored together; a shorter tail clip is scored on its own, never padded.
        by_shape: dict[tuple, list[int]] = collections.defaultdict(list)
        for i, (_, clip) in enumerate(batch):
            by_shape[clip.shape].append(i)
        results: list[PredictionResult | None] = [None] * len(batch)
        step = model.max_batch or len(batch)
        for indices in by_shape.values():
            for chunk in (indices[i : i + step] for i in range(0, len(indices), step)):
                keys = [batch[i][0] for i in chunk]
                inputs = clips.model_input(np.stack([batch[i][1] for i in chunk]))
                for i, scores in zip(chunk, self._score(model, keys, inputs)[0]):
                    # The clip's frames are not carried on, so their memory is freed once the clip is scored.
                    results[i] = PredictionResult(example=batch[i][0], inference=scores, model_id=self._model_name)
        return results

    def _score(self, model, keys: Sequence[ClipKey], inputs: np.ndarray, states=None) -> tuple[list[ClipScores], Any]:
        """ClipScores of clips of one shape, scored together, and the states after them (stream models)."""
        offsets = sorted({offset for key in keys for offset, _ in key.second_marks}) if self._frame_labels else []
        prediction = model.predict(inputs, offsets, states)
        by_offset = dict(zip(offsets, (softmax(np.asarray(a)) for a in prediction.at_frames)))
        scores = [
            ClipScores(
                probabilities,
                tuple((time_s, by_offset[offset][b]) for offset, time_s in key.second_marks) if by_offset else (),
                None if prediction.features is None else prediction.features[b],
            )
            for b, (key, probabilities) in enumerate(zip(keys, softmax(np.asarray(prediction.logits))))
        ]
        return scores, prediction.states

    def _score_carrying_states(self, key: ClipKey, clip: np.ndarray, model) -> PredictionResult:
        """Cumulative mode: a video's clips arrive in order on one worker (decoding and scoring are fused, with no
        shuffle between them), so the states after clip i start clip i + 1."""
        states = None if key.clip_index == 0 else model.video_states.pop(key.video_uri, None)
        if key.clip_index and states is None:
            raise RuntimeError(f"clip {key.clip_index} of {key.video_uri} arrived without the states of the one before")
        (scores,), states = self._score(model, [key], clips.model_input(clip[None]), states)
        model.video_states[key.video_uri] = states
        while len(model.video_states) > 64:  # videos whose last clip has passed
            model.video_states.popitem(last=False)
        return PredictionResult(example=key, inference=scores, model_id=self._model_name)

    def get_num_bytes(self, batch: Sequence[tuple]) -> int:
        return sum(clip.nbytes for _, clip in batch)

    def batch_elements_kwargs(self) -> dict[str, Any]:
        return {"min_batch_size": 1, "max_batch_size": self._max_batch_size}

    def get_metrics_namespace(self) -> str:
        return f"vidlabel_movinet_{self._signature.kind}"
