"""Handwriting-style augmentation of MNIST batches, as TensorFlow ops.

Each image gets its own small random affine warp (rotation, scale, shear, shift)
and stroke-thickness change (partial grey dilation or erosion), the variations a
digit written with a marker and photographed shows. Everything is vectorised over
the batch and runs inside the compiled training step (one
``ImageProjectiveTransformV3`` call for the whole batch), so it costs little time.
Randomness is stateless: the same ``seed`` tensor gives the same batch, which keeps
training reproducible and a resumed run identical to an uninterrupted one.

    python -m training --augment        # train with it
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from training.tfkeras import tf


@dataclass(frozen=True)
class AugmentOptions:
    """Ranges of the random per-image changes; each is drawn uniformly in [-r, r]."""

    rotation_deg: float = 12.0
    """Rotation about the image centre, degrees."""
    scale: float = 0.12
    """Relative size change: 0.12 means the digit is 0.88x to 1.12x as large."""
    shear: float = 0.2
    """Horizontal shear (x moves by shear * y), the slant of handwriting."""
    shift_px: float = 2.0
    """Translation in pixels along each axis (MNIST digits are centred by mass)."""
    stroke: float = 0.6
    """Stroke-thickness change: blend weight towards a 3x3 dilation (>0) or erosion (<0)."""


def augment_batch(
    images: tf.Tensor, seed: tf.Tensor, options: AugmentOptions = AugmentOptions()
) -> tf.Tensor:
    """Randomly warp a batch of digits.

    images: (batch, 28, 28) float32 in [0, 1], white digit on black.
    seed: int32/int64 tensor of shape (2,) for the stateless random ops.
    Returns the same shape and range.
    """
    n = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=6)

    def uniform(i, r):
        return tf.random.stateless_uniform((n,), seeds[i], -r, r)

    angle = uniform(0, math.radians(options.rotation_deg))
    zoom = 1.0 + uniform(1, options.scale)
    shear = uniform(2, options.shear)
    dx, dy = uniform(3, options.shift_px), uniform(4, options.shift_px)

    # The transform maps each OUTPUT pixel (x, y) to the INPUT point it samples:
    # in = A @ (out - centre - shift) + centre, with A = rotation @ shear / zoom.
    # The ranges are symmetric, so sampling the inverse map directly is equivalent.
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    a00, a01 = cos, cos * shear - sin
    a10, a11 = sin, sin * shear + cos
    c = 13.5  # centre of a 28-pixel axis, in pixel coordinates
    ox, oy = c + dx, c + dy
    b0 = c - a00 * ox - a01 * oy
    b1 = c - a10 * ox - a11 * oy
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)  # (batch, 8)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images[..., None],
        transforms=transforms,
        output_shape=tf.constant([28, 28]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )  # (batch, 28, 28, 1)

    # Stroke thickness: move each pixel part of the way to its 3x3 max (thicker) or min (thinner).
    k = uniform(5, options.stroke)[:, None, None, None]
    img = warped[..., 0]
    target = tf.where(k[..., 0] > 0, window3x3(img, tf.maximum), window3x3(img, tf.minimum))
    out = img + tf.abs(k[..., 0]) * (target - img)
    return tf.clip_by_value(out, 0.0, 1.0)


def window3x3(x: tf.Tensor, reduce) -> tf.Tensor:
    """3x3 max (dilation) or min (erosion) of (batch, 28, 28) images, edges padded with 0.

    Separable shifted slices: ~10x cheaper on CPU than max_pool2d with one channel.
    """
    p = tf.pad(x, [[0, 0], [1, 1], [1, 1]])  # (batch, 30, 30)
    rows = reduce(reduce(p[:, :, :-2], p[:, :, 1:-1]), p[:, :, 2:])  # (batch, 30, 28)
    return reduce(reduce(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])  # (batch, 28, 28)
