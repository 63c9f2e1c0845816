"""A model's interface read from its files without loading it, on tiny real SavedModels."""

import pytest

from vidlabel.movinet import ModelError, read_signature


def test_a_base_model_is_described_by_its_serving_signature(tiny_base_model):
    # The tiny model has no MoViNet head: no embeddings.
    assert read_signature(tiny_base_model) == ("base", (None, None, None, None, 3), "classifier_head", 4, None)
    assert read_signature(tiny_base_model, output_key="features") == (
        "base",
        (None, None, None, None, 3),
        "features",
        3,
        None,
    )
    with pytest.raises(ModelError, match="no output named 'logits'"):
        read_signature(tiny_base_model, output_key="logits")


def test_a_stream_model_is_described_by_its_call_signature(tmp_path):
    import tensorflow as tf

    class Stream(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([5], tf.int32, name="input_shape")])
        def init_states(self, input_shape):
            return {"state": tf.zeros([input_shape[0], 3])}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 1, None, None, 3], tf.float32, name="image"),
                tf.TensorSpec([None, 3], tf.float32, name="state"),
            ]
        )
        def call(self, image, state):
            state = state + tf.reduce_mean(image, axis=[1, 2, 3])
            return {"logits": tf.concat([state, -state], axis=1), "state": state}

    module = Stream()
    tf.saved_model.save(module, str(tmp_path), signatures={"init_states": module.init_states, "call": module.call})
    assert read_signature(str(tmp_path)) == ("stream", (None, 1, None, None, 3), "logits", 6, None)


def test_a_folder_that_is_not_a_saved_model_is_refused(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match=f"cannot load the SavedModel in {tmp_path}"):
        read_signature(str(tmp_path))
