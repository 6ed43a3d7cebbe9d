"""training/augment.py: reproducible, mild, shape- and range-preserving warps."""

from __future__ import annotations

import cv2
import numpy as np

from training.augment import (
    AugmentOptions,
    augment_batch,
    elastic_batch,
    gaussian_blur,
    remap_bilinear,
    window3x3,
)
from training.tfkeras import tf


def digits(n=32):
    """Fake 'strokes': a filled bar of random position per image, (n, 28, 28) in [0, 1]."""
    rng = np.random.default_rng(0)
    x = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        r, c = rng.integers(8, 16, 2)
        x[i, r : r + 8, c : c + 3] = 1.0
    return x


def test_same_seed_same_batch_other_seed_other_batch():
    x = tf.constant(digits())
    a = augment_batch(x, tf.constant([0, 1], tf.int64)).numpy()
    b = augment_batch(x, tf.constant([0, 1], tf.int64)).numpy()
    c = augment_batch(x, tf.constant([0, 2], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    assert a.shape == (32, 28, 28) and a.min() >= 0 and a.max() <= 1


def test_warps_are_mild():
    x = digits()
    y = augment_batch(tf.constant(x), tf.constant([3, 4], tf.int64)).numpy()
    assert np.abs(y - x).max() > 0.1  # it does change the images
    ink_ratio = y.sum(axis=(1, 2)) / x.sum(axis=(1, 2))
    assert ink_ratio.min() > 0.4 and ink_ratio.max() < 2.5  # no digit lost or smeared over the frame
    centre_shift = [
        np.abs(np.argwhere(yi > 0.5).mean(0) - np.argwhere(xi > 0.5).mean(0)).max()
        for xi, yi in zip(x, y)
        if (yi > 0.5).any()
    ]
    assert max(centre_shift) < 5  # 2 px shift + rotation/scale about the centre


def test_zero_ranges_are_identity():
    x = digits(4)
    none = AugmentOptions(rotation_deg=0, scale=0, shear=0, shift_px=0, stroke=0)
    y = augment_batch(tf.constant(x), tf.constant([0, 0], tf.int64), none).numpy()
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_window3x3_is_grey_dilation_and_erosion():
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 10, 10] = 1.0
    dilated = window3x3(tf.constant(x), tf.maximum).numpy()[0]
    assert dilated[9:12, 9:12].min() == 1.0 and dilated.sum() == 9
    x[0, 5:10, 5:10] = 1.0
    eroded = window3x3(tf.constant(x), tf.minimum).numpy()[0]
    assert eroded[6:9, 6:9].min() == 1.0 and eroded.sum() == 9  # the lone pixel vanishes


# ---------------------------------------------------------------- elastic distortion


def test_gaussian_blur_is_opencvs():
    noise = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28)).astype(np.float32)
    ours = gaussian_blur(tf.constant(noise), 4.0).numpy()
    theirs = np.stack([cv2.GaussianBlur(n, (0, 0), 4.0) for n in noise])  # what styles.elastic uses
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_remap_bilinear_is_opencvs_remap_with_a_black_border():
    rng = np.random.default_rng(1)
    x = digits(3)
    dx, dy = (
        rng.uniform(-6, 6, (3, 28, 28)).astype(np.float32) for _ in range(2)
    )  # some points leave the frame
    ours = remap_bilinear(tf.constant(x), tf.constant(dx), tf.constant(dy)).numpy()
    ys, xs = np.mgrid[0:28, 0:28].astype(np.float32)
    theirs = np.stack(
        [
            cv2.remap(x[i], xs + dx[i], ys + dy[i], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_elastic_bends_about_the_share_asked_and_is_reproducible(mnist_test):
    x = tf.constant(mnist_test[0][:400].astype(np.float32) / 255.0)
    a = elastic_batch(x, tf.constant([0, 1], tf.int64), 0.5).numpy()
    np.testing.assert_array_equal(a, elastic_batch(x, tf.constant([0, 1], tf.int64), 0.5).numpy())
    assert not np.array_equal(a, elastic_batch(x, tf.constant([0, 2], tf.int64), 0.5).numpy())
    moved = np.abs(a - x.numpy()).max(axis=(1, 2)) > 0.05
    assert 0.4 < moved.mean() < 0.6
    mass = a.sum(axis=(1, 2)) / x.numpy().sum(axis=(1, 2))
    assert 0.5 < mass.min() and mass.max() < 1.6 and 0.9 < np.median(mass) < 1.1  # bent, not erased
    np.testing.assert_array_equal(elastic_batch(x, tf.constant([0, 1], tf.int64), 0.0).numpy(), x.numpy())
    np.testing.assert_allclose(
        elastic_batch(x, tf.constant([0, 1], tf.int64), 1.0, alpha=0.0).numpy(), x.numpy()
    )


def test_elastic_off_leaves_the_other_warps_as_they_were():
    x = tf.constant(digits())
    seed = tf.constant([5, 6], tf.int64)
    plain = augment_batch(x, seed).numpy()
    np.testing.assert_array_equal(plain, augment_batch(x, seed, AugmentOptions(elastic=0.0)).numpy())
    assert np.abs(plain - augment_batch(x, seed, AugmentOptions(elastic=1.0)).numpy()).max() > 0.1
