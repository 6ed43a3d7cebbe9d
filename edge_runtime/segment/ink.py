"""Background, polarity and the ink map: how much darker than its paper each pixel is.

The background is read on a small copy (~``background_side`` px on its shorter side): a
morphological closing removes dark strokes and keeps paper, shadows and vignetting (an opening
does the same under light strokes). Dividing the background out gives ink in [0, 1] that does
not care about the lighting. Light ink on a dark ground takes the same path once remapped
(``LIGHT_TO_DARK``): a blackboard is a dark "sheet", a photo's negative reads like the photo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from edge_runtime.segment.components import otsu
from edge_runtime.segment.morph import morphology
from edge_runtime.segment.options import DEFAULT, TINY_SIDE, SegmentOptions, odd
from edge_runtime.segment.sheet import sheet_mask
from edge_runtime.segment.stats import median, percentile_u8

RESPONSE_FLOOR = 16.0
"""Grey levels: a response is never relative to less than this (a black frame is not paper)."""
WIDTH_VOTE = 2.0
"""Polarity vote (1): one response must be this many times thinner than the other to vote."""
SHEET_AND_BOARD_WIDTH = 1.25
"""When vote (2) finds both paper and a board (a sheet on a dark desk, its negative), the
thinner response decides if it is this many times thinner (not in a tight crop: ``likely_dark``).
In benchmarks.readings_check all 240 such frames read best in the thinner polarity, at ratios
of 1.29 and up; the 61 of them below ``WIDTH_VOTE`` were searched in both polarities (a second
coarse pass and sheet, about 1.2 ms at 640x480) for a second list that never won."""
RESPONSE_MIN, RESPONSE_STRONG = 0.05, 0.15
"""A response's strokes: Otsu over the values above the first, and never below the second."""
SHEET_OPENING = 0.15
"""Polarity vote (2): paper survives an opening this wide (fraction of the shorter side)."""
SHEET_MIN_FRACTION, SHEET_KEPT = 0.1, 0.6
"""... and covers at least 10% of the frame and 60% of what is bright."""
ROUNDING = 1e-5
"""Relative slack for float32 rounding in a bound (a float32 product, exact to ~1e-7)."""


class Votes(NamedTuple):
    """What the polarity votes saw (``polarity_and_background``)."""

    w_dark: float
    """Stroke width (px) of the dark-ink response's strong part."""
    w_light: float
    """The same for the light-ink response."""
    paper: bool
    """A large bright region survives a wide opening (``dark_ink``)."""
    board: bool | None
    """A large dark region survives a wide closing; None: not looked for (it could not change
    the polarity: ``polarity_and_background``)."""


@dataclass
class Background:
    """What one image's background estimate costs, computed once and reused by every step."""

    small: np.ndarray
    """uint8 small copy of the (dark-ink) image."""
    closing: np.ndarray
    """uint8 background under dark strokes, same size as ``small``."""
    page: np.ndarray | None = None
    """uint8 0/255 sheet mask (see ``sheet_mask``), once computed; None: not yet or no sheet."""
    page_done: bool = False
    """Whether ``page`` has been computed."""
    responses: tuple[np.ndarray, np.ndarray] | None = None
    """(dark, light) ink responses of ``small`` when polarity was read from them."""
    votes: Votes | None = None
    """What the polarity votes saw, when they were taken."""


def small_copy(grey: np.ndarray, options: SegmentOptions) -> np.ndarray:
    """The ~``background_side`` px copy the background and the polarity are read from."""
    # The background is smooth: a small copy will do. (The last few rows and columns of the
    # frame, fewer than the factor, are left out; the background is stretched back over it all.)
    return block_mean(grey, max(1, round(min(grey.shape) / options.background_side)))


def block_mean(grey: np.ndarray, k: int) -> np.ndarray:
    """``grey`` shrunk k times: the mean of each whole k x k block (the last rows and columns,
    fewer than k, are left out; for an even k above 2, each level within one of the exact
    mean). OpenCV's INTER_AREA averages whole blocks fast; at any other ratio it took 5-30x
    longer (640 -> 213 px; 1.3 ms for 640x442 -> 347x240, 5.9 ms for 1920x1080 -> 427x240, one
    thread)."""
    if k == 1:
        return grey
    if k % 2 == 0 and k > 2:
        # Halved first, by OpenCV's vectorised 2x2 path, then the rest: 0.2 instead of 1.5 ms
        # for 1920x1080 -> 480x270, 2.3 instead of 7.9 for 4032x3024 -> 1008x756. Not exact:
        # each half rounds to a whole level first, so a quarter to two fifths of the pixels
        # come out one level off the true mean. benchmarks.readings_check read the same; the
        # dev photos and negatives at 1280-4032 px and rendered 1080p-12 MP scenes (388 frames):
        # 2784 against 2785 of 2860 digits right, 349 exact either way, 2 read differently.
        return block_mean(block_mean(grey, 2), k // 2)
    h, w = grey.shape
    if k == 3:
        # cv2.blur's 3x3 means at the blocks' centres: the same pixels (INTER_AREA and the box
        # filter round alike: equal on 309 frames, for every odd k up to 13), in 0.17 ms instead
        # of 0.25 at 640x480 (the closer look's small copy); no faster from k = 5 on.
        centres = cv2.blur(grey[: h - h % 3, : w - w % 3], (3, 3), borderType=cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(centres[1::3, 1::3])
    return cv2.resize(grey[: h - h % k, : w - w % k], (w // k, h // k), interpolation=cv2.INTER_AREA)


def background_kernel(shape: tuple[int, ...], small: np.ndarray, options: SegmentOptions) -> np.ndarray:
    """The closing's square kernel for an image of ``shape`` whose small copy is ``small``."""
    # Small images are usually tight crops whose strokes are a big fraction of the frame
    # (seed_9.jpg): the kernel must still be wider than a stroke, and light is even there.
    frac = options.crop_kernel if options.tight_crop(shape) else options.background_kernel
    # Square kernels: OpenCV runs them as two 1-D passes (cheap); ellipses cost k times more.
    return cv2.getStructuringElement(cv2.MORPH_RECT, (odd(frac * min(small.shape)),) * 2)


def closing(small: np.ndarray, k: np.ndarray, op: int = cv2.MORPH_CLOSE) -> np.ndarray:
    """Background of ``small`` under dark strokes (closing; MORPH_OPEN: under light strokes).
    A 3x3 mean first, so that it reads the paper's mean level, not its brightest grain.
    Reflected padding: at the frame's edge a truncated window would leave a shadow's edge
    half-closed there (a false stroke where the shadow meets the frame)."""
    return _background(_smooth_padded(small, k), k, op)


def _padding(k: np.ndarray) -> int:
    """Pixels of reflected padding each side for ``closing`` with kernel ``k``."""
    return k.shape[0] // 2 + 1


def _smooth_padded(small: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``small``'s 3x3 mean, padded by reflection for ``closing`` with kernel ``k``."""
    p = _padding(k)
    return cv2.copyMakeBorder(cv2.blur(small, (3, 3)), p, p, p, p, cv2.BORDER_REFLECT)


def _background(smooth: np.ndarray, k: np.ndarray, op: int) -> np.ndarray:
    """``closing``'s morphology on its padded mean, the padding cut off."""
    p = _padding(k)
    return morphology(smooth, op, k)[p:-p, p:-p]


def background_of(grey: np.ndarray, options: SegmentOptions) -> Background:
    """The Background of a (dark-ink) working image."""
    small = small_copy(grey, options)
    return Background(small, closing(small, background_kernel(grey.shape, small, options)))


def responses(small: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dark-ink background, dark-ink response, light-ink response) of a small copy: each
    response is the contrast to its background (closing / opening with kernel ``k``), relative
    to the paper's level (dark) or to the headroom above the ground (light), float32 in [0, 1]."""
    smooth = _smooth_padded(small, k)  # (one mean for both)
    bg_dark, bg_light = _background(smooth, k, cv2.MORPH_CLOSE), _background(smooth, k, cv2.MORPH_OPEN)
    # Saturating uint8 differences are the clip at 0; no response exceeds 1 (the difference is
    # at most its denominator), so no clip is needed there. OpenCV divides the uint8 images into
    # float32 directly: the same quotients as numpy's float32 division (every one of the 65536
    # pairs of levels, at several row widths), without the two float32 copies (~20 us a frame).
    floor = np.uint8(RESPONSE_FLOOR)
    dark = cv2.divide(cv2.subtract(bg_dark, small), np.maximum(bg_dark, floor), dtype=cv2.CV_32F)
    light = cv2.divide(cv2.subtract(small, bg_light), np.maximum(255 - bg_light, floor), dtype=cv2.CV_32F)
    return bg_dark, dark, light


def response_width(response: np.ndarray) -> float:
    """Mean width (px) of the strong part (above its Otsu threshold) of an ink response."""
    from edge_runtime.preprocess import stroke_width

    cand = response[response > RESPONSE_MIN]
    if cand.size == 0:
        return 0.0
    return stroke_width(response > max(RESPONSE_STRONG, otsu(cand)))


def dark_ink(small: np.ndarray) -> bool:
    """Polarity of a (downscaled) grey image: True for dark ink on light paper.

    Paper is a large bright region that survives an opening much wider than any stroke
    (whether it fills the frame or lies on a dark desk); light strokes on a dark ground
    do not survive it."""
    _, bright = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (odd(SHEET_OPENING * min(small.shape)),) * 2)
    sheet = morphology(bright, cv2.MORPH_OPEN, k)
    kept = np.count_nonzero(sheet)
    return kept >= SHEET_MIN_FRACTION * sheet.size and kept >= SHEET_KEPT * np.count_nonzero(bright)


def border(grey: np.ndarray) -> np.ndarray:
    """The pixels of an image's four edges (corners twice): a tiny image's background sample."""
    return np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])


def polarity(grey: np.ndarray, options: SegmentOptions = DEFAULT) -> bool | None:
    """True for dark ink on light paper, False for light ink on a dark ground, None when the
    cheap tests below cannot tell (see ``find_digit_candidates``)."""
    h, w = grey.shape
    if min(h, w) < TINY_SIDE:  # tiny image (a 28x28 MNIST digit): the border is background
        return bool(median(border(grey)) > grey.mean())
    return polarity_and_background(grey, options)[0]


def polarity_and_background(grey: np.ndarray, options: SegmentOptions) -> tuple[bool | None, Background]:
    """polarity, and the dark-ink Background of ``grey`` (its small copy and closing, and the
    responses of both polarities) for ``ink_and_sheet`` and ``likely_dark`` to reuse. (Voting
    on a copy half that size, 60x80 for a 640x480 frame, left 3 more of the 29 dev photos fitted
    to 640x480 undecided, each then searched in both polarities: slower, not faster.)"""
    small = small_copy(grey, options)
    bg_dark, dark, light = responses(small, background_kernel(grey.shape, small, options))
    background = Background(small, bg_dark, responses=(dark, light))
    # Two votes. (1) Ink is thin: with the wrong polarity the "ink" is the paper between
    # strokes (loops, gaps, grid cells), much wider; a response clearly (2x) the thinner wins.
    w_dark, w_light = response_width(dark), response_width(light)
    votes = []
    if w_light * WIDTH_VOTE < w_dark or w_dark * WIDTH_VOTE < w_light:
        votes.append(w_dark < w_light)
    # (2) Paper is a large bright region that survives a wide opening, a board a large dark
    # one that survives a wide closing; when exactly one is there, it votes. (Both are there
    # for a sheet on a dark desk and its negative, and in vignetted frames.) When the first
    # vote was taken and the paper test agrees with it, the board cannot change the outcome
    # (a board too: no second vote; none: a second, agreeing vote), so it is not looked for.
    sheet = dark_ink(small)
    board = None if votes and votes[0] == sheet else dark_ink(cv2.bitwise_not(small))
    background.votes = Votes(w_dark, w_light, sheet, board)
    if board is not None and sheet != board:
        votes.append(sheet)
    elif sheet and board and not votes:  # both there: vote (1) at a lower bar
        thinner = thinner_ink(background.votes, grey.shape, options, SHEET_AND_BOARD_WIDTH)
        if thinner is not None:
            votes.append(thinner)
    # Noise can fool either (specks read as thin light strokes; a noisy page's Otsu split):
    # votes that disagree, or none, leave it open.
    if votes and all(v == votes[0] for v in votes):
        return votes[0], background
    return None, background


def thinner_ink(votes: Votes, shape: tuple[int, ...], options: SegmentOptions, ratio: float) -> bool | None:
    """With paper and a board both seen: True (dark ink) or False (light), the polarity whose
    strokes are thinner, by at least ``ratio`` (and at all); None when a response has no strokes
    or in a tight crop, where a marker's stroke can be wider than the paper between strokes
    (seed_9.jpg: 19 px against 14 px, read as 15 "digits" of loop and gap)."""
    w_dark, w_light = votes.w_dark, votes.w_light
    if options.tight_crop(shape) or min(w_dark, w_light) <= 0 or w_dark == w_light:
        return None
    if min(w_dark, w_light) * ratio > max(w_dark, w_light):
        return None
    return w_dark < w_light


def likely_dark(grey: np.ndarray, options: SegmentOptions, background: Background | None = None) -> bool:
    """Best guess when ``polarity`` cannot tell: dark ink when there is paper (most photos
    are of paper), unless a board was found too and the light strokes are thinner; failing
    that the sparser of the two responses (``background``: reuse ``polarity_and_background``'s
    small copy, responses and votes). The finder searches both polarities then, this one first,
    and ``find_digits`` keeps only this one. (Measured on the 62 such frames of
    benchmarks.readings_check, photos and negatives: the guess is the polarity the reader ends
    up choosing in all 62; with dark ink whenever there is paper, in 31.)"""
    small = small_copy(grey, options) if background is None else background.small
    votes = background.votes if background is not None else None
    paper = votes.paper if votes is not None else dark_ink(small)  # (the votes took this test)
    if paper:
        # Paper and a board both found (a sheet on a dark desk, a vignetted frame, a photo's
        # negative): the thinner strokes, even if less than SHEET_AND_BOARD_WIDTH thinner, are
        # the ink.
        if votes is not None and votes.board:
            thinner = thinner_ink(votes, grey.shape, options, 1.0)
            if thinner is not None:
                return thinner
        return True
    if background is not None and background.responses is not None:
        dark, light = background.responses
    else:
        _, dark, light = responses(small, background_kernel(grey.shape, small, options))
    return float(dark.sum()) <= float(light.sum())


def light_to_dark_lut(c: float = 256.0) -> np.ndarray:
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


LIGHT_TO_DARK = light_to_dark_lut()


def ink_map(grey: np.ndarray, options: SegmentOptions = DEFAULT) -> np.ndarray:
    """uint8 grey (H, W) -> float32 (H, W) ink in [0, 1]: how much darker (or lighter, for
    light-on-dark) than the local background each pixel is, relative to the background."""
    return ink_and_sheet(grey, options)[0]


def ink_and_sheet(
    grey: np.ndarray, options: SegmentOptions, dark: bool | None = None, background: Background | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """ink_map, and the uint8 (H, W) mask of the sheet of paper (255 = paper) when one lies on a
    darker surround. ``dark``: the ink's polarity (None: decide here). ``background``: the Background
    of ``grey`` (of its dark-ink version) when already computed; its ``page`` is filled in here."""
    if dark is None:
        dark = polarity(grey, options)
        if dark is None:
            dark = likely_dark(grey, options)
    if not dark:
        grey = cv2.LUT(grey, LIGHT_TO_DARK)
    if min(grey.shape) < TINY_SIDE:  # a tiny (e.g. 28x28) image: one background level, from the border
        bg = float(median(border(grey).astype(np.float32)))
        return np.clip((bg - grey.astype(np.float32)) / max(bg, 1.0), 0, 1), None
    return relative_ink(grey, with_page(grey, background, options))


def with_page(grey: np.ndarray, background: Background | None, options: SegmentOptions) -> Background:
    """The Background of a dark-ink image (``background`` when given), its sheet mask found."""
    if background is None:
        background = background_of(grey, options)
    if not background.page_done:
        background.page, background.page_done = sheet_mask(background.closing, background.small), True
    return background


def contrast_and_sample(
    grey: np.ndarray, options: SegmentOptions, dark: bool, step: int
) -> tuple[np.ndarray, Contrast, np.ndarray]:
    """What the closer look reads an image (not a tiny one) with, its ink's polarity ``dark``
    known: (the image as dark ink, its Contrast from its own background and sheet, and its ink
    at every ``step``-th pixel each way: the ink thresholds' statistics, ``components.thresholds``;
    the same values as ``relative_ink(...)[0][::step, ::step]``)."""
    if not dark:
        grey = cv2.LUT(grey, LIGHT_TO_DARK)
    contrast = contrast_of(grey.shape, with_page(grey, None, options))
    every = slice(None, None, step)
    return grey, contrast, ink_of(grey, contrast, every, every)


def relative_ink(grey: np.ndarray, background: Background) -> tuple[np.ndarray, np.ndarray | None]:
    """(ink, sheet mask) of a dark-ink image from its Background (see ``ink_and_sheet``)."""
    contrast = contrast_of(grey.shape, background)
    return ink_of(grey, contrast), contrast.page


@dataclass
class Contrast:
    """What turns a dark-ink image into ink, pixel by pixel (``relative_ink``): its background
    at full size and the gain of each background level."""

    background: np.ndarray
    """uint8 (H, W) background, interpolated from the small copy's closing."""
    gain: np.ndarray
    """(256,) float32: ink per grey level darker than the background, by background level."""
    gain_max: float
    """The largest gain at any level the background takes."""
    page: np.ndarray | None
    """uint8 (H, W) 0/255 sheet mask, or None (no sheet on a darker surround)."""


def contrast_of(shape: tuple[int, int], background: Background) -> Contrast:
    """The Contrast of an image of ``shape`` whose (dark-ink) Background this is."""
    h, w = shape
    bg_dark, page = background.closing, background.page
    bg_u8 = cv2.blur(bg_dark, (3, 3))
    # Contrast relative to the local background, but never relative to much less than the
    # paper's level: a dark desk's texture around a sheet is then weak, not ink.
    paper = percentile_u8(bg_dark, 90)
    # Without a sheet on a dark surround the frame is all paper: its dim parts (vignetting,
    # underexposure) are still paper, so the floor and the fade sit lower there (measured:
    # one more dev photo read under gamma 2, nothing else changed).
    floor, fade = (0.6, 0.3) if page is not None else (0.4, 0.2)
    # Ink is written on paper: where the background is far darker than the paper (clothing,
    # desk, deep vignette corners) the response fades out (below 30% (20%) of the paper's level).
    # The gain (fade / background) depends on the background's level alone: a 256-entry table,
    # looked up in the interpolated uint8 background. The full-size work is then that lookup, a
    # saturating uint8 subtraction (ink darker than its background; lighter is 0, as the clip
    # below would make it) and one product. (Interpolating a float gain map from the small copy
    # instead took 0.15-0.35 ms more per pass at 640x480. The two differ by the background's
    # rounding to uint8: benchmarks.readings_check read 2 of 872 frames differently, photos -2
    # digits on one, negatives +1 on another.)
    levels = np.arange(256, dtype=np.float32)
    gain = np.clip((levels / max(paper, 1.0) - fade) * 5.0, 0.0, 1.0)
    gain /= np.maximum(levels, max(RESPONSE_FLOOR, floor * paper))
    lo, hi = cv2.minMaxLoc(bg_u8)[:2]  # (a bilinear stretch of uint8 stays within them)
    if page is not None:
        page = cv2.resize(page, (w, h), interpolation=cv2.INTER_NEAREST)
    return Contrast(
        background=cv2.resize(bg_u8, (w, h), interpolation=cv2.INTER_LINEAR),
        gain=gain,
        gain_max=float(gain[int(lo) : int(hi) + 1].max()),
        page=page,
    )


def ink_of(
    grey: np.ndarray, contrast: Contrast, rows: slice = slice(None), cols: slice = slice(None)
) -> np.ndarray:
    """float32 ink in [0, 1] of ``grey[rows, cols]`` (any part or sampling of a dark-ink image whose
    Contrast this is): each pixel's value is the same whichever part it is computed in."""
    bg = contrast.background[rows, cols]
    out = cv2.LUT(bg, contrast.gain)
    darker = cv2.subtract(bg, grey[rows, cols])
    if contrast.page is not None:  # no ink off the sheet: its 0/255 mask zeroes the uint8 contrast there
        cv2.bitwise_and(darker, contrast.page[rows, cols], dst=darker)
    cv2.multiply(darker, out, dst=out, dtype=cv2.CV_32F)
    if cv2.minMaxLoc(darker)[1] * contrast.gain_max * (1.0 + ROUNDING) > 1.0:
        cv2.min(out, 1.0, dst=out)  # (np.minimum in place: 3x longer)
    return out


def ink_in_region(grey: np.ndarray, contrast: Contrast, region: tuple[int, int, int, int]) -> np.ndarray:
    """The ink of a dark-ink image whose Contrast this is and whose digits all lie in ``region``
    (x0, y0, x1, y1): inside it, as ``relative_ink`` makes it; 0 outside."""
    x0, y0, x1, y1 = region
    ink = np.zeros(grey.shape, np.float32)
    ink[y0:y1, x0:x1] = ink_of(grey, contrast, slice(y0, y1), slice(x0, x1))
    return ink
