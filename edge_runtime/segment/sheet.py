"""The sheet: a bright, smooth sheet of paper on a much darker or textured surround (desk,
clothing). Outside it nothing is ink, and its edge counts as the frame's edge."""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_runtime.segment.morph import morphology
from edge_runtime.segment.options import odd

SHEET_FRACTION = (0.05, 0.95)
"""A sheet covers between 5% and 95% of the frame (else paper fills it, or there is none)."""
SURROUND_DARKNESS = 0.5
"""The surround's background is at most half as bright as the sheet's."""
TEXTURE_WINDOW = 0.06
"""Texture and dullness are read over windows of 6% of the shorter side (sparse ink averages out)."""
TEXTURE_MIN = 0.05
"""A desk: local relative standard deviation of at least 5% ..."""
DULL = 0.8
"""... and duller than 80% of the paper's level."""
SHEET_WIDTH = 0.15
"""A sheet is wider than 15% of the shorter side: narrower arms and bridges are cut."""
SECOND_SHEET = 0.5
"""Bright regions at least half the largest one's area count as sheet too."""
EDGE_MARGIN = 7
"""Small-copy px: the mask is eroded by this ellipse to drop the paper's own edge."""


def sheet_mask(bg: np.ndarray, small: np.ndarray) -> np.ndarray | None:
    """A sheet of paper on a much darker surround (desk, clothing): uint8 mask of the sheet
    in ``bg``'s pixels (255 = paper, 0 = not: a mask for OpenCV's bitwise operations), shrunk a
    little to drop the paper's edge; None when the background ``bg`` has no such dark surround
    (paper fills the frame, or only vignetting).

    Whether there is a sheet is read from the background (no ink in it); its outline also
    needs the image ``small`` itself to be smooth there, because the background's closing
    turns the highlights of a textured desk into bright "paper"."""
    _, bright = cv2.threshold(bg, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # Counts and masked means in OpenCV: the same exact integer sums and divisions as numpy's
    # mean of the mask and of ``bg[bright == 0]``, ``bg[bright == 1]`` (~0.2 ms less a call).
    frac = cv2.countNonZero(bright) / bright.size
    if not SHEET_FRACTION[0] < frac < SHEET_FRACTION[1]:
        return None
    lo, hi = cv2.mean(bg, mask=cv2.bitwise_not(bright))[0], cv2.mean(bg, mask=bright)[0]
    if lo > SURROUND_DARKNESS * hi:
        return None
    bright[_desk(small, hi) > 0] = 0
    # Cut arms and bridges to leftover desk: a sheet is much wider than 15% of the frame.
    wide = cv2.getStructuringElement(cv2.MORPH_RECT, (odd(SHEET_WIDTH * min(small.shape)),) * 2)
    bright = morphology(bright, cv2.MORPH_OPEN, wide)
    # The sheet is the largest bright region (others of half its size count too); smaller
    # bright patches are highlights on the desk. Only the regions' areas are needed: a count of
    # the labels, not OpenCV's stats (boxes and centroids as well, ~4x the labelling's cost).
    ltype = cv2.CV_16U if bright.size < np.iinfo(np.uint16).max else cv2.CV_32S
    n, labels = cv2.connectedComponentsWithAlgorithm(bright, 4, ltype, cv2.CCL_DEFAULT)
    if n > 2:
        areas = np.bincount(labels.ravel(), minlength=n)[1:]
        keep = np.concatenate([[0], areas >= SECOND_SHEET * areas.max()]).astype(np.uint8) * np.uint8(255)
        # Up to 256 labels, a uint8 copy and OpenCV's table lookup (~40 us less than numpy's
        # fancy indexing at 213x160); more, numpy's.
        if n <= 256:
            table = np.zeros(256, np.uint8)
            table[:n] = keep
            bright = cv2.LUT(labels.astype(np.uint8), table)
        else:
            bright = keep[labels]
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (EDGE_MARGIN, EDGE_MARGIN))
    return cv2.erode(bright, k)


def _desk(small: np.ndarray, paper: float) -> np.ndarray:
    """uint8 mask of desk in ``small``: textured and duller than the ``paper`` level, and wide
    (an opening drops thin edges). Writing on the sheet is textured too, but stays bright."""
    # Paper is smooth, a desk is textured: the local relative standard deviation (5x5), with a
    # median over ~6% of the frame so that sparse ink strokes do not count as texture.
    # (In OpenCV: the same float32 operations as numpy's, each correctly rounded, ~15 us less.)
    f = small.astype(np.float32)
    mean = cv2.blur(f, (5, 5))
    var = cv2.subtract(cv2.blur(cv2.multiply(f, f), (5, 5)), cv2.multiply(mean, mean))
    rel_sd = cv2.divide(cv2.sqrt(cv2.max(var, 0.0)), cv2.max(mean, 1.0))
    window = odd(TEXTURE_WINDOW * min(small.shape))
    # In per mille, the threshold a whole number: what a uint8 map of it (truncated, clipped at
    # 255) would give, without making one.
    texture = majority(rel_sd * 1000.0 >= math.ceil(TEXTURE_MIN * 1000.0), window)
    dull = ~median_at_least(small, DULL * paper, window)
    desk = (texture & dull).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    return morphology(desk, cv2.MORPH_OPEN, k)


def median_at_least(image: np.ndarray, level: float, window: int) -> np.ndarray:
    """Whether the median of each ``window`` x ``window`` neighbourhood of a uint8 image (edges
    replicated) is at least ``level``: exactly when more than half of it is, so a count (one box
    filter) answers it. The same as thresholding ``cv2.medianBlur``, whose histogram path for
    windows above 5 took ~0.8 ms on a 160x120 copy, twice a frame; this takes ~0.05 ms."""
    return majority(image >= level, window)


def majority(high: np.ndarray, window: int) -> np.ndarray:
    """Whether more than half of each ``window`` x ``window`` neighbourhood of a bool mask
    (edges replicated) is set: one box filter counting them."""
    count = cv2.boxFilter(
        high.view(np.uint8),  # (a bool array's bytes are 0 and 1)
        cv2.CV_16U,
        (window, window),
        normalize=False,
        borderType=cv2.BORDER_REPLICATE,
    )
    return count > (window * window) // 2
