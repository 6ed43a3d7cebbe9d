"""Find handwritten digits in a photo: grey image -> digit crops in reading order.

Steps (coarse to fine: first on a copy ~240 px on its shorter side, which is enough for a
camera frame's digits; again at up to ``max_side`` px when the digits found are small):
1. background: a morphological closing (dark ink) or opening (light ink) of a ~160 px
   copy removes the strokes and keeps paper, shadows and vignetting; dividing it out
   gives an "ink" map in [0, 1] that does not care about lighting.
2. polarity (``polarity``): two cheap votes on the small copy, the thinner of the dark
   and light responses and a sheet (bright region) or board (dark region) surviving a wide
   opening / closing; when they disagree or abstain, ``find_digit_candidates`` returns
   the blobs of both polarities and DigitReader keeps the ones the classifier reads as
   clearly more digit-like. Light ink then takes the dark-ink path on a remapped image
   (``_light_to_dark_lut``), sheet detection included (a blackboard is a dark "sheet").
3. sheet: a bright, smooth sheet on a much darker or textured surround (desk, clothing)
   masks out the rest, and its edge counts as the frame's edge.
4. hysteresis threshold: weak ink (above the paper's own noise) is kept where it connects
   to strong ink (above an Otsu threshold); long thin straight lines (grid) are removed.
5. connected components, then: blobs far fainter than the digits, frame or sheet edges,
   and specks are dropped (sizes relative to the median digit height); broken strokes of
   one digit (a 5's bar, an open 4) are merged by horizontal overlap, and small slivers
   right beside a digit attached to it; wide blobs of touching digits are split at the
   weakest column.
6. rows: boxes are chained to their nearest right neighbour at a similar height, so a
   sloping row stays one row; rows read top to bottom, each left to right.

    python -m edge_runtime.segment photo.jpg   # writes /tmp/segment.png with the boxes
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import cv2
import numpy as np


class FinderInputError(ValueError):
    """The image given to the finder is not a uint8 grey (H, W) array."""


@dataclass(frozen=True)
class SegmentOptions:
    max_side: int = 1024
    """Images whose longer side exceeds this (px) are downscaled first; boxes are mapped back."""
    background_side: int = 160
    """The background is estimated on a copy about this many px on its shorter side."""
    min_side: int = 96
    """Images whose shorter side is below this (px) are enlarged to it first."""
    work_side: int = 240
    """First (coarse) pass: the shorter side is downscaled to this (px); cheap for camera frames."""
    min_digit_px: float = 24.0
    """If the coarse pass finds digits shorter than this (px), look again at full resolution."""
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


DEFAULT = SegmentOptions()

MIN_DIGIT_PX = 6
"""No digit is read below this height in working pixels (smaller is a speck or a dot)."""
MIN_BLOB_AREA = 12
"""Blobs of fewer ink pixels (in working pixels) are specks, whatever their extent."""


@dataclass
class Blob:
    """One digit candidate: its box (x, y, w, h) in the input image's pixels and its ink crop."""

    box: tuple[int, int, int, int]
    ink: np.ndarray = field(repr=False)
    """(h, w) float32 ink intensity in [0, 1], white on black, other blobs masked out."""


class BlobList(list):
    """A list of Blobs in reading order that also says how many more were found but left out
    (beyond ``SegmentOptions.max_digits``): nothing is dropped silently."""

    def __init__(self, blobs=(), dropped: int = 0):
        super().__init__(blobs)
        self.dropped = int(dropped)


@dataclass
class PassResult:
    """One pass of the finder at one scale and polarity."""

    blobs: list[Blob]
    digit_h: float
    """Median digit height (working pixels); 0 when nothing was found."""
    texture: bool = False
    """The frame is texture or noise (``SegmentOptions.max_ink``): no digits, no closer look."""


def _odd(n: float) -> int:
    n = max(3, int(round(n)))
    return n | 1


def dark_ink(small: np.ndarray) -> bool:
    """Polarity of a (downscaled) grey image: True for dark ink on light paper.

    Paper is a large bright region that survives an opening much wider than any stroke
    (whether it fills the frame or lies on a dark desk); light strokes on a dark ground
    do not survive it."""
    _, bright = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(0.15 * min(small.shape)),) * 2)
    sheet = cv2.morphologyEx(bright, cv2.MORPH_OPEN, k)
    kept = np.count_nonzero(sheet)
    return kept >= 0.1 * sheet.size and kept >= 0.6 * np.count_nonzero(bright)


def _response_width(response: np.ndarray) -> float:
    """Mean width (px) of the strong part (above its Otsu threshold) of an ink response."""
    from edge_runtime.preprocess import stroke_width

    cand = response[response > 0.05]
    if cand.size == 0:
        return 0.0
    return stroke_width(response > max(0.15, _otsu(cand)))


def ink_map(grey: np.ndarray, options: SegmentOptions = DEFAULT) -> np.ndarray:
    """uint8 grey (H, W) -> float32 (H, W) ink in [0, 1]: how much darker (or lighter, for
    light-on-dark) than the local background each pixel is, relative to the background."""
    return _ink_and_sheet(grey, options)[0]


def _small_copy(grey: np.ndarray, options: SegmentOptions) -> np.ndarray:
    """The ~``background_side`` px copy the background and the polarity are read from."""
    h, w = grey.shape
    f = max(1, round(min(h, w) / options.background_side))  # background is smooth: a small copy will do
    return cv2.resize(grey, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)


def _background_kernel(short: int, small: np.ndarray, options: SegmentOptions) -> np.ndarray:
    # Small images are usually tight crops whose strokes are a big fraction of the frame
    # (seed_9.jpg): the kernel must still be wider than a stroke, and light is even there.
    frac = options.background_kernel if short > options.crop_side else options.crop_kernel
    # Square kernels: OpenCV runs them as two 1-D passes (cheap); ellipses cost k times more.
    return cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(frac * min(small.shape)),) * 2)


def _closing(small: np.ndarray, k: np.ndarray, op: int = cv2.MORPH_CLOSE) -> np.ndarray:
    """Background of ``small`` under dark strokes (closing; MORPH_OPEN: under light strokes).
    A 3x3 mean first, so that it reads the paper's mean level, not its brightest grain.
    Reflected padding: at the frame's edge a truncated window would leave a shadow's edge
    half-closed there (a false stroke where the shadow meets the frame)."""
    p = k.shape[0] // 2 + 1
    smooth = cv2.copyMakeBorder(cv2.blur(small, (3, 3)), p, p, p, p, cv2.BORDER_REFLECT)
    return cv2.morphologyEx(smooth, op, k)[p:-p, p:-p]


def _responses(small: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dark-ink background, dark-ink response, light-ink response) of a small copy: each
    response is the contrast to its background (closing / opening with kernel ``k``), relative
    to the paper's level (dark) or to the headroom above the ground (light), float32 in [0, 1]."""
    s = small.astype(np.float32)
    bg_dark, bg_light = _closing(small, k), _closing(small, k, cv2.MORPH_OPEN)
    dark = np.clip((bg_dark - s) / np.maximum(bg_dark.astype(np.float32), 16.0), 0, 1)
    light = np.clip((s - bg_light) / np.maximum(255.0 - bg_light.astype(np.float32), 16.0), 0, 1)
    return bg_dark, dark, light


def polarity(grey: np.ndarray, options: SegmentOptions = DEFAULT) -> bool | None:
    """True for dark ink on light paper, False for light ink on a dark ground, None when the
    cheap tests below cannot tell (see ``find_digit_candidates``)."""
    h, w = grey.shape
    if min(h, w) < 48:  # tiny image (a 28x28 MNIST digit): the border is background
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        return bool(np.median(border) > grey.mean())
    return _polarity(grey, options)[0]


def _polarity(grey: np.ndarray, options: SegmentOptions) -> tuple[bool | None, Background]:
    """polarity, and the dark-ink Background of ``grey`` (its small copy and closing, and the
    responses of both polarities) for ``_ink_and_sheet`` and ``_likely_dark`` to reuse."""
    h, w = grey.shape
    small = _small_copy(grey, options)
    bg_dark, dark, light = _responses(small, _background_kernel(min(h, w), small, options))
    background = Background(small, bg_dark, responses=(dark, light))
    # Two votes. (1) Ink is thin: with the wrong polarity the "ink" is the paper between
    # strokes (loops, gaps, grid cells), much wider; a response clearly (2x) the thinner wins.
    w_dark, w_light = _response_width(dark), _response_width(light)
    votes = []
    if w_light * 2.0 < w_dark or w_dark * 2.0 < w_light:
        votes.append(w_dark < w_light)
    # (2) Paper is a large bright region that survives a wide opening, a board a large dark
    # one that survives a wide closing; when exactly one is there, it votes. (Both are there
    # for a sheet on a dark desk and its negative, and in vignetted frames.)
    sheet, board = dark_ink(small), dark_ink(cv2.bitwise_not(small))
    if sheet != board:
        votes.append(sheet)
    # Noise can fool either (specks read as thin light strokes; a noisy page's Otsu split):
    # votes that disagree, or none, leave it open.
    if votes and all(v == votes[0] for v in votes):
        return votes[0], background
    return None, background


@dataclass
class Background:
    """What one image's background estimate costs once and every pass at any scale can reuse:
    all of it lives on the ~``background_side`` px small copy, relative to the frame."""

    small: np.ndarray
    """uint8 small copy of the (dark-ink) image."""
    closing: np.ndarray
    """uint8 background under dark strokes, same size as ``small``."""
    page: np.ndarray | None = None
    """float32 sheet mask (see ``sheet_mask``), once computed; None: not yet or no sheet."""
    page_done: bool = False
    """Whether ``page`` has been computed."""
    responses: tuple[np.ndarray, np.ndarray] | None = None
    """(dark, light) ink responses of ``small`` when polarity was read from them."""


def _light_to_dark_lut(c: float = 256.0) -> np.ndarray:
    """uint8 LUT turning light ink on a dark ground into dark ink on a light one:
    g -> c / (g + c), rescaled to 0..255 (255 for g = 0, 0 for g = 255).

    Light falls on chalk and board alike (a shadow multiplies both), so chalk in a shadow
    must keep its contrast: with a small ``c`` the map is ~1 / g and the dark path's
    (paper - ink) / paper is a ratio of the two, whatever the light; a plain negative
    (255 - g, the limit of a large ``c``) makes chalk in a shadow much fainter. A photo's
    negative, on the other hand, reads best with the plain negative (it is then the photo).
    c = 256 keeps both: measured on inverted dev photos and on inverted rendered scenes
    with shadows, each within ~1 pp of the better extreme."""
    r = c / (np.arange(256.0) + c)
    return np.round(255.0 * (r - r[-1]) / (r[0] - r[-1])).astype(np.uint8)


_LIGHT_TO_DARK = _light_to_dark_lut()


def _ink_and_sheet(
    grey: np.ndarray, options: SegmentOptions, dark: bool | None = None, background: Background | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """ink_map, and the uint8 (H, W) mask of the sheet of paper when one lies on a darker
    surround. ``dark``: the ink's polarity (None: decide here). Light ink on a dark ground is
    the same problem as dark ink on paper once the image is inverted (a blackboard is a dark
    "sheet"; a photo's negative reads like the photo), so there is one path, for dark ink.
    ``background``: the Background of ``grey`` (of its dark-ink version) when already computed at
    any scale; filled in here when empty (``page``)."""
    if dark is None:
        dark = polarity(grey, options)
        if dark is None:
            dark = _likely_dark(grey, options)
    if not dark:
        grey = cv2.LUT(grey, _LIGHT_TO_DARK)
    h, w = grey.shape
    short = min(h, w)
    if short < 48:  # a tiny (e.g. 28x28) image: one global background level, read from the border
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]]).astype(np.float32)
        bg = float(np.median(border))
        return np.clip((bg - grey.astype(np.float32)) / max(bg, 1.0), 0, 1), None
    if background is None:
        small = _small_copy(grey, options)
        background = Background(small, _closing(small, _background_kernel(short, small, options)))
    if not background.page_done:
        background.page, background.page_done = sheet_mask(background.closing, background.small), True
    bg_dark, page = background.closing, background.page
    bg_small = cv2.blur(bg_dark, (3, 3)).astype(np.float32)
    # Contrast relative to the local background, but never relative to much less than the
    # paper's level: a dark desk's texture around a sheet is then weak, not ink.
    paper = float(np.percentile(bg_dark, 90))
    # Without a sheet on a dark surround the frame is all paper: its dim parts (vignetting,
    # underexposure) are still paper, so the floor and the fade sit lower there (measured:
    # one more dev photo read under gamma 2, nothing else changed).
    floor, fade = (0.6, 0.3) if page is not None else (0.4, 0.2)
    # Ink is written on paper: where the background is far darker than the paper (clothing,
    # desk, deep vignette corners) the response fades out (below 30% (20%) of the paper's level).
    # The gain (fade / background) is smooth like the background, so it is computed on the small
    # copy and interpolated: the full-size work is one subtraction and one product.
    gain = np.clip((bg_small / max(paper, 1.0) - fade) * 5.0, 0.0, 1.0)
    gain /= np.maximum(bg_small, max(16.0, floor * paper))
    bg = cv2.resize(bg_small, (w, h), interpolation=cv2.INTER_LINEAR)
    out = cv2.subtract(bg, grey, dtype=cv2.CV_32F)
    out *= cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
    np.minimum(np.maximum(out, 0.0, out=out), 1.0, out=out)
    if page is None:
        return out, None
    page = cv2.resize(page, (w, h), interpolation=cv2.INTER_NEAREST)
    return out * page, page.astype(np.uint8)


def _likely_dark(grey: np.ndarray, options: SegmentOptions, background: Background | None = None) -> bool:
    """Best guess when ``polarity`` cannot tell: dark ink when there is paper (most photos
    are of paper), failing that the sparser of the two responses (``background``: reuse
    ``_polarity``'s small copy and responses)."""
    small = _small_copy(grey, options) if background is None else background.small
    if dark_ink(small):
        return True
    if background is not None and background.responses is not None:
        dark, light = background.responses
    else:
        _, dark, light = _responses(small, _background_kernel(min(grey.shape), small, options))
    return float(dark.sum()) <= float(light.sum())


def sheet_mask(bg: np.ndarray, small: np.ndarray) -> np.ndarray | None:
    """A sheet of paper on a much darker surround (desk, clothing): float32 mask of the sheet
    in ``bg``'s pixels (1 = paper), shrunk a little to drop the paper's edge; None when the
    background ``bg`` has no such dark surround (paper fills the frame, or only vignetting).

    Whether there is a sheet is read from the background (no ink in it); its outline also
    needs the image ``small`` itself to be smooth there, because the background's closing
    turns the highlights of a textured desk into bright "paper"."""
    t, bright = cv2.threshold(bg, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    frac = bright.mean()
    if not 0.05 < frac < 0.95:
        return None
    lo, hi = bg[bright == 0].mean(), bg[bright == 1].mean()
    if lo > 0.5 * hi:
        return None
    # Paper is smooth, a desk is textured: the local relative standard deviation (5x5), with a
    # median over ~6% of the frame so that sparse ink strokes do not count as texture.
    f = small.astype(np.float32)
    mean = cv2.blur(f, (5, 5))
    rel_sd = np.sqrt(np.maximum(cv2.blur(f * f, (5, 5)) - mean * mean, 0.0)) / np.maximum(mean, 1.0)
    texture = cv2.medianBlur(np.clip(rel_sd * 1000.0, 0, 255).astype(np.uint8), _odd(0.06 * min(small.shape)))
    # Desk, not paper: textured (5% relative deviation or more) and duller than the paper
    # (writing on the sheet is textured too, but the sheet around it stays bright), and wide
    # (an opening drops thin edges).
    dull = cv2.medianBlur(small, _odd(0.06 * min(small.shape))) < 0.8 * hi
    desk = ((texture >= 50) & dull).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(0.06 * min(small.shape)),) * 2)
    bright[cv2.morphologyEx(desk, cv2.MORPH_OPEN, k) > 0] = 0
    # Cut arms and bridges to leftover desk: a sheet is much wider than 15% of the frame.
    wide = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(0.15 * min(small.shape)),) * 2)
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, wide)
    # The sheet is the largest bright region (others of half its size count too); smaller
    # bright patches are highlights on the desk.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.concatenate([[False], areas >= 0.5 * areas.max()])
        bright = keep[labels].astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    return cv2.erode(bright, k).astype(np.float32)


def _otsu(values: np.ndarray) -> float:
    """Otsu threshold of float values in [0, 1]."""
    u8 = np.clip(values * 255.0, 0, 255).astype(np.uint8).reshape(1, -1)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return float(t) / 255.0


def ink_components(ink: np.ndarray, options: SegmentOptions = DEFAULT):
    """Ink map -> (labels (H, W) int32, stats (n, 5), keep (n,) bool): the connected components
    of weak ink that contain strong ink (hysteresis), with long thin grid lines removed."""
    sub = ink[::4, ::4]  # statistics from a subsample: the map is smooth enough, and it is 16x cheaper
    cand = sub[sub > options.min_contrast]
    if cand.size == 0:
        return np.zeros(ink.shape, np.int32), np.zeros((1, 5), np.int32), np.zeros(1, bool)
    strong_t = max(options.strong_contrast, _otsu(cand))
    # Weak ink must stand above the paper's own texture (speckled recycled paper, webcam noise):
    # 0.4x the strong threshold, and a robust noise ceiling of the (mostly paper) map: its
    # median + 4.5 MADs (about 3 sigma), which ignores the ink as long as ink is under half.
    med = float(np.median(sub))
    noise = med + 4.5 * float(np.median(np.abs(sub - med)))
    weak_u8 = (ink > max(options.min_contrast, 0.4 * strong_t, min(noise, 0.5 * strong_t))).astype(np.uint8)
    # Long thin straight lines (grid paper, page edges): weak runs longer than a third of the
    # image, removed unless they are also strong ink (a stroke crossing the line). Only looked
    # for when some row or column holds that much weak ink (cheap test first).
    h, w = ink.shape
    if weak_u8.sum(axis=1).max() >= w // 3 or weak_u8.sum(axis=0).max() >= h // 3:
        lines = cv2.morphologyEx(weak_u8, cv2.MORPH_OPEN, np.ones((1, max(15, w // 3)), np.uint8))
        lines |= cv2.morphologyEx(weak_u8, cv2.MORPH_OPEN, np.ones((max(15, h // 3), 1), np.uint8))
        # Only thin lines: a thick stroke (marker, a big digit's straight bar) is not grid.
        t = max(5, int(0.012 * min(h, w))) | 1
        thick = cv2.dilate(
            cv2.morphologyEx(weak_u8, cv2.MORPH_OPEN, np.ones((t, t), np.uint8)), np.ones((3, 3), np.uint8)
        )
        lines &= 1 - thick
        if lines.any():
            line_mask = cv2.dilate(lines, np.ones((3, 3), np.uint8)) > 0
            weak_u8[line_mask & (ink < strong_t + 0.5 * (1 - strong_t))] = 0
    # Grana's block-based labelling: the same labels as the default, 3x faster here
    # (OpenCV 5's default took 0.55 ms on a 240x320 frame, a fifth of find_digits).
    n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(weak_u8, 8, cv2.CV_32S, cv2.CCL_GRANA)
    keep = np.zeros(n, bool)
    keep[labels[ink > strong_t]] = True
    keep[0] = False
    return labels, stats, keep


def ink_mask(ink: np.ndarray, options: SegmentOptions = DEFAULT) -> np.ndarray:
    """Ink map -> uint8 (H, W) mask, 255 = ink (for inspection; find_digits uses the components)."""
    labels, _, keep = ink_components(ink, options)
    return (keep[labels] * 255).astype(np.uint8)


def _merge_boxes(boxes: list[list], median_h: float) -> list[list]:
    """Merge boxes that overlap horizontally and sit close vertically (parts of one digit):
    more than half the narrower width in common, less than a quarter digit apart vertically,
    and the union no bigger than a digit (1.3x tall, 1.2x wide). The first mergeable pair in
    index order is merged and the search goes on; only the merged box's pairs change, so each
    merge costs one vectorised row (O(n^2) in all, where a rescan from the start was O(n^3))."""
    n = len(boxes)
    if n < 2:
        return boxes
    b = np.array([c[:4] for c in boxes], np.float64)
    b[:, 2:] += b[:, :2]  # (x0, y0, x1, y1)
    alive = np.ones(n, bool)
    ids = [list(c[4]) for c in boxes]

    def pairs(i: int) -> np.ndarray:
        a, o = b[i], b
        ox = np.minimum(a[2], o[:, 2]) - np.maximum(a[0], o[:, 0])
        gap_y = np.maximum(a[1], o[:, 1]) - np.minimum(a[3], o[:, 3])
        uh = np.maximum(a[3], o[:, 3]) - np.minimum(a[1], o[:, 1])
        uw = np.maximum(a[2], o[:, 2]) - np.minimum(a[0], o[:, 0])
        narrow = np.minimum(a[2] - a[0], o[:, 2] - o[:, 0])
        ok = (ox > 0.5 * narrow) & (gap_y < 0.25 * median_h) & (uh <= 1.3 * median_h) & (uw <= 1.2 * median_h)
        ok &= alive
        ok[i] = False
        return ok

    ok = np.zeros((n, n), bool)
    for i in range(n):
        ok[i] = pairs(i)
    ok = np.triu(ok, 1)
    while True:
        rows = np.nonzero(ok.any(axis=1))[0]
        if len(rows) == 0:
            break
        i = int(rows[0])
        j = int(np.argmax(ok[i]))
        b[i, :2] = np.minimum(b[i, :2], b[j, :2])
        b[i, 2:] = np.maximum(b[i, 2:], b[j, 2:])
        ids[i] += ids[j]
        alive[j] = False
        ok[j, :] = ok[:, j] = False
        row = pairs(i)
        ok[i, i + 1 :] = row[i + 1 :]
        ok[:i, i] = row[:i]
    out = []
    for k in np.nonzero(alive)[0]:
        x0, y0, x1, y1 = (int(v) for v in b[k])
        out.append([x0, y0, x1 - x0, y1 - y0, ids[k]])
    return out


def _attach_slivers(comps: list[list], stats: np.ndarray, median_h: float) -> list[list]:
    """Attach small broken-off pieces of a digit (a detached stroke end beside a 1 or a 2) to
    the digit right beside them: a blob under 0.75x the median height with under 0.3x the
    median ink area, within a full-height blob's vertical extent and at most 0.15x the median
    height away from it sideways, as long as the union stays digit-wide (1.2x)."""
    if len(comps) < 2:
        return comps
    area = [int(stats[c[4], cv2.CC_STAT_AREA].sum()) for c in comps]
    typical = float(np.median(area))
    out = [list(c) for c in comps]
    alive = [True] * len(out)
    for i, c in enumerate(out):
        if c[3] >= 0.75 * median_h or area[i] >= 0.3 * typical:
            continue
        best, best_gap = -1, 0.15 * median_h
        for j, d in enumerate(out):
            if j == i or not alive[j] or d[3] < 0.75 * median_h:
                continue
            inside = min(c[1] + c[3], d[1] + d[3]) - max(c[1], d[1])
            gap = max(c[0], d[0]) - min(c[0] + c[2], d[0] + d[2])
            union_w = max(c[0] + c[2], d[0] + d[2]) - min(c[0], d[0])
            if inside >= 0.8 * c[3] and gap <= best_gap and union_w <= 1.2 * median_h:
                best, best_gap = j, gap
        if best >= 0:
            d = out[best]
            x0, y0 = min(c[0], d[0]), min(c[1], d[1])
            x1, y1 = max(c[0] + c[2], d[0] + d[2]), max(c[1] + c[3], d[1] + d[3])
            out[best] = [x0, y0, x1 - x0, y1 - y0, d[4] + c[4]]
            alive[i] = False
    return [c for c, a in zip(out, alive) if a]


def _split_wide(comps: list[list], labels: np.ndarray, median_h: float) -> list[list]:
    """Split blobs much wider than the typical digit (touching digits) at their thinnest columns.

    The typical width is the median of the blobs' widths; a blob at least 1.8x as wide is cut
    into round(w / typical) parts, each cut at the column with the least ink within +-25% of a
    part's width from the even cut position."""
    if len(comps) < 3:
        return comps
    typical = float(np.median([c[2] for c in comps]))
    out = []
    for c in comps:
        x, y, w, h, ids = c
        parts = int(round(w / typical))
        if w < 1.8 * typical or parts < 2 or w < 0.9 * h or h > 1.5 * median_h:
            out.append(c)
            continue
        cols = np.isin(labels[y : y + h, x : x + w], ids).sum(axis=0)
        cuts, step = [0], w / parts
        for k in range(1, parts):
            lo, hi = int(k * step - 0.25 * step), int(k * step + 0.25 * step) + 1
            cuts.append(lo + int(np.argmin(cols[lo:hi])))
        cuts.append(w)
        for a, b in zip(cuts[:-1], cuts[1:]):
            sub = np.isin(labels[y : y + h, x + a : x + b], ids)
            rows = np.nonzero(sub.any(axis=1))[0]
            if b - a < 2 or len(rows) == 0:
                continue
            out.append([x + a, y + int(rows[0]), b - a, int(rows[-1] - rows[0] + 1), ids])
    return out


def reading_order(boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """Indices of boxes (x, y, w, h) in reading order: rows top to bottom, each left to right.

    Each box is linked to its nearest neighbour on the right whose vertical extent overlaps
    its own by at least half of the smaller height; linked chains are rows (so a sloping
    row stays one row). Rows are ordered by their mean centre height."""
    n = len(boxes)
    if n == 0:
        return []
    b = np.asarray(boxes, dtype=np.float64)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    x, y, w, h = b.T
    cx = x + w / 2
    # (n, n) pairwise: j right of i, vertical overlap >= half the smaller height; gap dx from i to j.
    overlap = np.minimum((y + h)[:, None], (y + h)[None, :]) - np.maximum(y[:, None], y[None, :])
    ok = (cx[None, :] > cx[:, None]) & (overlap >= 0.5 * np.minimum(h[:, None], h[None, :]))
    dx = np.where(ok, x[None, :] - (x + w)[:, None], np.inf)
    for i, j in enumerate(dx.argmin(axis=1)):
        if np.isfinite(dx[i, j]) and dx[i, j] < 3.0 * max(h[i], h[j]):
            parent[find(i)] = find(int(j))
    rows: dict[int, list[int]] = {}
    for i in range(n):
        rows.setdefault(find(i), []).append(i)
    ordered = sorted(rows.values(), key=lambda r: np.mean([b[i][1] + b[i][3] / 2 for i in r]))
    # Two chains that overlap vertically a lot and do not overlap horizontally are one row
    # with a big gap: join them.
    out: list[list[int]] = []
    for r in ordered:
        if out:
            prev = out[-1]
            py0, py1 = min(b[i][1] for i in prev), max(b[i][1] + b[i][3] for i in prev)
            ry0, ry1 = min(b[i][1] for i in r), max(b[i][1] + b[i][3] for i in r)
            ov = min(py1, ry1) - max(py0, ry0)
            if ov > 0.6 * min(py1 - py0, ry1 - ry0):
                px = [(b[i][0], b[i][0] + b[i][2]) for i in prev]
                rx = [(b[i][0], b[i][0] + b[i][2]) for i in r]
                if max(e for _, e in px) <= min(s for s, _ in rx) or max(e for _, e in rx) <= min(
                    s for s, _ in px
                ):
                    prev.extend(r)
                    continue
        out.append(list(r))
    return [i for r in out for i in sorted(r, key=lambda i: b[i][0] + b[i][2] / 2)]


def find_digits(grey: np.ndarray, options: SegmentOptions = DEFAULT) -> list[Blob]:
    """uint8 grey image -> digit blobs in reading order (boxes in the input's pixels).

    Coarse to fine: first at ``work_side`` px on the shorter side (cheap; enough for a camera
    frame's digits); again at up to ``max_side`` px when the digits found there are small.
    When the ink's polarity is ambiguous this takes the likelier one (DigitReader instead
    reads both candidates and keeps the one the classifier is surer of)."""
    return find_digit_candidates(grey, options, both=False)[0]


def find_digit_candidates(
    grey: np.ndarray, options: SegmentOptions = DEFAULT, both: bool = True
) -> list[list[Blob]]:
    """Like ``find_digits``, but when the polarity is ambiguous (``polarity`` is None: a sheet
    on a dark desk with dense writing, thick marker, a vignetted frame) and ``both`` is set,
    two candidate lists: the likelier polarity's blobs first, then the other's."""
    if not isinstance(grey, np.ndarray) or grey.ndim != 2 or grey.dtype != np.uint8:
        shape = getattr(grey, "shape", None)
        raise FinderInputError(
            f"find_digits expects a uint8 grey (H, W) image, got {getattr(grey, 'dtype', type(grey).__name__)} {shape}"
        )
    H, W = grey.shape
    if min(H, W) == 0:
        return [BlobList()]
    fine = min(1.0, options.max_side / max(H, W))
    if min(H, W) < options.min_side:  # a tiny strip: thin, faint strokes hold together better enlarged
        fine = min(options.min_side / min(H, W), options.max_side / max(H, W))
    if min(H, W) * fine < MIN_DIGIT_PX:
        # A strip so thin (1x10000) that once its long side fits ``max_side`` no digit fits across.
        return [BlobList()]
    coarse = min(fine, options.work_side / min(H, W))
    work = _rescale(grey, coarse)
    dark, background = _polarity(work, options) if min(work.shape) >= 48 else (polarity(work, options), None)
    tries = [dark]
    if dark is None:
        guess = _likely_dark(work, options, background)
        tries = [guess, not guess] if both else [guess]
    out = []
    for is_dark in tries:
        bg = background if is_dark and background is not None else None
        if bg is None and min(work.shape) >= 48:
            small = _small_copy(work if is_dark else cv2.LUT(work, _LIGHT_TO_DARK), options)
            bg = Background(small, _closing(small, _background_kernel(min(work.shape), small, options)))
        found = _find_at(work, coarse, options, is_dark, bg)
        blobs, digit_h = found.blobs, found.digit_h
        if coarse < fine and not found.texture and (not blobs or digit_h < options.min_digit_px):
            # The closer look starts over at full resolution: a closer look at less than that, or
            # with the coarse pass's background (its sheet mask's margins are in small-copy
            # pixels), each changed a reading of the dev photos (hyp_2.bmp), so neither is done.
            blobs = _find_at(_rescale(grey, fine), fine, options, is_dark).blobs
        out.append(BlobList(blobs, dropped=getattr(blobs, "dropped", 0)))
    return out


def _rescale(grey: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return grey
    H, W = grey.shape
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(grey, (max(1, round(W * scale)), max(1, round(H * scale))), interpolation=interp)


def _peaks(ink: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """(n,) highest ink value of every component label 0..n-1, in one pass over the ink."""
    on = labels > 0
    peak = np.zeros(n, np.float32)
    np.maximum.at(peak, labels[on], ink[on])
    return peak


def _touches_edge(x: int, y: int, bw: int, bh: int, w: int, h: int, sheet: np.ndarray | None) -> bool:
    """Whether a box touches the frame, or the edge of the sheet of paper when there is one."""
    if x == 0 or y == 0 or x + bw == w or y + bh == h:
        return True
    return sheet is not None and not sheet[max(0, y - 2) : y + bh + 2, max(0, x - 2) : x + bw + 2].all()


def _edge_junk(x: int, y: int, bw: int, bh: int, w: int, h: int, median_h: float) -> bool:
    """For a blob touching the frame or the sheet's edge: is it a piece of that edge (a thin
    line along it) or far bigger than a digit? A thin blob across the frame's edge (a 1 cut
    by the bottom of a tight strip) is kept."""
    if max(bw, bh) > 2 * median_h:
        return True
    if max(bw, bh) <= 3 * min(bw, bh):
        return False
    vertical = bh > bw
    at_side = x == 0 or x + bw == w
    at_top_bottom = y == 0 or y + bh == h
    if at_side or at_top_bottom:
        return (vertical and at_side) or (not vertical and at_top_bottom)
    return True  # the sheet's edge, at any angle


def _find_at(
    work: np.ndarray, scale: float, options: SegmentOptions, dark: bool, background: Background | None = None
) -> PassResult:
    """find_digits on ``work`` (the input scaled by ``scale``); ``dark``: the ink's polarity;
    ``background``: see ``_ink_and_sheet``."""
    ink, sheet = _ink_and_sheet(work, options, dark, background)
    labels, stats, keep = ink_components(ink, options)
    h, w = ink.shape
    if min(h, w) > options.crop_side and stats[keep, cv2.CC_STAT_AREA].sum() > options.max_ink * h * w:
        return PassResult([], 0.0, texture=True)
    min_h = max(MIN_DIGIT_PX, options.min_height * min(h, w))
    comps = []  # [x, y, w, h, [label ids], touches the frame]
    junk = []  # per comp: looks like a desk region, page edge or grid line cut by the frame
    x, y, bw, bh, area = stats.T
    ids = np.nonzero(keep & (np.maximum(bw, bh) >= min_h) & (area >= MIN_BLOB_AREA))[0]
    if len(ids) > options.max_blobs:
        # Texture or noise, not a page of digits at this scale: only the largest blobs go on,
        # which bounds the work of every pairwise step below.
        ids = ids[np.argsort(-area[ids], kind="stable")[: options.max_blobs]]
        ids.sort()
    for i in ids:
        x, y, bw, bh, area = (int(v) for v in stats[i])
        touches = _touches_edge(x, y, bw, bh, w, h, sheet)
        huge = bw > 0.6 * w or bh > 0.8 * h or (area > 0.5 * bw * bh and bw * bh > 0.1 * w * h)
        line = max(bw, bh) > 4 * min(bw, bh) and max(bw, bh) > 0.15 * max(w, h)
        comps.append([x, y, bw, bh, [int(i)], touches])
        junk.append(touches and (huge or line))
    # A tight crop (seed_9.jpg) is one digit touching the frame: only when something inside
    # the frame was found are the frame-cut regions dropped.
    if not all(c[5] for c in comps):
        comps = [c for c, j in zip(comps, junk) if not j]
    if not comps:
        return PassResult([], 0.0)
    tight_crop = all(c[5] for c in comps)
    heights = np.array([c[3] for c in comps], float)
    areas = np.array([stats[c[4][0], cv2.CC_STAT_AREA] for c in comps], float)
    # Median height of the substantial components (by ink area), so that specks do not drag it down.
    # A blob far bigger than most (a strip of desk beside the sheet, a smudge) must not set the
    # scale: the reference is taken without those more than 8x the median area.
    typical = areas[areas <= 8.0 * np.median(areas)]
    big = areas >= 0.2 * np.percentile(typical, 90)
    median_h = float(np.median(heights[big]))
    # One pen writes all the digits with about the same contrast: blobs far fainter than the
    # substantial ones are shadow edges, show-through, dust or grid.
    peak = _peaks(ink, labels, len(stats))[[c[4][0] for c in comps]]
    # Stricter at the frame's edge, where shadows and page edges meet it.
    need = np.array([options.edge_contrast if c[5] else options.relative_contrast for c in comps])
    strong_enough = peak >= need * float(np.median(peak[big]))
    comps = [c for c, ok in zip(comps, strong_enough) if ok]
    # Blobs cut by the frame edge that are thin lines, much bigger or much smaller than a digit:
    # page edges, desk, grid lines, page corners.
    comps = [c[:5] for c in comps if tight_crop or not (c[5] and _edge_junk(*c[:4], w, h, median_h))]
    comps = _merge_boxes(comps, median_h)
    comps = _attach_slivers(comps, stats, median_h)
    # Small pieces at the edge (page corners) go, but only after a digit's own broken-off
    # piece that reaches the edge (a tail in a tight strip) has been merged back.
    comps = [
        c for c in comps if tight_crop or c[3] >= 0.6 * median_h or not _touches_edge(*c[:4], w, h, sheet)
    ]
    comps = [c for c in comps if c[3] >= options.relative_height * median_h or c[2] >= 0.8 * median_h]
    # Too-large blobs (more than 3x the median height) are not digits of this text.
    comps = [c for c in comps if c[3] <= 3.0 * median_h and c[2] <= 8.0 * median_h]
    comps = _split_wide(comps, labels, median_h)
    order = reading_order([tuple(c[:4]) for c in comps])
    dropped = max(0, len(order) - options.max_digits)
    order = order[: options.max_digits]
    blobs = []
    for i in order:
        x, y, bw, bh, ids = comps[i]
        lab = labels[y : y + bh, x : x + bw]
        own = lab == ids[0] if len(ids) == 1 else np.isin(lab, ids)
        crop = ink[y : y + bh, x : x + bw] * own
        box = (int(x / scale), int(y / scale), int(round(bw / scale)), int(round(bh / scale)))
        blobs.append(Blob(box=box, ink=crop.astype(np.float32)))
    return PassResult(BlobList(blobs, dropped=dropped), median_h)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m edge_runtime.segment IMAGE", file=sys.stderr)
        return 2
    from edge_runtime.imageio import ImageError, load_image, to_grey

    try:
        image = load_image(argv[0])
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    blobs = find_digits(to_grey(image))
    vis = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    vis = vis.copy()
    for k, b in enumerate(blobs):
        x, y, w, h = b.box
        cv2.rectangle(vis, (x, y), (x + w, y + h), (0, 0, 255), 2)
        cv2.putText(vis, str(k), (x, y - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 0, 0), 2)
    cv2.imwrite("/tmp/segment.png", vis)
    print(f"{len(blobs)} blobs -> /tmp/segment.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
