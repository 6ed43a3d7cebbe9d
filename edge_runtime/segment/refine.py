"""Small digits that stand apart: read at full resolution without a second search.

The coarse pass segments a frame on a copy half or a third its size. Digits shorter there than
``SegmentOptions.min_digit_px`` are too small to read well from that copy, so the closer look
searches again at full resolution: a background, ink map, labelling, merging, splitting and
ordering of its own over the region the digits occupy (on a 640x480 frame of 10 digits, three
fifths of the finder's time). When the coarse pass's digits stand clearly apart (``apart``),
its segmentation is kept and only each digit's ink is taken at full resolution (``refine``):
the closer look's own ink map and thresholds, in a window around the digits, each digit being
the fine weak ink that lies on its coarse ink. Touching or crowded digits, pieces cut off a
split blob, digits at an edge and strong ink the coarse pass did not see keep the closer look:
there the coarse pass may have joined two digits, cut one or missed a stroke.

Measured on the 1134 frames of benchmarks.readings_check and the finder profile: 221 take this
path (most plain frames, two fifths of the rendered 640x480 scenes, a twentieth of the photos
and their negatives at some size); 206 of them get the closer look's crops pixel for pixel, 15
differ by a few weak pixels at a stroke's edge (a speck beside a digit that the closer look
drops as too small is kept here); the readings check read none of its 1028 frames differently.
Finding a plain frame costs 13-17% less (an interleaved A/B in one process, 2.3 -> 2.0 ms), the
dev photo hyp_1.bmp at 640x480 (14 digits) 7-10% less."""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_runtime.segment.components import Component
from edge_runtime.segment.ink import Contrast, ink_of
from edge_runtime.segment.options import Blob, BlobList

REFINE_FROM = 10.0
"""Coarse digits at least this tall (coarse px) may be refined instead of looked at again (the
closer look's threshold, ``min_digit_px``, is 24: a 44 px digit of a 640x480 frame is 22). From
16, 10, 8 or 6 px the readings check read the same; from 10 px on, 28 more of its frames (and
hyp_1.bmp at 640x480) take this path than from 16, and none of its frames has digits of 6-10 px
that stand apart: smaller ones are left to the closer look, untested here."""
APART = 2
"""... when every two of them are at least this many coarse px apart, one way or the other ..."""
NEAR = 0.25
"""... and no other ink lies within this many digit heights of one (the reach of a merge of
broken strokes, ``blobs.MERGE_GAP``): the coarse pass may have set aside a stroke as a speck."""
GROW = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
"""A coarse digit's ink is grown by a coarse pixel before the fine ink on it is taken (the two
scales' pixels do not line up, and a stroke's faint edge is wider at full resolution)."""
MAX_REFINED = 254
"""Digits are told apart by a uint8 index (0: none)."""


def apart(comps: list[Component], labels: np.ndarray, keep: np.ndarray, median_h: float) -> bool:
    """Whether the coarse digits ``comps`` stand clearly apart: none touches the frame or the
    sheet's edge, no two share a label (the pieces of a split blob), every two boxes are at
    least ``APART`` px apart horizontally or vertically, and no other ink (a component of
    ``labels`` that ``keep`` marks as ink) lies within ``NEAR`` digit heights of a digit."""
    if not comps or len(comps) > MAX_REFINED or any(c.touches for c in comps):
        return False
    ids = [i for c in comps for i in c.ids]
    if len(ids) != len(set(ids)):
        return False
    b = np.array([(c.x, c.y, c.right, c.bottom) for c in comps], np.int64)
    gap_x = np.maximum(b[:, None, 0], b[None, :, 0]) - np.minimum(b[:, None, 2], b[None, :, 2])
    gap_y = np.maximum(b[:, None, 1], b[None, :, 1]) - np.minimum(b[:, None, 3], b[None, :, 3])
    close = np.maximum(gap_x, gap_y) < APART
    np.fill_diagonal(close, False)
    if close.any():
        return False
    other = keep.copy()
    other[ids] = False
    if not other.any():
        return True
    pad = int(math.ceil(NEAR * median_h))
    return not any(
        other[labels[max(0, c.y - pad) : c.bottom + pad, max(0, c.x - pad) : c.right + pad]].any()
        for c in comps
    )


def refine(
    fine: np.ndarray,
    contrast: Contrast,
    labels: np.ndarray,
    comps: list[Component],
    zoom: float,
    levels: tuple[float, float],
    scale: float,
    near: int,
) -> BlobList | None:
    """The coarse digits ``comps`` (in any order, the blobs in the same; their boxes and
    ``labels`` in coarse px) read from ``fine``, the dark-ink image ``zoom`` times larger whose
    Contrast this is, with the (weak, strong) ink ``levels`` of the whole fine image; ``scale``:
    the fine image's scale to the input's. Each digit is the fine weak ink on its coarse ink
    (grown by ``GROW``). None when strong fine ink within ``near`` fine px of the digits lies on
    none of them (a stroke too faint to be seen at the coarse scale) or a digit has no fine ink:
    the closer look decides then."""
    H, W = fine.shape
    h, w = labels.shape
    weak, strong = levels
    digit_of = np.zeros(int(labels.max()) + 1, np.uint8)  # coarse label -> digit index + 1
    for k, c in enumerate(comps):
        digit_of[c.ids] = k + 1
    # One window around all the digits, in coarse px and in fine px.
    pad = int(math.ceil(near / zoom)) + 1
    cx0, cy0 = max(0, min(c.x for c in comps) - pad), max(0, min(c.y for c in comps) - pad)
    cx1, cy1 = min(w, max(c.right for c in comps) + pad), min(h, max(c.bottom for c in comps) + pad)
    x0, y0 = int(round(cx0 * zoom)), int(round(cy0 * zoom))
    x1, y1 = min(W, int(round(cx1 * zoom))), min(H, int(round(cy1 * zoom)))
    which = cv2.dilate(digit_of[labels[cy0:cy1, cx0:cx1]], GROW)
    which = cv2.resize(which, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    ink = ink_of(fine, contrast, slice(y0, y1), slice(x0, x1))
    if cv2.countNonZero(((ink > strong) & (which == 0)).view(np.uint8)):
        return None
    on = np.greater(ink, weak)
    out = []
    for k, c in enumerate(comps):
        # The digit's own part of the window: its coarse box grown by GROW's pixel.
        wx0, wy0 = max(0, int((c.x - 1 - cx0) * zoom)), max(0, int((c.y - 1 - cy0) * zoom))
        wx1 = min(x1 - x0, math.ceil((c.right + 1 - cx0) * zoom))
        wy1 = min(y1 - y0, math.ceil((c.bottom + 1 - cy0) * zoom))
        mine = on[wy0:wy1, wx0:wx1] & (which[wy0:wy1, wx0:wx1] == k + 1)
        bx, by, bw, bh = cv2.boundingRect(mine.view(np.uint8))
        if bw == 0:
            return None
        part = ink[wy0 + by : wy0 + by + bh, wx0 + bx : wx0 + bx + bw]
        crop = np.multiply(part, mine[by : by + bh, bx : bx + bw], dtype=np.float32)
        fx, fy = x0 + wx0 + bx, y0 + wy0 + by
        out.append(
            Blob(
                box=(int(fx / scale), int(fy / scale), int(round(bw / scale)), int(round(bh / scale))),
                ink=crop,
            )
        )
    return BlobList(out)
