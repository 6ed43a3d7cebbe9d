"""The driver: grey image -> digit blobs in reading order, coarse to fine.

First on a copy ``work_side`` px on its shorter side (enough for a camera frame's digits); again
at up to ``max_side`` px, around them only, when the digits found there are small, unless they
stand apart: then only their ink is taken at full resolution (``refine``). Polarity is
read once, on the coarse copy; when it is ambiguous both polarities are searched (the reader
keeps the one the classifier is surer of)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_runtime.segment import blobs as steps
from edge_runtime.segment.components import SUBSAMPLE, Component, Labelled, label_ink, thresholds
from edge_runtime.segment.ink import (
    LIGHT_TO_DARK,
    Background,
    Contrast,
    background_of,
    block_mean,
    contrast_and_sample,
    ink_and_sheet,
    ink_in_region,
    ink_of,
    likely_dark,
    polarity,
    polarity_and_background,
)
from edge_runtime.segment.options import (
    DEFAULT,
    MIN_BLOB_AREA,
    MIN_DIGIT_PX,
    TINY_SIDE,
    Blob,
    BlobList,
    FinderInputError,
    SegmentOptions,
)
from edge_runtime.segment.order import reading_order
from edge_runtime.segment.refine import NEAR, REFINE_FROM, apart, refine
from edge_runtime.segment.stats import median

OTHER_POLARITY_H = 0.6
"""When the polarity is ambiguous, a polarity gets a closer look only if the digits its coarse
pass saw are at least this fraction of the other polarity's: on a dense page the wrong
polarity's "digits" are the gaps and loops between strokes, much smaller (hyp_2.bmp at 640x480:
8 against 15 px, a 4.4 ms closer look for 4 blobs the reader then set aside). This holds
whichever polarity the cheap guess (``likely_dark``) put first: when that guess was always dark
ink, the negative of hyp_2.bmp at 640x480 tried dark first, whose coarse "digits" were 5 px
against the light ink's 15 px, and its closer look cost 7 ms to find nothing. In
benchmarks.readings_check 19 of 1028 frames skipped a closer look (6 before either change), none
of them the guess's, and none read differently. Since ``ink.SHEET_AND_BOARD_WIDTH`` decides the
polarity of those sheets on a desk, none of its frames does: the rule is kept for frames whose
votes still cannot tell (the tests turn that vote off to reach it)."""
REGION_MARGIN = 1.0
"""The closer look searches only around what the coarse pass saw: the box of its digit-sized blobs
widened by this many digit heights each way (a stroke too faint to see there, a digit's broken-off
piece). Blobs its edge cuts are treated as the frame's edge treats them (``candidates``)."""
REGION_MAX = 0.6
"""... unless that region is more than this fraction of the image (the whole image then)."""
SHRINK_FLOOR = 0.9
"""The closer look's copy of a large image keeps at least this fraction of ``max_side`` (and at
most its inverse) when shrunk by a whole factor (``scales``); else the exact ratio is used."""


@dataclass
class PassResult:
    """One pass of the finder at one scale and polarity."""

    blobs: BlobList
    digit_h: float
    """Median digit height (working pixels); 0 when nothing was found."""
    texture: bool = False
    """The frame is texture or noise (``SegmentOptions.max_ink``): no digits, no closer look."""
    region: tuple[int, int, int, int] | None = None
    """When the pass stopped for a closer look: (x0, y0, x1, y1), the box (working px) holding
    every digit-sized blob it saw (``candidates``)."""
    apart: tuple[list[Component], Labelled] | None = None
    """When its digits are small but stand apart (``refine.apart``): they and the labels they
    were found in, for ``refined`` to read at full resolution."""
    fine: tuple[np.ndarray, Contrast, np.ndarray] | None = None
    """When ``refined`` gave up after reading the full-resolution image (``contrast_and_sample``:
    its dark-ink copy, Contrast and threshold sample): the closer look's own, not made twice."""


def find_digits(grey: np.ndarray, options: SegmentOptions = DEFAULT) -> BlobList:
    """uint8 grey image -> digit blobs in reading order (boxes in the input's pixels).
    When the ink's polarity is ambiguous this takes the likelier one."""
    return find_digit_candidates(grey, options, both=False)[0]


def find_digit_candidates(
    grey: np.ndarray,
    options: SegmentOptions = DEFAULT,
    both: bool = True,
    dark: bool | None = None,
    closer: bool = False,
) -> list[BlobList]:
    """Like ``find_digits``, but when the polarity is ambiguous (a sheet on a dark desk with
    dense writing, thick marker, a vignetted frame) and ``both`` is set, two candidate lists:
    the likelier polarity's blobs first, then the other's. Each list's ``dark`` says which, and
    its ``closer`` whether the closer look found it.
    ``dark``: the polarity when already known (a camera on the same sheet): no votes, one list.
    ``closer`` (with ``dark``): the digits are known to be small (the camera's last frames needed
    the closer look), so the coarse pass is skipped: the closer look does not depend on it."""
    if not isinstance(grey, np.ndarray) or grey.ndim != 2 or grey.dtype != np.uint8:
        kind = getattr(grey, "dtype", type(grey).__name__)
        raise FinderInputError(
            f"find_digits expects a uint8 grey (H, W) image, got {kind} {getattr(grey, 'shape', '')}"
        )
    H, W = grey.shape
    known = dark
    if min(H, W) == 0:
        return [BlobList()]
    fine, coarse = scales(H, W, options)
    if min(H, W) * fine < MIN_DIGIT_PX:
        # A strip so thin (1x10000) that once its long side fits ``max_side`` no digit fits across.
        return [BlobList()]
    if known is not None and closer and coarse < fine:
        return [closer_look(grey, fine, options, known).blobs]
    work = rescale(grey, coarse)
    if known is not None:
        dark, background = known, None
    elif min(work.shape) >= TINY_SIDE:
        dark, background = polarity_and_background(work, options)
    else:
        dark, background = polarity(work, options), None
    tries = [dark]
    if dark is None:
        guess = likely_dark(work, options, background)
        tries = [guess, not guess] if both else [guess]
    # Both polarities' coarse passes first, then the closer looks: a polarity whose coarse
    # "digits" are far smaller than the other's (OTHER_POLARITY_H) is the wrong one, and its
    # closer look (the costliest step, 5-20 ms at 640x480) is skipped, whichever was likelier.
    # When a closer look will follow anyway (digits shorter than ``min_digit_px``), the coarse
    # pass stops once it knows the digits' height: merging, ordering and crops would be discarded.
    closer_below = options.min_digit_px if coarse < fine else 0.0
    coarse_passes = []
    for is_dark in tries:
        bg = background if is_dark else None
        if bg is None and min(work.shape) >= TINY_SIDE:
            bg = background_of(work if is_dark else cv2.LUT(work, LIGHT_TO_DARK), options)
        coarse_passes.append(find_at(work, coarse, options, is_dark, bg, closer_below=closer_below))
    tallest = max(found.digit_h for found in coarse_passes)
    out = []
    for k, (is_dark, found) in enumerate(zip(tries, coarse_passes)):
        # The likelier polarity's coarse pass finding nothing may mean digits too small to see
        # there (so it gets a closer look when the other saw nothing either); the other's
        # finding nothing at all is the usual case (it is the wrong one), and a closer look
        # there cost 10 ms at 640x480 for nothing.
        seen = found.digit_h >= OTHER_POLARITY_H * tallest and (k == 0 or found.digit_h > 0)
        if (
            coarse < fine
            and not found.texture
            and seen
            and (not found.blobs or found.digit_h < options.min_digit_px)
        ):
            found = refined(grey, fine, coarse, options, is_dark, found) or closer_look(
                grey, fine, options, is_dark, found, fine / coarse
            )
        found.blobs.dark = is_dark
        out.append(found.blobs)
    return out


def closer_look(
    grey: np.ndarray,
    fine: float,
    options: SegmentOptions,
    dark: bool,
    coarse: PassResult | None = None,
    zoom: float = 1.0,
) -> PassResult:
    """The search again at full resolution (``fine``), from scratch (but for the contrast
    ``refined`` made there before giving up: ``PassResult.fine``): a closer look at less than
    that, or with the coarse pass's background (its sheet mask's margins are in small-copy
    pixels), each changed readings of the dev photos (hyp_2.bmp; with the background reused,
    benchmarks.readings_check: photos -19 and negatives -6 digits), so neither is done. (Nor
    is a closer look just large enough to bring the coarse digits to 32 px, bilinear from the
    fine copy: 0.7 of a 640x480 frame for 22 px digits, half the pixels, but readings_check
    photos -9, negatives -16, plain -2 digits.) ``coarse``: the coarse pass that asked for it,
    ``zoom`` times smaller: only the region around what it saw is searched (``around``)."""
    work = rescale(grey, fine)
    region = None
    if coarse is not None and coarse.region is not None:
        region = around(coarse.region, coarse.digit_h, zoom, work.shape)
    prepared = coarse.fine if coarse is not None else None
    found = find_at(work, fine, options, dark, region=region, prepared=prepared)
    found.blobs.dark, found.blobs.closer = dark, True
    return found


def refined(
    grey: np.ndarray, fine: float, coarse: float, options: SegmentOptions, dark: bool, found: PassResult
) -> PassResult | None:
    """The coarse pass ``found``'s digits (ink polarity ``dark``) read from the image at scale
    ``fine`` without a second search (``refine``), when they stand apart; None: the closer look
    reads them."""
    if found.apart is None:
        return None
    comps, labelled = found.apart
    work = rescale(grey, fine)
    if min(work.shape) < TINY_SIDE:
        return None
    # The closer look's own background and thresholds: the ink is what it would see (and, should
    # this give up, the closer look reads it from them: ``PassResult.fine``).
    work, contrast, sample = found.fine = contrast_and_sample(work, options, dark, SUBSAMPLE)
    levels = thresholds(sample, options, sample)
    if levels is None:
        return None
    zoom = fine / coarse
    near = math.ceil(NEAR * found.digit_h * zoom)
    blobs = refine(work, contrast, labelled.labels, comps, zoom, levels, fine, near)
    if blobs is None:
        return None
    order = reading_order([b.box for b in blobs])
    return PassResult(BlobList([blobs[i] for i in order], dark=dark, closer=True), found.digit_h * zoom)


def around(
    box: tuple[int, int, int, int], digit_h: float, zoom: float, shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The closer look's region in its image of ``shape``: ``box`` (coarse px) widened by
    ``REGION_MARGIN`` digit heights each way and scaled by ``zoom``; None when that is more than
    ``REGION_MAX`` of the image (the whole image is searched)."""
    H, W = shape
    pad = REGION_MARGIN * digit_h
    x0, y0 = (max(0, int((v - pad) * zoom)) for v in box[:2])
    x1 = min(W, int(np.ceil((box[2] + pad) * zoom)))
    y1 = min(H, int(np.ceil((box[3] + pad) * zoom)))
    if (x1 - x0) * (y1 - y0) > REGION_MAX * W * H:
        return None
    return x0, y0, x1, y1


def scales(H: int, W: int, options: SegmentOptions) -> tuple[float, float]:
    """(fine, coarse): the scales of the closer look and of the first pass for an H x W image.

    Fine: the whole image, its longer side brought near ``max_side``; a tiny strip enlarged to
    ``min_side``. Coarse: ``work_side`` to twice that on the shorter side, never above fine.
    Both shrink by whole factors (1/2, 1/3, ...: ``block_mean``, 5-30x faster than any other
    ratio), so 1920x1080 is looked at closely at 960x540 and first at 480x270, and 1280x720
    first at 426x240. The fine side stays within ``SHRINK_FLOOR`` of ``max_side`` either way;
    where no whole factor does that (1280x720, 1200x900, 2700x2000) the exact ratio is used, as
    before. A frame whose shorter side is below twice ``work_side`` (640x442) is searched once,
    whole: a first copy below ``work_side`` (320x221) made digits just too small there, and
    the closer look they then needed cost more than the shrink saved (at 240x180 for 480x360
    frames it also lost digits: benchmarks.readings_check, photos -11, negatives -27).
    Against the exact ratios before, the readings check read 6 of about 1030 frames
    differently, all larger than 1024 px: 400 digits of 40 rendered 720p-12 MP frames -3,
    photos and negatives enlarged to 1920 and 3072 px -1 each (of 3041)."""
    short, long = min(H, W), max(H, W)
    if short < options.min_side:  # a tiny strip: thin, faint strokes hold together better enlarged
        fine = min(options.min_side / short, options.max_side / long)
        return fine, min(fine, options.work_side / short)
    fine = 1.0
    if long > options.max_side:
        # The whole factor that comes nearest max_side, if within SHRINK_FLOOR either way.
        k = min(
            (-(-long // options.max_side), long // options.max_side),
            key=lambda k: abs(long / k - options.max_side),
        )
        ok = SHRINK_FLOOR * options.max_side <= long / k <= options.max_side / SHRINK_FLOOR
        fine = 1.0 / k if ok else options.max_side / long
    coarse = 1.0 / max(1, short // options.work_side)
    return fine, min(fine, coarse)


def rescale(grey: np.ndarray, scale: float) -> np.ndarray:
    """``grey`` at ``scale``: 1/k by whole blocks (``block_mean``); any other shrinking ratio by
    whole blocks while at least half is left, then bilinear for the rest (at a ratio above 1/2
    every input pixel lies within a pixel of a sample, so each one counts); enlarging bicubic.

    The other ratios are the closer looks of 1280x720 and 1200x900 frames (0.8, 0.85) and of
    the Pi camera's 2592x1944 (0.395). OpenCV's area averaging (its fast path is for whole
    blocks only) took 4.4, 7.0 and 14.9 ms for them, one thread (median); this takes 0.7, 0.9
    and 1.4 ms. Readings, against area averaging:
    benchmarks.readings_check unchanged (1028 frames); the dev photos and their negatives at
    1100-1843 px and rendered scenes of 720p-1080 px (466 frames, 408 with such a ratio):
    3405 against 3403 of 3470 digits right, 423 against 425 frames exact, 14 read differently;
    at 2200-4032 px (446 frames, 194 below half): 3200 against 3198 of 3270, 407 exact either
    way, 6 read differently (4 better). (Whole blocks and then area averaging, measured before:
    4.8 ms for 2592x1944, and 1 better and 4 worse of 232 frames at 2200-3500 px.)"""
    if scale == 1.0:
        return grey
    k = round(1 / scale)
    if scale < 1 and k * scale == 1.0:
        return block_mean(grey, k)
    H, W = grey.shape
    size = (max(1, round(W * scale)), max(1, round(H * scale)))
    if scale > 1:
        return cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC)
    whole = int(1 / scale)  # whole blocks while at least half is left
    if whole >= 2:
        grey = block_mean(grey, whole)
    return cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)


def find_at(
    work: np.ndarray,
    scale: float,
    options: SegmentOptions,
    dark: bool,
    background: Background | None = None,
    closer_below: float = 0.0,
    region: tuple[int, int, int, int] | None = None,
    prepared: tuple[np.ndarray, Contrast, np.ndarray] | None = None,
) -> PassResult:
    """One pass on ``work`` (the input scaled by ``scale``) with the ink's polarity ``dark``.
    ``closer_below``: digits shorter than this (working px) get a closer look, so the pass
    stops at their height and returns no blobs. ``region``: (x0, y0, x1, y1), the only part of
    ``work`` searched (``around``). ``prepared``: ``contrast_and_sample(work, ...)``, when made."""
    if region is None and prepared is None:
        ink, sheet = ink_and_sheet(work, options, dark, background)
        found = label_ink(ink, options)
    else:  # the closer look: its contrast and sample (made here, or by ``refined``), its region's ink
        dark_work, contrast, sample = prepared or contrast_and_sample(work, options, dark, SUBSAMPLE)
        ink = ink_of(dark_work, contrast) if region is None else ink_in_region(dark_work, contrast, region)
        sheet = contrast.page
        found = label_ink(ink, options, sample)
    labels = found.labels
    h, w = ink.shape
    if (
        not options.tight_crop(ink.shape)
        and found.stats[found.keep, cv2.CC_STAT_AREA].sum() > options.max_ink * h * w
    ):
        return PassResult(BlobList(), 0.0, texture=True)
    comps = candidates(found.stats, found.keep, sheet, (h, w), options, region)
    if not comps:
        return PassResult(BlobList(), 0.0)
    seen = comps
    # Digits from REFINE_FROM up to closer_below are segmented here all the same: when they stand
    # apart, the closer look reads them from the fine image without a second search (``refined``).
    comps, median_h = digits_of(comps, ink.shape, found, sheet, options, min(closer_below, REFINE_FROM))
    if median_h < closer_below:  # a closer look follows, around what this pass saw
        box = (
            min(c.x for c in seen),
            min(c.y for c in seen),
            max(c.right for c in seen),
            max(c.bottom for c in seen),
        )
        if comps and len(comps) <= options.max_digits and apart(comps, labels, found.keep, median_h):
            return PassResult(BlobList(), median_h, region=box, apart=(comps, found))
        return PassResult(BlobList(), median_h, region=box)
    if not comps:
        return PassResult(BlobList(), median_h)
    order = reading_order([(c.x, c.y, c.w, c.h) for c in comps])
    dropped = max(0, len(order) - options.max_digits)
    out = []
    for i in order[: options.max_digits]:
        c = comps[i]
        lab = labels[c.y : c.bottom, c.x : c.right]
        own = lab == c.ids[0] if len(c.ids) == 1 else np.isin(lab, c.ids)
        crop = np.multiply(ink[c.y : c.bottom, c.x : c.right], own, dtype=np.float32)
        box = (int(c.x / scale), int(c.y / scale), int(round(c.w / scale)), int(round(c.h / scale)))
        out.append(Blob(box=box, ink=crop))
    return PassResult(BlobList(out, dropped=dropped), median_h)


def candidates(
    stats,
    keep,
    sheet,
    size: tuple[int, int],
    options: SegmentOptions,
    region: tuple[int, int, int, int] | None = None,
) -> list[Component]:
    """Kept components big enough to be digits (at most ``max_blobs``, the largest), without
    the desk regions, page edges and grid lines cut by the frame. ``region``: the part searched
    (``find_at``); what its edge cuts touches an edge, as what the frame's edge cuts does."""
    h, w = size
    min_h = max(MIN_DIGIT_PX, options.min_height * min(h, w))
    x, y, bw, bh, area = stats.T
    ids = np.flatnonzero(keep & (np.maximum(bw, bh) >= min_h) & (area >= MIN_BLOB_AREA))
    if len(ids) > options.max_blobs:
        # Texture or noise, not a page of digits at this scale: only the largest blobs go on,
        # which bounds the work of every pairwise step after this one.
        ids = np.sort(ids[np.argsort(-area[ids], kind="stable")[: options.max_blobs]])
    comps, junk = [], []
    for i, (x, y, bw, bh, area) in zip(ids.tolist(), stats[ids].tolist()):
        c = Component(x, y, bw, bh, [i])
        c.touches = steps.touches_edge(c, w, h, sheet) or (region is not None and cut_by(c, region))
        comps.append(c)
        junk.append(c.touches and steps.frame_junk(c, area, w, h))
    # A tight crop (seed_9.jpg) is one digit touching the frame: only when something inside
    # the frame was found are the frame-cut regions dropped.
    if not all(c.touches for c in comps):
        comps = [c for c, j in zip(comps, junk) if not j]
    return comps


def cut_by(c: Component, region: tuple[int, int, int, int]) -> bool:
    """Whether a component touches the edge of the region searched."""
    x0, y0, x1, y1 = region
    return c.x <= x0 or c.y <= y0 or c.right >= x1 or c.bottom >= y1


def digits_of(
    comps: list[Component],
    size: tuple[int, int],
    found: Labelled,
    sheet,
    options: SegmentOptions,
    closer_below: float = 0.0,
) -> tuple[list[Component], float]:
    """Candidates -> (digit components, median digit height): faint blobs and edge junk go,
    broken strokes and slivers are merged, touching digits split. No components when the
    median height is below ``closer_below`` (see ``find_at``)."""
    h, w = size
    stats = found.stats
    tight_crop = all(c.touches for c in comps)
    area_of = stats[:, cv2.CC_STAT_AREA].tolist()  # ink pixels per label
    areas = np.array([area_of[c.ids[0]] for c in comps], float)
    median_h, big = steps.digit_scale(np.array([c.h for c in comps], float), areas)
    if median_h < closer_below:
        return [], median_h
    # One pen writes all the digits with about the same contrast: blobs far fainter than the
    # substantial ones are shadow edges, show-through, dust or grid; stricter at the frame's
    # edge, where shadows and page edges meet it.
    peak = found.peak[[c.ids[0] for c in comps]]
    need = np.array([options.edge_contrast if c.touches else options.relative_contrast for c in comps])
    strong = peak >= need * float(median(peak[big]))
    comps = [c for c, ok in zip(comps, strong) if ok]
    # Blobs cut by the frame edge that are thin lines, much bigger or much smaller than a digit.
    comps = [c for c in comps if tight_crop or not (c.touches and steps.edge_junk(c, w, h, median_h))]
    comps = steps.merge_parts(comps, median_h)
    ink_areas = [sum(area_of[i] for i in c.ids) for c in comps]
    comps = steps.attach_slivers(comps, ink_areas, median_h)
    # Small pieces at the edge (page corners) go, but only after a digit's own broken-off
    # piece that reaches the edge (a tail in a tight strip) has been merged back.
    comps = [
        c
        for c in comps
        if tight_crop or c.h >= steps.EDGE_PIECE * median_h or not steps.touches_edge(c, w, h, sheet)
    ]
    comps = [
        c for c in comps if c.h >= options.relative_height * median_h or c.w >= steps.WIDE_SPECK * median_h
    ]
    comps = [c for c in comps if c.h <= steps.TOO_TALL * median_h and c.w <= steps.TOO_WIDE * median_h]
    # Pieces cut off a wide blob that are shorter than a speck are what a digit touched (a
    # shadow's streak, an underline), except in a tight crop, where the frame cuts digits too
    # and, as for the edge rules above, nothing is dropped for its shape alone.
    min_piece = 0.0 if tight_crop else options.relative_height * median_h
    return steps.split_wide(comps, found.labels, median_h, min_piece), median_h
