"""Step 3 of a video's path: score clips with MoViNet through Beam's RunInference.

Beam's `TFModelHandlerTensor` loads with `tf.keras.models.load_model`, which cannot load the published MoViNet
SavedModels (apache/beam#30616), and Keras 3 cannot wrap them; so vidlabel has its own `ModelHandler` that loads
the SavedModel with `tf.saved_model.load` and calls its serving signature directly. RunInference's `Shared` handle
keeps one loaded model per worker process, shared by its threads.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from vidlabel.transforms import models


class MovinetClassifier:
    """A loaded MoViNet SavedModel: float32 clips [B, T, H, W, 3] in [0, 1] -> class probabilities [B, C]."""

    def __init__(self, model_dir: str, output_key: Optional[str] = None):
        import tensorflow as tf  # imported here: TF objects must never be pickled with the pipeline

        self.signature = models.read_signature(model_dir, output_key)
        self._tf = tf
        try:
            self._model = tf.saved_model.load(model_dir)  # kept: the signature needs its variables alive
            self._fn = self._model.signatures[models.SERVING_SIGNATURE]
        except Exception as exc:
            raise models.ModelError(f"cannot load the SavedModel in {model_dir}: {exc}") from exc

    def probabilities(self, clips: np.ndarray) -> np.ndarray:
        tf = self._tf
        logits = self._fn(**{models.INPUT_KEY: tf.constant(clips, dtype=tf.float32)})[self.signature.output_key]
        return tf.nn.softmax(logits, axis=-1).numpy()


class MovinetSavedModelHandler(ModelHandler[np.ndarray, PredictionResult, MovinetClassifier]):
    """RunInference handler for MoViNet SavedModels. Holds only paths and numbers, so it pickles cheaply."""

    def __init__(self, model_dir: str, *, output_key: Optional[str], max_batch_size: int, model_name: str):
        super().__init__()
        self._model_dir = model_dir
        self._output_key = output_key
        self._max_batch_size = max_batch_size
        self._model_name = model_name

    def load_model(self) -> MovinetClassifier:
        return MovinetClassifier(self._model_dir, self._output_key)

    def run_inference(
        self, batch: Sequence[np.ndarray], model: MovinetClassifier, inference_args: Optional[dict[str, Any]] = None
    ) -> Iterable[PredictionResult]:
        """Scores clips of equal shape together; a shorter tail clip is scored in its own call, never padded."""
        by_shape: dict[tuple, list[int]] = defaultdict(list)
        for i, clip in enumerate(batch):
            by_shape[clip.shape].append(i)
        results: list[Optional[PredictionResult]] = [None] * len(batch)
        for indices in by_shape.values():
            probabilities = model.probabilities(np.stack([batch[i] for i in indices]))
            for i, p in zip(indices, probabilities):
                # The example (the clip's frames) is not carried on, so its memory is freed once it is scored.
                results[i] = PredictionResult(example=None, inference=p, model_id=self._model_name)
        return results

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(clip.nbytes for clip in batch)

    def batch_elements_kwargs(self) -> dict[str, Any]:
        return {"min_batch_size": 1, "max_batch_size": self._max_batch_size}

    def get_metrics_namespace(self) -> str:
        return "vidlabel_movinet_savedmodel"
