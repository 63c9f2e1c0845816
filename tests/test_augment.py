"""Training-clip augmentation (`vidlabel.movinet.augment`) on real TensorFlow ops: off, it is exactly the input
`vidlabel run` gives the model; on, it keeps what a clip shows happening (time order, direction of motion, only
decoded frames) unless flips or reversal are asked for, the still frame it blends in adds appearance and no motion,
and it is reproducible from its seed."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from vidlabel.movinet.augment import Augmentation, blend_still_frame, margin_frames, training_batch  # noqa: E402

CLIP = 8  # the model's clip
LONG = CLIP + margin_frames(CLIP, Augmentation())  # as decoded for training


def moving_square(step_x: int, step_y: int, frames: int = LONG, side: int = 64) -> np.ndarray:
    """uint8 [frames, side, side, 3]: a white 10-px square on grey moving by (step_x, step_y) pixels a frame."""
    clip = np.full((frames, side, side, 3), 60, np.uint8)
    for t in range(frames):
        x, y = 20 + step_x * t, 20 + step_y * t
        clip[t, y : y + 10, x : x + 10] = 255
    return clip


def centroids(clips: np.ndarray) -> np.ndarray:
    """[B, T, 2] (x, y) of the brightest pixels of each frame."""
    luma = clips.mean(axis=-1)
    bright = luma >= np.quantile(luma, 0.97, axis=(2, 3), keepdims=True)
    ys, xs = np.mgrid[0 : clips.shape[2], 0 : clips.shape[3]]
    count = bright.sum(axis=(2, 3))
    return np.stack([(bright * xs).sum(axis=(2, 3)) / count, (bright * ys).sum(axis=(2, 3)) / count], axis=-1)


def augment(frames, lengths, seed, augmentation):
    return training_batch(
        tf.constant(frames), tf.constant(lengths, tf.int32), tf.constant(seed, tf.int32), CLIP, augmentation
    ).numpy()


def test_off_is_exactly_the_model_input_of_vidlabel_run():
    frames = np.random.default_rng(0).integers(0, 256, (3, LONG, 16, 16, 3), dtype=np.uint8)
    out = augment(frames, [LONG, LONG, CLIP], [1, 2], Augmentation(enabled=False))
    np.testing.assert_array_equal(out, frames[:, :CLIP].astype(np.float32) * np.float32(1 / 255))


def test_on_keeps_the_direction_of_motion_and_changes_the_pixels():
    frames = np.stack([moving_square(2, 0)] * 16 + [moving_square(0, 2)] * 16)
    out = augment(frames, [LONG] * 32, [3, 4], Augmentation())
    assert out.shape == (32, CLIP, 64, 64, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    motion = centroids(out)[:, -1] - centroids(out)[:, 0]  # (dx, dy) over the clip
    assert (motion[:16, 0] > 4).all() and (np.abs(motion[:16, 1]) < 2).all()  # still moving right
    assert (motion[16:, 1] > 4).all() and (np.abs(motion[16:, 0]) < 2).all()  # still moving down
    # Different from the plain clip (crop, colour, noise), and different per clip and per seed.
    plain = augment(frames, [LONG] * 32, [3, 4], Augmentation(enabled=False))
    assert np.abs(out - plain).mean() > 0.02
    again, other = (
        augment(frames, [LONG] * 32, [3, 4], Augmentation()),
        augment(frames, [LONG] * 32, [3, 5], Augmentation()),
    )
    np.testing.assert_array_equal(out, again)
    assert np.abs(out - other).mean() > 0.02


def test_speed_jitter_changes_how_far_a_clip_travels():
    frames = np.stack([moving_square(3, 0)] * 32)
    travelled = np.array([centroids(augment(frames, [LONG] * 32, [7, s], Augmentation()))[:, -1, 0] for s in range(2)])
    start = np.array([centroids(augment(frames, [LONG] * 32, [7, s], Augmentation()))[:, 0, 0] for s in range(2)])
    distance = (travelled - start).ravel()
    assert distance.std() > 1  # playback speeds and crops differ clip to clip


def test_only_decoded_frames_are_used():
    """A clip near a video's end is padded with its last frame; a padded frame must never be picked over a later
    real one. Frames brighten with time and the padding is black: any padding picked would darken a later frame
    (slower playback may repeat a frame: equal, within the noise). The still frame, itself a decoded frame, scales
    the rise by half at most."""
    frames = np.zeros((16, LONG, 32, 32, 3), np.uint8)
    for t in range(CLIP):
        frames[:, t] = 100 + 15 * t
    out = augment(frames, [CLIP] * 16, [9, 9], Augmentation())
    means = out.mean(axis=(2, 3, 4))
    assert (np.diff(means, axis=1) > -0.01).all() and (means[:, -1] - means[:, 0] > 0.1).all()


def test_flips_and_reversal_are_opt_in_and_do_what_they_say():
    frames = np.stack([moving_square(2, 0)] * 32)
    for augmentation in (Augmentation(flip=True), Augmentation(reverse=True)):
        dx = np.diff(centroids(augment(frames, [LONG] * 32, [11, 12], augmentation))[:, [0, -1], 0], axis=1).ravel()
        assert 6 <= (dx < 0).sum() <= 26, dx  # about half the clips now move left
        assert ((dx > 4) | (dx < -4)).all()


def test_a_still_frame_scales_every_change_and_adds_none():
    rng = np.random.default_rng(5)
    clips, stills = rng.random((2, CLIP, 16, 16, 3), np.float32), rng.random((2, 16, 16, 3), np.float32)
    out = blend_still_frame(tf.constant(clips), tf.constant(stills), tf.constant([0.0, 0.4])).numpy()
    np.testing.assert_allclose(out[0], clips[0])
    np.testing.assert_allclose(np.diff(out[1], axis=0), 0.6 * np.diff(clips[1], axis=0), atol=1e-6)
    np.testing.assert_allclose(out[1] - 0.6 * clips[1], np.broadcast_to(0.4 * stills[1], clips[1].shape), atol=1e-6)


def test_each_clip_gets_a_still_frame_of_another_clip_of_its_batch():
    """Black clips with a moving square, each after a white still clip in its batch: with the still frame on, a
    black clip's background turns grey (a weight up to 0.5 of white, 0.25 on average) and stays as steady as the
    noise lets it; with it off, it stays dark. The square still moves right."""
    black = moving_square(2, 0)
    black[black == 60] = 0
    frames = np.stack([np.full_like(black, 255), black] * 16)
    background = (slice(1, None, 2), slice(None), slice(40, 64), slice(0, 16))  # no square passes there
    on, off = (augment(frames, [LONG] * 32, [13, 14], Augmentation(still_frame=w)) for w in (0.5, 0.0))
    assert on[background].mean() > 0.15 and off[background].mean() < 0.1
    assert on[background].std(axis=1).mean() < 0.05  # the same still frame on every frame of a clip: no motion
    motion = centroids(on[1::2])[:, -1] - centroids(on[1::2])[:, 0]
    assert (motion[:, 0] > 4).all()
