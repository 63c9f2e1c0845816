"""Label-safe augmentation of training clips (`vidlabel finetune`, on by default; `--augment off`).

A few dozen videos per class are memorised within a few epochs unless every epoch shows them a little differently.
What changes here must not change what a clip shows happening, for any action label:
- time: a random start within the clip's decoded frames and a playback speed within ±`SPEED_JITTER`
  (training clips are decoded `margin_frames` longer than the model's clip for this);
- space: a random resized crop (`CROP_AREA` of the picture, aspect within `CROP_ASPECT`), the same box on every
  frame of a clip, resized back to the model's resolution;
- appearance: each clip is blended with one still frame of another clip of its batch (weight up to
  `Augmentation.still_frame`). A still frame adds no motion, so what a video looks like (its background, its
  colours) stops telling its class apart, and a network has to learn what moves. This is Background Erasing (Wang
  et al., CVPR 2021, which blends a clip's own frame) with another video's frame; on `bench/small_data.py` it took
  a network trained from random weights from 30/40 to 39/40 held-out videos (docs/finetuning.md);
- colour: brightness, contrast and saturation jitter, and sensor-like Gaussian noise.
Horizontal flips and time reversal turn "moving left" into "moving right" and "opening" into "closing", so they
are opt-in (`--flip`, `--reverse`) for labels that survive them.

Everything runs in TensorFlow on a batch of decoded uint8 clips inside the `tf.data` pipeline, with stateless
random ops seeded per batch from `--seed` and the epoch: a run is reproducible, and each epoch differs.
"""

from __future__ import annotations

import math
from typing import NamedTuple

SPEED_JITTER = 0.2  # playback speed in [0.8, 1.2]
CROP_AREA = (0.6, 1.0)  # share of the picture a crop keeps
CROP_ASPECT = (3 / 4, 4 / 3)  # its width / height, before resizing back to square
BRIGHTNESS = 0.15  # added, on the [0, 1] scale
CONTRAST = (0.75, 1.25)  # factor around the clip's mean
SATURATION = (0.7, 1.3)  # factor around each pixel's grey
NOISE_STD = 0.03  # at most; each clip draws its own in [0, NOISE_STD]


class Augmentation(NamedTuple):
    """What `vidlabel finetune` does to each training clip; recorded in training.json."""

    enabled: bool = True
    flip: bool = False  # horizontal flips (half the clips): only for labels a mirror image keeps
    reverse: bool = False  # time reversal (half the clips): only for labels that read the same backwards
    still_frame: float = 0.5  # largest weight of the still frame blended into each clip (0: none)


def margin_frames(clip_frames: int, augmentation: Augmentation) -> int:
    """Extra frames decoded after each training clip, room for the start offset and the faster playback."""
    return math.ceil(clip_frames * SPEED_JITTER) + max(1, clip_frames // 4) if augmentation.enabled else 0


def training_batch(frames, lengths, seed, clip_frames: int, augmentation: Augmentation):
    """Float clips [B, clip_frames, H, W, 3] in [0, 1] from uint8 clips [B, L, H, W, 3] whose first `lengths`
    frames are decoded (L >= clip_frames). Without augmentation: the first `clip_frames` frames, exactly the input
    `vidlabel run` gives the model. `seed`: int32 [2], the batch's."""
    import tensorflow as tf

    if not augmentation.enabled:
        return tf.cast(frames[:, :clip_frames], tf.float32) * (1 / 255)
    seeds = iter(tf.unstack(tf.random.experimental.stateless_split(seed, num=16)))

    def uniform(low, high, shape=None):
        return tf.random.stateless_uniform(shape if shape is not None else [batch], next(seeds), low, high)

    batch = tf.shape(frames)[0]
    height, width = frames.shape[2], frames.shape[3]

    # time: indices into each clip's decoded frames
    speed = uniform(1 - SPEED_JITTER, 1 + SPEED_JITTER)
    available = tf.cast(lengths, tf.float32)
    speed = tf.minimum(speed, (available - 1) / max(1, clip_frames - 1))  # a clip with no margin plays as is
    span = speed * (clip_frames - 1) + 1
    start = uniform(0.0, 1.0) * tf.maximum(available - span, 0.0)
    ticks = tf.range(clip_frames, dtype=tf.float32)
    index = tf.cast(tf.floor(start[:, None] + ticks[None, :] * speed[:, None]), tf.int32)
    index = tf.minimum(index, lengths[:, None] - 1)
    if augmentation.reverse:
        index = tf.where(uniform(0.0, 1.0)[:, None] < 0.5, tf.reverse(index, axis=[1]), index)
    clips = tf.cast(tf.gather(frames, index, batch_dims=1), tf.float32) * (1 / 255)

    # space: one crop box per clip, every frame of the clip resampled from it (bilinear, as separable matrices)
    area = uniform(*CROP_AREA)
    aspect = tf.exp(uniform(math.log(CROP_ASPECT[0]), math.log(CROP_ASPECT[1])))
    box_w = tf.minimum(tf.sqrt(area * aspect), 1.0)
    box_h = tf.minimum(tf.sqrt(area / aspect), 1.0)
    rows = bilinear_rows(uniform(0.0, 1.0) * (1 - box_h), box_h, height)
    columns = bilinear_rows(uniform(0.0, 1.0) * (1 - box_w), box_w, width)
    clips = tf.einsum("bij,btjkc,blk->btilc", rows, clips, columns)
    if augmentation.still_frame:
        other = tf.roll(clips, shift=1, axis=0)  # the next clip's; a batch of one blends its own, as BE does
        pick = tf.minimum(tf.cast(uniform(0.0, clip_frames), tf.int32), clip_frames - 1)
        clips = blend_still_frame(clips, tf.gather(other, pick, batch_dims=1), uniform(0.0, augmentation.still_frame))
    if augmentation.flip:
        clips = tf.where(tf.reshape(uniform(0.0, 1.0) < 0.5, [-1, 1, 1, 1, 1]), tf.reverse(clips, axis=[3]), clips)

    # colour: per clip, the same on every frame; noise per pixel
    def per_clip(values):
        return tf.reshape(values, [-1, 1, 1, 1, 1])

    grey = tf.reduce_sum(clips * [0.299, 0.587, 0.114], axis=-1, keepdims=True)
    clips = grey + (clips - grey) * per_clip(uniform(*SATURATION))
    mean = tf.reduce_mean(clips, axis=[1, 2, 3, 4], keepdims=True)
    clips = (clips - mean) * per_clip(uniform(*CONTRAST)) + mean + per_clip(uniform(-BRIGHTNESS, BRIGHTNESS))
    noise = tf.random.stateless_normal(tf.shape(clips), next(seeds)) * per_clip(uniform(0.0, NOISE_STD))
    return tf.clip_by_value(clips + noise, 0.0, 1.0)


def blend_still_frame(clips, frames, weights):
    """`clips` [B, T, H, W, C] blended with one still frame per clip ([B, H, W, C], each at its weight in `weights`
    [B]) on every time step: (1 - w) * clip + w * frame. Every change between two frames is scaled by 1 - w and
    none is added: the motion stays, the appearance is no longer the clip's own."""
    import tensorflow as tf

    weights = tf.reshape(weights, [-1, 1, 1, 1, 1])
    return (1 - weights) * clips + weights * frames[:, None]


def bilinear_rows(start, extent, size: int):
    """[B, size, size] matrices that resample `size` pixels from the span [start, start + extent) of each clip's
    axis (fractions of it) back to `size` pixels, by linear interpolation: a crop-and-resize as one matrix product
    per axis (`tf.image.crop_and_resize` does the same but floods the log with cost-model warnings in tf.data)."""
    import tensorflow as tf

    centres = (tf.range(size, dtype=tf.float32) + 0.5) / size  # output pixel centres in [0, 1]
    source = (start[:, None] + centres[None, :] * extent[:, None]) * size - 0.5  # in input pixel coordinates
    source = tf.clip_by_value(source, 0.0, size - 1.0)
    pixels = tf.range(size, dtype=tf.float32)
    return tf.nn.relu(1 - tf.abs(source[:, :, None] - pixels[None, None, :]))
