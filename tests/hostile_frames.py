"""Adversarial 640x480 frames for the digit finder: what costs the most work per pixel.

Shared by tests/test_bounded_finder.py and benchmarks (a plain helper, no pytest)."""

from __future__ import annotations

import cv2
import numpy as np

H, W = 480, 640


def colour_noise(seed: int = 0) -> np.ndarray:
    """Uniform random BGR pixels: every pixel its own 'stroke'."""
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def gaussian_noise(seed: int = 0, sigma: float = 60.0) -> np.ndarray:
    """Mid-grey paper under very strong sensor noise."""
    g = np.random.default_rng(seed).normal(128, sigma, (H, W))
    return np.clip(g, 0, 255).astype(np.uint8)


def checkerboard(cell: int = 8) -> np.ndarray:
    """Black and white squares of ``cell`` px: a regular field of equal blobs."""
    yy, xx = np.mgrid[0:H, 0:W]
    return np.where(((yy // cell) + (xx // cell)) % 2 == 0, 30, 230).astype(np.uint8)


def specks(count: int = 1000, seed: int = 0) -> np.ndarray:
    """White paper with ``count`` small dark dots (2-4 px): a thousand components."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W), 225, np.uint8)
    for x, y, r in zip(rng.integers(0, W, count), rng.integers(0, H, count), rng.integers(1, 3, count)):
        cv2.circle(img, (int(x), int(y)), int(r), 30, -1)
    return img


def dense_text(seed: int = 0) -> np.ndarray:
    """A page filled with small printed digits in rows (about 600 of them)."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W), 230, np.uint8)
    for y in range(16, H, 16):
        line = "".join(str(v) for v in rng.integers(0, 10, 60))
        cv2.putText(img, line, (4, y), cv2.FONT_HERSHEY_PLAIN, 0.8, 20, 1, cv2.LINE_AA)
    return img


HOSTILE = {
    "colour_noise": colour_noise,
    "gaussian_noise": gaussian_noise,
    "checkerboard": checkerboard,
    "specks": specks,
    "dense_text": dense_text,
}
