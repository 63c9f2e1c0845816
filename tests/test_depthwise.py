"""Base models run with their depthwise 3D convolutions rewritten as per-tap 2D ones: the same numbers as the plain
SavedModel (the pipeline-level check is `test_pipeline.test_probabilities_equal_the_savedmodel_called_directly`,
which scores through `vidlabel run` and compares with the SavedModel called directly)."""

import numpy as np
import pytest

from vidlabel.transforms.decode import DecodeClips
from vidlabel.transforms.types import ClipSpec, VideoFile

from conftest import SMALL, VIDEOS

tf = pytest.importorskip("tensorflow")


@pytest.mark.parametrize(
    "kernel, strides, padding, multiplier",
    [
        ((3, 3, 3), (1, 1, 1), "SAME", 1),
        ((3, 3, 3), (1, 2, 2), "SAME", 1),  # A0's strided depthwise layers
        ((5, 3, 3), (1, 2, 2), "SAME", 1),
        ((1, 5, 5), (1, 1, 1), "SAME", 1),
        ((3, 3, 3), (2, 1, 1), "SAME", 1),  # a temporal stride, and an even padding total
        ((2, 3, 3), (1, 1, 1), "SAME", 1),
        ((3, 1, 1), (1, 1, 1), "VALID", 1),  # a causal network's temporal convolution on buffered input
        ((3, 3, 3), (1, 2, 2), "VALID", 2),  # a channel multiplier
    ],
)
def test_per_tap_depthwise_equals_grouped_conv3d(kernel, strides, padding, multiplier):
    from vidlabel.movinet.depthwise import depthwise_conv3d

    rng = np.random.default_rng(0)
    channels = 6
    inputs = tf.constant(rng.normal(size=(2, 7, 11, 9, channels)), tf.float32)
    filters = tf.constant(rng.normal(size=(*kernel, 1, channels * multiplier)), tf.float32)
    stride5 = (1, *strides, 1)
    # TensorFlow runs a grouped (here depthwise) Conv3D on CPU only through XLA, as Model Garden's layer does.
    grouped = tf.function(lambda x, w: tf.nn.conv3d(x, w, stride5, padding), jit_compile=True)(inputs, filters)
    per_tap = tf.function(lambda x, w: depthwise_conv3d(x, w, stride5, padding))(inputs, filters)
    assert per_tap.shape == grouped.shape
    np.testing.assert_allclose(per_tap.numpy(), grouped.numpy(), atol=1e-4, rtol=1e-5)


def test_rewritten_base_model_gives_the_plain_savedmodels_probabilities(small_model):
    """On real clips, including a shorter tail clip and a batch of two, the rewritten A0 base model (its 15 depthwise
    convolutions rewritten) gives the plain SavedModel's logits."""
    from vidlabel.movinet.classifiers import BaseClassifier, softmax
    from vidlabel.transforms.clips import model_input

    spec = ClipSpec(
        fps=SMALL["fps"], resolution=SMALL["resolution"], clip_frames=SMALL["frames"], stride_frames=SMALL["frames"]
    )
    decode = DecodeClips(spec)
    decode.setup()
    video = VideoFile(str(VIDEOS / "k400_arm_wrestling_h264.mp4"), None, None)
    clips = [clip for _, clip in (o for o in decode.process(video) if isinstance(o, tuple))]
    decode.teardown()
    assert len(clips) >= 3 and clips[-1].shape[0] < SMALL["frames"]
    fast = BaseClassifier(str(small_model), "classifier_head")
    plain = BaseClassifier(str(small_model), "classifier_head", rewrite_depthwise=False)
    assert (fast.rewritten_convolutions, plain.rewritten_convolutions) == (15, 0)
    batches = [np.stack(clips[:2]), clips[-1][None]]
    for batch in batches:
        fast_logits, _ = fast.logits(model_input(batch))
        plain_logits, _ = plain.logits(model_input(batch))
        assert fast_logits.shape == (len(batch), 600)
        np.testing.assert_allclose(fast_logits, plain_logits, atol=1e-5)
        assert np.abs(softmax(fast_logits) - softmax(plain_logits)).max() <= 1e-4


def test_fine_tuning_layers_give_the_same_outputs_and_gradients():
    """`vidlabel finetune --mode base` trains inside `depthwise_layers_as_2d`: Model Garden's base network must compute
    the same logits and the same gradients as with its own grouped Conv3D layers."""
    from vidlabel.movinet.export import build_classifier
    from vidlabel.movinet.finetune import depthwise_layers_as_2d

    model = build_classifier(
        "a0", "base", num_classes=4, seed=1, input_shape=(None, 4, 32, 32, 3), external_states=False
    )
    clips = tf.constant(np.random.default_rng(1).random((2, 4, 32, 32, 3)), tf.float32)
    labels = tf.constant([0, 3])

    def outputs_and_gradients():
        with tf.GradientTape() as tape:
            logits = model(clips, training=False)  # no dropout: both passes must see the same network
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        return logits.numpy(), [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]

    plain_logits, plain_grads = outputs_and_gradients()
    with depthwise_layers_as_2d():
        fast_logits, fast_grads = outputs_and_gradients()
    np.testing.assert_allclose(fast_logits, plain_logits, atol=1e-4)
    assert len(fast_grads) == len(plain_grads) > 100
    for fast, plain in zip(fast_grads, plain_grads):
        np.testing.assert_allclose(fast, plain, atol=1e-4, rtol=1e-3)
