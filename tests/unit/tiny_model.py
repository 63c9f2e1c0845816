"""A tiny real SavedModel with the published base models' interface, for the unit tests of the model's signature and
of the inference handler: no exported MoViNet (minutes), only TensorFlow's start-up (seconds).

Its logits are `mean(image over frames, height, width) @ WEIGHTS + BIAS`: they depend on every frame, so a clip padded
or mixed with another clip would score differently, and tests can compute the expected probabilities with NumPy.
"""

import numpy as np

WEIGHTS = np.array([[4.0, -2.0, 0.0, 1.0], [-3.0, 5.0, 1.0, 0.0], [2.0, 0.0, -4.0, 3.0]], dtype=np.float32)
BIAS = np.array([0.1, -0.2, 0.3, 0.0], dtype=np.float32)


def expected_probabilities(clip: np.ndarray) -> np.ndarray:
    """The tiny model's class probabilities for one uint8 clip [T, H, W, 3], computed without TensorFlow."""
    logits = (clip.astype(np.float64) / 255).mean(axis=(0, 1, 2)) @ WEIGHTS + BIAS
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def save_tiny_base_model(path: str) -> str:
    """Saves the tiny model at `path`: `serving_default` takes "image" [B, T, H, W, 3] float32 and returns
    "classifier_head" [B, 4] logits and a "features" output [B, 3] (so the logits must be found by name)."""
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(WEIGHTS)
            self.bias = tf.Variable(BIAS)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32, name="image")])
        def serve(self, image):
            features = tf.reduce_mean(image, axis=[1, 2, 3])
            return {"classifier_head": features @ self.weights + self.bias, "features": features}

    module = Tiny()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path
