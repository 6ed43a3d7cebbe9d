"""Ink -> components: hysteresis thresholds, grid lines removed, connected components as
typed records.

Weak ink (above the paper's own noise) is kept where it connects to strong ink (above an Otsu
threshold of the ink values); long thin straight weak lines (grid paper, page edges) go first."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_runtime.segment.options import DEFAULT, SegmentOptions
from edge_runtime.segment.stats import median

SUBSAMPLE = 4
"""Threshold statistics come from every 4th pixel each way: the map is smooth, 16x cheaper."""
WEAK_OF_STRONG = 0.4
"""Weak ink: at least 0.4x the strong threshold ..."""
NOISE_MADS = 4.5
"""... and above the paper's noise ceiling: median + 4.5 MADs (~3 sigma) of the mostly-paper map ..."""
NOISE_CAP = 0.5
"""... that ceiling never asked above half the strong threshold (a busy page's median is ink)."""
GRID_RUN = 3
"""A grid line is a weak run longer than 1/3 of the frame (and at least 15 px)."""
GRID_THICK = 0.012
"""Strokes at least 1.2% of the shorter side thick (5 px or more) are not grid lines."""
GRID_KEEP = 0.5
"""On a grid line, ink halfway from the strong threshold to full is a stroke crossing it: kept."""
LABELLING = {cv2.CV_16U: cv2.CCL_SPAGHETTI, cv2.CV_32S: cv2.CCL_GRANA}
"""OpenCV's labelling algorithm for each label type. Both label 2x2 blocks and give the same
labels and stats (all 112 ink boxes of the profile's frames) as the whole frame's. Bolelli's
Spaghetti (OpenCV 5's default) is the faster with 16-bit labels (19-32 us less a box on average
than Grana's; plain frames 59 against 86 us) but 2.5x slower with int32 ones (a 442x640 photo's
whole-frame box: 1.9 against 0.7 ms; the default once took 0.55 ms on a 240x320 frame, a fifth
of find_digits), where Grana's (BBDT) labels."""


@dataclass
class Component:
    """One blob: a box in working pixels and the label ids (in the label image) it is made of."""

    x: int
    y: int
    w: int
    h: int
    ids: list[int] = field(default_factory=list)
    touches: bool = False
    """Whether it touches the frame or the sheet's edge."""

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h


def otsu(values: np.ndarray) -> float:
    """Otsu threshold of float values in [0, 1]."""
    u8 = np.clip(values * 255.0, 0, 255).astype(np.uint8).reshape(1, -1)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return float(t) / 255.0


def thresholds(
    ink: np.ndarray, options: SegmentOptions, sub: np.ndarray | None = None
) -> tuple[float, float] | None:
    """(weak, strong) ink thresholds of an ink map; None when nothing is above ``min_contrast``.
    ``sub``: the map's every ``SUBSAMPLE``-th pixel each way, when it is computed apart (the
    closer look's region: ``ink.contrast_and_sample``)."""
    sub = ink[::SUBSAMPLE, ::SUBSAMPLE] if sub is None else sub
    cand = sub[sub > options.min_contrast]
    if cand.size == 0:
        return None
    strong = max(options.strong_contrast, otsu(cand))
    floor = max(options.min_contrast, WEAK_OF_STRONG * strong)
    # Weak ink must stand above the paper's own texture (speckled recycled paper, webcam noise).
    # Usually that ceiling is below the floor anyway (98 of 99 passes over the profile's frames),
    # and a count or a histogram shows it without the two medians (~0.4 ms at 640x480).
    if noise_below_by_count(sub, floor) or noise_at_most(sub, floor):
        return floor, strong
    # (``stats.median``, numpy's bit for bit: ``np.median``'s first call imports numpy.ma, ~19 ms.)
    med = float(median(sub.ravel()))
    noise = med + NOISE_MADS * float(median(np.abs(sub - med).ravel()))
    return max(floor, min(noise, NOISE_CAP * strong)), strong


def noise_below_by_count(values: np.ndarray, level: float) -> bool:
    """Whether the noise ceiling median + NOISE_MADS x MAD of ink values is certainly at most
    ``level``, from one count (~0.02 ms; ``noise_at_most``'s histogram took ~0.25 ms at 640x480):
    when more than half the values lie in [0, m], the median does too, and so do more than half
    the distances |v - median|, so the MAD is at most m and the ceiling at most (1 + NOISE_MADS) m.
    Plain paper passes it (most of its ink map is 0); False means "not shown"."""
    # m a millionth under the bound: the comparison below runs in float32, which may round m up.
    m = level / (1.0 + NOISE_MADS) * (1.0 - 1e-6)
    return int(np.count_nonzero((values >= 0) & (values <= m))) > values.size // 2


NOISE_BINS = 1024
"""``noise_at_most`` reads the ink values' median and MAD off a histogram of this many bins."""


def noise_at_most(values: np.ndarray, level: float) -> bool:
    """Whether the noise ceiling median + NOISE_MADS x MAD of ink values in [0, 1] is certainly
    at most ``level``, from a histogram (one C pass) instead of two medians. Bounds only: the
    median lies in its bin, and the MAD is at most the smallest radius t around that bin that
    certainly holds more than half the values; each bound widened by a bin against rounding at
    bin edges. False means "not shown" (the caller then computes the medians)."""
    v = np.ascontiguousarray(values, np.float32).reshape(1, -1)
    n = v.size
    counts = cv2.calcHist([v], [0], None, [NOISE_BINS], [0.0, 1.0 + 1e-6]).ravel()
    if int(counts.sum()) != n:  # values outside [0, 1]: no bounds from this histogram
        return False
    below = np.concatenate([[0.0], np.cumsum(counts)])  # below[i]: values in bins < i
    # The bins of the middle value(s) (for even n, the median is the mean of two neighbours).
    lo_bin = int(np.searchsorted(below[1:], (n - 1) // 2, side="right")) - 1  # one bin wider
    hi_bin = int(np.searchsorted(below[1:], n // 2, side="right")) + 2  # its upper edge, +1 bin
    width = 1.0 / NOISE_BINS
    # Values certainly within t = k bins of the median: whole bins in [hi_bin - k, lo_bin + k].
    k = np.arange(NOISE_BINS + 1)
    inside = below[np.clip(lo_bin + k, 0, NOISE_BINS)] - below[np.clip(hi_bin - k, 0, NOISE_BINS)]
    enough = np.flatnonzero(inside >= n // 2 + 1)
    if enough.size == 0:
        return False
    return hi_bin * width + NOISE_MADS * enough[0] * width <= level


def remove_grid(weak_u8: np.ndarray, ink: np.ndarray, strong: float, whole: bool = False) -> None:
    """Clear long thin straight lines (grid paper, page edges) from the weak mask, in place,
    unless they are also strong ink (a stroke crossing the line).

    A horizontal line of ``k`` px can only lie in a row holding at least ``k`` weak pixels, and
    opening by a one-row kernel treats every row on its own: so only those rows are opened (the
    same for columns). Opening whole frames with a line a third of their width long cost 2-5 ms
    at 640x480 on grid paper, where a handful of rows and columns qualify. The rest (is a line
    part of a thick stroke? which pixels go?) is local too, so it runs on bands of rows around the
    horizontal lines and of columns around the vertical ones (``line_bands``): the same pixels as
    on the whole frame (``whole``, for the tests; the same as the previous code on all 1418 masks of the
    readings-check and profile frames), in 0.25 instead of 0.5 ms for a portrait photo's margin
    lines at 442x640."""
    h, w = ink.shape
    per_row = cv2.reduce(weak_u8, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    per_col = cv2.reduce(weak_u8, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    run_w, run_h = max(15, w // GRID_RUN), max(15, h // GRID_RUN)
    rows, cols = np.flatnonzero(per_row >= run_w), np.flatnonzero(per_col >= run_h)
    if rows.size == 0 and cols.size == 0:
        return
    # Only thin lines: a thick stroke (marker, a big digit's straight bar) is not grid.
    t = max(5, int(GRID_THICK * min(h, w))) | 1
    keep = strong + GRID_KEEP * (1 - strong)
    cuts = []  # (rows, cols, mask or None): what goes, all from the mask as it was
    if rows.size:
        lines = cv2.morphologyEx(weak_u8[rows], cv2.MORPH_OPEN, np.ones((1, run_w), np.uint8))
        for lo, hi, cut in _band_cuts(
            lines, rows, h, t, keep, whole, lambda lo, hi: (weak_u8[lo:hi], ink[lo:hi])
        ):
            cuts.append((slice(lo, hi), slice(None), cut))
    if cols.size:  # as rows of the transpose: OpenCV's one-row openings run 20x faster here
        across = np.ascontiguousarray(weak_u8[:, cols].T)
        lines = cv2.morphologyEx(across, cv2.MORPH_OPEN, np.ones((1, run_h), np.uint8))

        def transposed(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
            # A band of columns as rows (square kernels: the same pixels; 5x faster than on a
            # band a few dozen px wide and the frame's height).
            return tuple(np.ascontiguousarray(a[:, lo:hi].T) for a in (weak_u8, ink))

        for lo, hi, cut in _band_cuts(lines, cols, w, t, keep, whole, transposed):
            cuts.append((slice(None), slice(lo, hi), None if cut is None else cut.T))
    for rs, cs, cut in cuts:
        if cut is not None:
            weak_u8[rs, cs][cut] = 0


def _band_cuts(lines, at, size: int, t: int, keep: float, whole: bool, band_of):
    """[(lo, hi, what goes in that band or None)] for the line rows ``lines`` found at the
    indices ``at`` of the ``size`` rows of a frame; ``band_of(lo, hi)``: its (weak mask, ink)
    rows lo to hi (``remove_grid`` passes the columns' bands transposed)."""
    out = []
    for lo, hi in line_bands(at[lines.any(axis=1)], t, size, whole):
        weak, ink = band_of(lo, hi)
        band = np.zeros_like(weak)
        inside = (at >= lo) & (at < hi)
        band[at[inside] - lo] = lines[inside]
        out.append((lo, hi, _line_cut(band, weak, ink, t, keep)))
    return out


def line_bands(at: np.ndarray, t: int, size: int, whole: bool = False) -> list[tuple[int, int]]:
    """[lo, hi) bands of rows (or columns) of ``size`` holding the lines at the sorted indices
    ``at``, ``t`` + 1 more each way: all that decides whether a line pixel is in a stroke
    ``t`` px thick (an opening by ``t``, then a 3 px dilation) and which pixels beside it go.
    Overlapping bands are joined; ``whole``: one band, everything (while there are lines)."""
    if at.size == 0:
        return []
    if whole:
        return [(0, size)]
    reach = t + 1
    bands = []
    for i in at.tolist():
        lo, hi = max(0, i - reach), min(size, i + reach + 1)
        if bands and lo <= bands[-1][1]:
            bands[-1] = (bands[-1][0], hi)
        else:
            bands.append((lo, hi))
    return bands


def _line_cut(
    lines: np.ndarray, weak_u8: np.ndarray, ink: np.ndarray, t: int, keep: float
) -> np.ndarray | None:
    """The weak pixels of one band of rows to clear (``remove_grid``), or None: its line pixels
    that are not part of a stroke ``t`` px thick, and their neighbours, unless strong ink."""
    thick = cv2.dilate(
        cv2.morphologyEx(weak_u8, cv2.MORPH_OPEN, np.ones((t, t), np.uint8)), np.ones((3, 3), np.uint8)
    )
    lines &= 1 - thick
    if not lines.any():
        return None
    return (cv2.dilate(lines, np.ones((3, 3), np.uint8)) > 0) & (ink < keep)


@dataclass
class Labelled:
    """The ink's connected components: OpenCV's label image and stats, and per label its peak
    ink and whether it is ink (hysteresis)."""

    labels: np.ndarray
    """(H, W) label image (uint16 when a box of its size cannot hold more labels, else int32);
    0 is background."""
    stats: np.ndarray
    """(n, 5) int32 x, y, w, h, area per label."""
    keep: np.ndarray
    """(n,) bool: the label holds strong ink."""
    peak: np.ndarray
    """(n,) float32 highest ink value per kept label (0 for the others)."""


def label_ink(
    ink: np.ndarray, options: SegmentOptions = DEFAULT, sample: np.ndarray | None = None
) -> Labelled:
    """Ink map -> the connected components of weak ink that contain strong ink (hysteresis),
    with long thin grid lines removed. ``sample``: see ``thresholds``."""
    t = thresholds(ink, options, sample)
    if t is None:
        return Labelled(
            np.zeros(ink.shape, np.int32),
            np.zeros((1, 5), np.int32),
            np.zeros(1, bool),
            np.zeros(1, np.float32),
        )
    weak, strong = t
    weak_u8 = np.greater(ink, weak).view(np.uint8)  # (a bool array's bytes are 0 and 1: no copy)
    remove_grid(weak_u8, ink, strong)
    h, w = ink.shape
    # Only the box holding all the weak ink is labelled (on plain paper a third of the frame).
    # Its corner is moved to even coordinates: Grana's algorithm labels 2x2 blocks, so the blocks,
    # and with them the labels, are those of the whole frame.
    x0, y0, bw, bh = cv2.boundingRect(weak_u8)
    if bw == 0:
        stats = np.array([[0, 0, w, h, w * h]], np.int32)
        return Labelled(np.zeros((h, w), np.int32), stats, np.zeros(1, bool), np.zeros(1, np.float32))
    x1, y1, x0, y0 = x0 + bw, y0 + bh, x0 & ~1, y0 & ~1
    # 16-bit labels when they cannot overflow: the pixels of one 2x2 block touch each other, so
    # a box holds at most one 8-connected component per block (and the background). The same
    # labels and stats, ~0.2 ms less on a 640x480 frame's ink box (half the label memory to write).
    # Block-based labelling (``LABELLING``), whose labels are those of the whole frame.
    blocks = ((x1 - x0 + 1) // 2) * ((y1 - y0 + 1) // 2)
    ltype = cv2.CV_16U if blocks < np.iinfo(np.uint16).max else cv2.CV_32S
    n, box_labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        weak_u8[y0:y1, x0:x1], 8, ltype, LABELLING[ltype]
    )
    stats[1:, cv2.CC_STAT_LEFT] += x0
    stats[1:, cv2.CC_STAT_TOP] += y0
    stats[0] = (0, 0, w, h, w * h - int(stats[1:, cv2.CC_STAT_AREA].sum()))  # the background
    # The frame's labels keep the box's type: widening 16-bit labels to int32 cost ~0.2 ms on a
    # dense 442x640 photo, and every reader of them only indexes and compares.
    if (y0, x0, y1, x1) == (0, 0, h, w):
        labels = box_labels
    else:
        labels = np.zeros((h, w), box_labels.dtype)
        labels[y0:y1, x0:x1] = box_labels
    peak = peaks(ink[y0:y1, x0:x1], box_labels, n, strong)
    keep = peak > strong  # a component is ink when its strongest pixel is strong ink
    keep[0] = False
    return Labelled(labels, stats, keep, peak)


def ink_components(ink: np.ndarray, options: SegmentOptions = DEFAULT):
    """Ink map -> (labels (H, W) int32, stats (n, 5), keep (n,) bool): see ``label_ink``."""
    found = label_ink(ink, options)
    return found.labels, found.stats, found.keep


def ink_mask(ink: np.ndarray, options: SegmentOptions = DEFAULT) -> np.ndarray:
    """Ink map -> uint8 (H, W) mask, 255 = ink (for inspection; find_digits uses the components)."""
    labels, _, keep = ink_components(ink, options)
    return (keep[labels] * 255).astype(np.uint8)


def peaks(ink: np.ndarray, labels: np.ndarray, n: int, strong: float = 0.0) -> np.ndarray:
    """(n,) highest ink value of every component label 0..n-1 that holds ink above ``strong``
    (0 for the others): one pass over the strong pixels only, a fraction of all the ink."""
    on = ink > strong
    peak = np.zeros(n, np.float32)
    np.maximum.at(peak, labels[on], ink[on])
    return peak
