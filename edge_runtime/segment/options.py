"""The finder's options, its result types and the constants every step shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class FinderInputError(ValueError):
    """The image given to the finder is not a uint8 grey (H, W) array."""


@dataclass(frozen=True)
class SegmentOptions:
    max_side: int = 1024
    """Images whose longer side exceeds this (px) are shrunk for the closer look, by a whole factor
    when one lands within 10% of it, else by the exact ratio (``finder.scales``); boxes are
    mapped back."""
    background_side: int = 160
    """The background is estimated on a copy about this many px on its shorter side."""
    min_side: int = 96
    """Images whose shorter side is below this (px) are enlarged to it first."""
    work_side: int = 240
    """First (coarse) pass: the shorter side is shrunk by a whole factor to between this and
    twice this (px); cheap for camera frames."""
    min_digit_px: float = 24.0
    """If the coarse pass finds digits shorter than this (px), look again at full resolution.
    (The profile's plain frames measure 22.0 px at the coarse scale. At 22 px they take one pass,
    2.1 instead of 3.8 ms a frame, but benchmarks.readings_check read plain -1 and negatives -1
    digits, one of them the negative of the dev photo hyp_2.bmp as taken, whose digits measure
    22.0 px too (two touching 9s read as one); at 20 px, plain -2, photos -1, negatives -1.
    Not done: a threshold that lands on the benchmark's own digit size, for a real digit.)"""
    background_kernel: float = 0.2
    """Background closing kernel as a fraction of the shorter side (must exceed stroke width)."""
    crop_side: int = 200
    """Images whose shorter side is at most this (px) are treated as tight crops."""
    crop_kernel: float = 0.6
    """Background kernel (fraction of the shorter side) for tight crops."""
    min_contrast: float = 0.10
    """Ink weaker than this (fraction of the local background) is never ink."""
    strong_contrast: float = 0.25
    """Lower bound of the strong-ink (seed) threshold, whatever Otsu says."""
    min_height: float = 0.012
    """Smallest digit height as a fraction of the shorter side (and at least 6 px)."""
    relative_height: float = 0.3
    """Blobs shorter than this fraction of the median digit height are specks (unless merged)."""
    relative_contrast: float = 0.6
    """Blobs whose peak ink is below this fraction of the digits' median peak are not ink."""
    edge_contrast: float = 0.8
    """The same for blobs touching the frame or the sheet's edge."""
    max_digits: int = 256
    """At most this many digits per image: the first ones in reading order are kept, and the
    number left out is reported (``BlobList.dropped``)."""
    max_ink: float = 0.3
    """A frame bigger than a tight crop whose ink covers more than this fraction is texture or
    noise, not writing: handwriting on paper leaves most of it blank (measured: at most 11% on
    the rendered scenes and dev photos, 23% for a page of dense print; colour and Gaussian noise
    35-45%, a checkerboard 50%)."""
    max_blobs: int = 512
    """At most this many ink blobs per pass go on to merging and splitting (the largest): twice
    ``max_digits``, room for broken strokes; more is texture or noise, and it bounds the work."""

    def tight_crop(self, shape: tuple[int, ...]) -> bool:
        """Whether an image of this (h, w) shape is treated as a tight crop (``crop_side``): one
        digit or a few filling the frame, strokes a large part of it (seed_9.jpg)."""
        return min(shape[:2]) <= self.crop_side


DEFAULT = SegmentOptions()

MIN_DIGIT_PX = 6
"""No digit is read below this height in working pixels (smaller is a speck or a dot)."""
MIN_BLOB_AREA = 12
"""Blobs of fewer ink pixels (in working pixels) are specks, whatever their extent."""
TINY_SIDE = 48
"""Images whose shorter side is below this (px; a 28x28 MNIST digit) have one background
level, read from their border, instead of a background map."""


@dataclass
class Blob:
    """One digit candidate: its box (x, y, w, h) in the input image's pixels and its ink crop."""

    box: tuple[int, int, int, int]
    ink: np.ndarray = field(repr=False)
    """(h, w) float32 ink intensity in [0, 1], white on black, other blobs masked out."""


class BlobList(list):
    """A list of Blobs in reading order that also says how many more were found but left out
    (beyond ``SegmentOptions.max_digits``): nothing is dropped silently."""

    def __init__(self, blobs=(), dropped: int = 0, dark: bool | None = None, closer: bool = False):
        super().__init__(blobs)
        self.dropped = int(dropped)
        self.dark = dark
        """The ink polarity these blobs were found with (True: dark ink; None: not searched)."""
        self.closer = closer
        """Whether they were read at full resolution, too small at the coarse scale: by the closer
        look, or from the coarse pass's segmentation (``refine``). A camera's next frames then go
        to the closer look at once (``find_digit_candidates``): without the coarse pass, that
        costs less than the coarse pass and the refinement."""


def odd(n: float) -> int:
    """The odd integer kernel side nearest ``n`` (at least 3)."""
    n = max(3, int(round(n)))
    return n | 1
