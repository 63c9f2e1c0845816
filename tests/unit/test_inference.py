"""MovinetHandler on a tiny real SavedModel: clips of equal shape scored together, a shorter clip on its own (never
padded), results in input order with probabilities that sum to 1."""

import numpy as np
import pytest

from vidlabel.movinet import read_signature
from vidlabel.transforms.inference import MovinetHandler
from vidlabel.transforms.types import ClipKey

from .tiny_model import expected_probabilities


def clip(seed, frames):
    return np.random.default_rng(seed).integers(0, 256, size=(frames, 8, 8, 3), dtype=np.uint8)


def test_run_inference_scores_each_clip_on_its_own_frames_in_input_order(tiny_base_model):
    handler = MovinetHandler(tiny_base_model, read_signature(tiny_base_model), max_batch_size=8, model_name="tiny")
    model = handler.load_model()
    # Full clips of 4 frames around two shorter tail clips: two shapes, so two model calls.
    batch = [(ClipKey(f"/v/{i}.mp4", 0, 0.0, 1.0, 0, 9), clip(i, 2 if i in (1, 3) else 4)) for i in range(5)]
    results = handler.run_inference(batch, model)
    assert [r.example for r in results] == [key for key, _ in batch]
    assert all(r.model_id == "tiny" for r in results)
    for (_, frames), result in zip(batch, results):
        assert result.inference.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(result.inference.probabilities, expected_probabilities(frames), atol=1e-5)
        assert result.inference.per_second == ()  # per-second labels are a stream model's, when asked
    assert len({tuple(np.round(r.inference.probabilities, 6)) for r in results}) == len(batch)  # none got another's


def test_handler_batching_settings_and_base_models_cannot_carry_states(tiny_base_model):
    signature = read_signature(tiny_base_model)
    handler = MovinetHandler(tiny_base_model, signature, max_batch_size=3, model_name="tiny")
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 3}
    assert handler.get_num_bytes([(None, clip(0, 4)), (None, clip(1, 2))]) == (4 + 2) * 8 * 8 * 3
    for flag in ("carry_states", "frame_labels"):
        with pytest.raises(ValueError, match="carry_states and frame_labels need a stream or tflite model"):
            MovinetHandler(tiny_base_model, signature, max_batch_size=3, model_name="tiny", **{flag: True})
