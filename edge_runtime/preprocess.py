"""Turn one digit crop into a 28x28 MNIST-style input: the ONE normalization path.

MNIST was made by fitting each digit's bounding box into a 20x20 box (aspect ratio
kept, anti-aliased), then placing it in a 28x28 field so that its centre of mass
sits at the centre. Digits are white on black, grey levels in [0, 1], strokes about
2-3 px wide. The runtime, the export checks and the benchmarks all call
``normalize_digit``; nothing else may reimplement it.

    python -m edge_runtime.preprocess photo_of_one_digit.png normalized.png
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class NormalizeOptions:
    box: int = 20
    """Side (px) of the square the digit's longer side is fitted into (MNIST: 20)."""
    size: int = 28
    """Side (px) of the output image (MNIST: 28)."""
    stroke_range: tuple[float, float] = (1.9, 3.5)
    """Stroke width (px at 28x28, as ``stroke_width`` measures it) kept as is: MNIST's 10th-90th
    percentiles. Thinner strokes are thickened, thicker ones thinned, toward the target."""
    stroke_target: float = 2.5
    """Stroke width aimed at when adjusting (MNIST's median by the same measure)."""
    max_thicken_px: float = 0.5
    """Thin strokes are thickened by at most this much (px at 28x28), not all the way to the
    target: thickening a thin-pen digit fully merged strokes that run close together once a
    tall crop is fitted into 20 px (a long-tailed 9's loop, an open 4's top, a 7's stem), and
    the classifier, trained with stroke-width changes, reads thin strokes well. Chosen on the
    dev photos (digits right, photos / their negatives: uncapped 201 / 199 of 205, capped
    204 / 203), so the private photo set is its real test."""
    ink_floor: float = 0.08
    """Crop pixels below this intensity (0..1) are background when finding the digit's box."""
    min_hole_px: float = 1.0
    """A hole (a loop's inside) of at least this many pixels at 28x28 must stay open when thin
    strokes are thickened."""


DEFAULT = NormalizeOptions()


class NormalizeInputError(ValueError):
    """The crop given to ``normalize_digit`` is not a finite 2-D array of grey levels."""


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width (px) of a binary mask: 2 * area / boundary length (a stroke of width w
    and length L has area w*L and a boundary of about 2*L)."""
    m = np.asarray(mask)
    m = m.view(np.uint8) if m.dtype == np.bool_ else (m > 0).view(np.uint8)  # 0/1 bytes, no copy
    area = cv2.countNonZero(m)
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)  # outlines and holes
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * area / max(perimeter, 1.0)


def holes(mask: np.ndarray, min_area: float) -> int:
    """How many holes (background regions not reaching the border) of at least ``min_area`` px
    a binary uint8 mask has: the loops of 0, 6, 8, 9 and a closed 4. Holes are 4-connected, ink
    8-connected (a diagonal step of ink closes a loop)."""
    background = (mask == 0).view(np.uint8)
    framed = cv2.copyMakeBorder(background, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)  # outside: one region
    return _holes_of_framed(framed, min_area)


def holes_above(values: np.ndarray, level: float, min_area: float) -> int:
    """``holes`` of the mask ``values > level`` (float values, no NaN), framed and thresholded in
    two calls instead of four (a frame of ``level`` is background): ~3 us less a test, and the
    normaliser's thickening makes one to two of them a digit."""
    framed = cv2.copyMakeBorder(values, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=level)
    return _holes_of_framed(np.less_equal(framed, level).view(np.uint8), min_area)


def _holes_of_framed(framed: np.ndarray, min_area: float) -> int:
    """``holes`` for a mask's complement (uint8, 1 where there is no ink) with a frame of 1 around it."""
    if min_area > 1:
        return _holes_of_background(framed, min_area)
    # Every hole has a pixel: a count of the background's regions, no areas needed (~4 us a
    # digit's mask; the inner outlines of OpenCV's contour hierarchy, the same count, took ~6 us).
    n = cv2.connectedComponentsWithAlgorithm(framed, 4, cv2.CV_32S, cv2.CCL_DEFAULT)[0]
    return n - 2  # less label 0 (the ink) and the outside


def _holes_of_background(framed: np.ndarray, min_area: float) -> int:
    """``_holes_of_framed`` counting only holes of at least ``min_area`` px."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(framed, connectivity=4)
    big = stats[:, cv2.CC_STAT_AREA] >= min_area
    # Less label 0 (the ink) and the outside (the region holding the frame's corner).
    return int(np.count_nonzero(big)) - int(big[0]) - int(big[labels[0, 0]])


def _fitted_size(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    """(width, height) of a crop of ``shape`` (h, w) once scaled into the 20x20 box."""
    return max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))


def _thicken(
    ink: np.ndarray, k: int, scale: float, options: NormalizeOptions
) -> tuple[np.ndarray, np.ndarray | None]:
    """Dilate ``ink`` with a disc of about ``k`` px, but never so far that a loop closes: a thin-pen
    9 fitted from a tall crop would otherwise become a blob on a stick (read as 1). The disc
    shrinks until every hole the digit shows at 28x28 still shows; no thickening if even 1 px closes one.
    -> (the crop, thickened or not; the copy of it fitted into the 20 px box by area averaging,
    which the hole test made, or None: ``normalize_digit`` then makes it)."""
    size = _fitted_size(ink.shape, scale)

    def holes_in(fitted: np.ndarray) -> int:
        return holes_above(fitted, 0.35 * cv2.minMaxLoc(fitted)[1], options.min_hole_px)

    fitted = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
    wanted = holes_in(fitted)
    while k >= 1:
        thick = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1)))
        if wanted == 0:
            return thick, None
        fitted_thick = cv2.resize(thick, size, interpolation=cv2.INTER_AREA)
        if holes_in(fitted_thick) >= wanted:
            return thick, fitted_thick
        k = k * 2 // 3  # a few tries at most: 10 -> 6 -> 4 -> 2 -> 1
    return ink, fitted


def _adjust_stroke(
    ink: np.ndarray, scale: float, options: NormalizeOptions
) -> tuple[np.ndarray, np.ndarray | None]:
    """Thicken or thin the strokes of ``ink`` (float, white on black) so that, once the crop is
    scaled by ``scale``, they are about as wide as MNIST's. -> (the crop; its copy fitted into
    the box by area averaging when thickening made one, else None)."""
    strong = ink > 0.35
    width = stroke_width(strong)
    lo, hi = options.stroke_range
    target = options.stroke_target
    w28 = width * scale
    if lo <= w28 <= hi or width <= 0:
        return ink, None
    # Kernel size in source pixels that moves the width toward the target.
    k = int(round(abs(target - w28) / scale))
    if k < 1:
        return ink, None
    if w28 < lo:
        k = min(k, max(1, int(round(options.max_thicken_px / scale))))
        return _thicken(ink, k, scale, options)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1))
    thinned = cv2.erode(ink, kernel)
    # Never erode a digit away: keep the original when thinning loses most of the ink.
    kept = cv2.countNonZero((thinned > 0.35).view(np.uint8)) > 0.25 * cv2.countNonZero(strong.view(np.uint8))
    return (thinned if kept else ink), None


def _unit_grey(ink: np.ndarray) -> np.ndarray:
    """A 2-D crop as float32 grey levels, 0..1 for ink: uint8 and anything above 1 count as
    0..255. A float32 crop (the finder's) is used as is, without a copy. Values outside [0, 1]
    need no clipping here: the threshold ignores them and the resized digit is clipped."""
    if ink.dtype == np.uint8:
        return ink.astype(np.float32) / 255.0
    if ink.dtype != np.float32:
        with np.errstate(over="ignore"):  # (float64 beyond float32's range: inf, refused below)
            ink = ink.astype(np.float32)
    if not cv2.checkRange(ink)[0]:  # NaN or +-inf anywhere (one C pass)
        raise NormalizeInputError("normalize_digit: the crop holds NaN or infinite values (as float32)")
    return ink / 255.0 if cv2.minMaxLoc(ink)[1] > 1.0 else ink  # (ndarray.max: 3x the overhead)


def normalize_digit(crop: np.ndarray, options: NormalizeOptions = DEFAULT) -> np.ndarray:
    """One digit, white on black (uint8 0..255 or float 0..1, any size) -> (28, 28) float32 in [0, 1].

    The ink's bounding box is fitted into a 20x20 box (aspect ratio kept, area
    interpolation so edges stay grey), then shifted so that the centre of mass is
    at the centre of the 28x28 field. An empty crop gives an all-zero image.
    """
    ink = np.asarray(crop)
    if ink.ndim != 2:
        raise NormalizeInputError(f"normalize_digit expects a 2-D grey crop, got shape {ink.shape}")
    if ink.dtype.kind not in "uif":
        raise NormalizeInputError(f"normalize_digit expects integer or float pixels, got {ink.dtype}")
    out = np.zeros((options.size, options.size), np.float32)
    if ink.size == 0:
        return out
    ink = _unit_grey(ink)
    x0, y0, bw, bh = cv2.boundingRect((ink > options.ink_floor).view(np.uint8))
    if bw == 0 or bh == 0:
        return out
    ink = ink[y0 : y0 + bh, x0 : x0 + bw]
    h, w = ink.shape
    scale = options.box / max(h, w)
    ink, small = _adjust_stroke(ink, scale, options)
    nw, nh = _fitted_size(ink.shape, scale)
    if small is None or scale >= 1:  # (the hole test's copy is area-averaged: the same when shrinking)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(ink, (nw, nh), interpolation=interp)
    np.minimum(np.maximum(small, 0.0, out=small), 1.0, out=small)  # (np.clip: ~10x the overhead)
    # Centre of mass -> centre of the field; the shift is clipped so the digit stays inside.
    m = cv2.moments(small)
    if m["m00"] <= 0:
        return out
    cy, cx = m["m01"] / m["m00"], m["m10"] / m["m00"]
    half = options.size / 2.0  # MNIST's centres of mass sit at pixel (14, 14)
    # (Python min/max: np.clip on a scalar costs ~10 us, a third of this function.)
    top = min(max(round(half - cy), 0), options.size - nh)
    left = min(max(round(half - cx), 0), options.size - nw)
    out[top : top + nh, left : left + nw] = small
    peak = cv2.minMaxLoc(small)[1]  # the field's peak: the rest of it is 0
    if peak > 0:
        np.divide(out, peak, out=out)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m edge_runtime.preprocess IMAGE OUT.png", file=sys.stderr)
        return 2
    from edge_runtime.imageio import ImageError, load_image, to_grey

    try:
        grey = to_grey(load_image(argv[0]))
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ink = 255 - grey if grey.mean() > 127 else grey  # white digit on black
    out = argv[1]
    try:
        ok = cv2.imwrite(out, (normalize_digit(ink) * 255).astype(np.uint8))
    except cv2.error:
        ok = False
    if not ok:
        print(f"error: could not write {out} (unknown image format or unwritable folder)", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
