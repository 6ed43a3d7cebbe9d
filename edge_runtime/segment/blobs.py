"""Blobs -> digits: drop junk, merge the broken strokes of one digit, attach slivers, split
touching digits. Sizes are relative to the median digit height ``median_h`` (working px).

Every step takes and returns a list of ``Component`` records; pairwise steps are vectorised
and see at most ``SegmentOptions.max_blobs`` blobs, so their work is bounded."""

from __future__ import annotations

import numpy as np

from edge_runtime.segment.components import Component
from edge_runtime.segment.stats import median, percentile

# Junk cut by the frame or the sheet's edge.
HUGE_W, HUGE_H = 0.6, 0.8
"""A blob wider than 60% or taller than 80% of the frame is desk or shadow, not a digit ..."""
SOLID_FILL, SOLID_AREA = 0.5, 0.1
"""... as is a solid one (ink over half its box) whose box covers 10% of the frame."""
LINE_ASPECT, LINE_LENGTH = 4.0, 0.15
"""A line: 4x longer than wide and longer than 15% of the frame's longer side."""
EDGE_HUGE = 2.0
"""At the edge, blobs more than 2 digit heights long are not digits."""
EDGE_ASPECT = 3.0
"""At the edge, blobs more than 3x longer than wide along the edge are pieces of it."""
# Scale.
OUTLIER_AREA = 8.0
"""Blobs of more than 8x the median ink area (a strip of desk, a smudge) do not set the scale."""
SUBSTANTIAL = 0.2
"""Substantial blobs: at least 20% of the 90th percentile ink area (specks do not count)."""
# Merging broken strokes.
MERGE_OVERLAP, MERGE_GAP = 0.5, 0.25
"""Parts of one digit overlap by half the narrower width, and are a quarter digit apart at most ..."""
MERGE_MAX_H, MERGE_MAX_W = 1.3, 1.2
"""... and their union is no taller than 1.3 and no wider than 1.2 digit heights."""
# Slivers.
SLIVER_H, SLIVER_AREA = 0.75, 0.3
"""A sliver: under 0.75 digit heights and under 0.3x the median blob's ink area ..."""
SLIVER_INSIDE, SLIVER_GAP, SLIVER_UNION = 0.8, 0.15, 1.2
"""... 80% within a digit's height, 0.15 digit heights beside it, the union 1.2 heights wide at most."""
# Final size checks.
EDGE_PIECE = 0.6
"""Blobs touching an edge shorter than 0.6 digit heights are page corners (after merging)."""
WIDE_SPECK = 0.8
"""A short blob (under ``relative_height``) is kept when it is this wide (a dash-like 1 lying down)."""
TOO_TALL, TOO_WIDE = 3.0, 8.0
"""Blobs taller than 3 or wider than 8 digit heights are not digits of this text."""
# Splitting touching digits.
SPLIT_WIDE, SPLIT_WINDOW = 1.8, 0.25
"""Blobs 1.8x the typical width are split, each cut at the emptiest column within +-25% of a part."""
SPLIT_MIN_ASPECT, SPLIT_MAX_H = 0.9, 1.5
"""Only blobs at least 0.9x as wide as tall and at most 1.5 digit heights tall are split."""


def touches_edge(c: Component, w: int, h: int, sheet: np.ndarray | None) -> bool:
    """Whether a box touches the frame, or the edge of the sheet of paper when there is one."""
    if c.x == 0 or c.y == 0 or c.right == w or c.bottom == h:
        return True
    return (
        sheet is not None and not sheet[max(0, c.y - 2) : c.bottom + 2, max(0, c.x - 2) : c.right + 2].all()
    )


def frame_junk(c: Component, area: int, w: int, h: int) -> bool:
    """For a blob touching an edge: a desk region, page edge or grid line cut by the frame."""
    huge = (
        c.w > HUGE_W * w
        or c.h > HUGE_H * h
        or (area > SOLID_FILL * c.w * c.h and c.w * c.h > SOLID_AREA * w * h)
    )
    line = max(c.w, c.h) > LINE_ASPECT * min(c.w, c.h) and max(c.w, c.h) > LINE_LENGTH * max(w, h)
    return huge or line


def edge_junk(c: Component, w: int, h: int, median_h: float) -> bool:
    """For a blob touching the frame or the sheet's edge: is it a piece of that edge (a thin
    line along it) or far bigger than a digit? A thin blob across the frame's edge (a 1 cut
    by the bottom of a tight strip) is kept."""
    if max(c.w, c.h) > EDGE_HUGE * median_h:
        return True
    if max(c.w, c.h) <= EDGE_ASPECT * min(c.w, c.h):
        return False
    vertical = c.h > c.w
    at_side = c.x == 0 or c.right == w
    at_top_bottom = c.y == 0 or c.bottom == h
    if at_side or at_top_bottom:
        return (vertical and at_side) or (not vertical and at_top_bottom)
    return True  # the sheet's edge, at any angle


def digit_scale(heights: np.ndarray, areas: np.ndarray) -> tuple[float, np.ndarray]:
    """(median digit height, mask of the substantial blobs) from blob heights and ink areas.
    The median is over the substantial blobs (by ink area), so that specks do not drag it down,
    and a blob far bigger than most (a strip of desk, a smudge) does not set the reference."""
    typical = areas[areas <= OUTLIER_AREA * median(areas)]
    big = areas >= SUBSTANTIAL * percentile(typical, 90)
    return float(median(heights[big])), big


def _union(a: Component, b: Component) -> Component:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    x1, y1 = max(a.right, b.right), max(a.bottom, b.bottom)
    return Component(x0, y0, x1 - x0, y1 - y0, a.ids + b.ids, a.touches or b.touches)


def merge_parts(comps: list[Component], median_h: float) -> list[Component]:
    """Merge blobs that overlap horizontally and sit close vertically (parts of one digit: a
    5's bar, an open 4), while the union stays digit-sized. The first mergeable pair in index
    order is merged and the search goes on; only the merged blob's pairs change, so each merge
    recomputes one vectorised row: O(n^2) in all, where rescanning from the start was O(n^3)."""
    n = len(comps)
    if n < 2:
        return comps
    b = np.array([(c.x, c.y, c.right, c.bottom) for c in comps], np.float64)
    alive = np.ones(n, bool)
    out = list(comps)

    def mergeable(a: np.ndarray, o: np.ndarray) -> np.ndarray:
        """Boxes ``a`` (k, 1, 4) against boxes ``o`` (n, 4), as x0, y0, x1, y1 -> (k, n) bool."""
        ox = np.minimum(a[..., 2], o[:, 2]) - np.maximum(a[..., 0], o[:, 0])
        gap_y = np.maximum(a[..., 1], o[:, 1]) - np.minimum(a[..., 3], o[:, 3])
        uh = np.maximum(a[..., 3], o[:, 3]) - np.minimum(a[..., 1], o[:, 1])
        uw = np.maximum(a[..., 2], o[:, 2]) - np.minimum(a[..., 0], o[:, 0])
        narrow = np.minimum(a[..., 2] - a[..., 0], o[:, 2] - o[:, 0])
        ok = (ox > MERGE_OVERLAP * narrow) & (gap_y < MERGE_GAP * median_h)
        return ok & (uh <= MERGE_MAX_H * median_h) & (uw <= MERGE_MAX_W * median_h)

    def pairs(i: int) -> np.ndarray:
        ok = mergeable(b[i][None, None], b)[0] & alive
        ok[i] = False
        return ok

    ok = np.triu(mergeable(b[:, None, :], b), 1)
    while True:
        rows = np.flatnonzero(ok.any(axis=1))
        if len(rows) == 0:
            break
        i = int(rows[0])
        j = int(np.argmax(ok[i]))
        out[i] = _union(out[i], out[j])
        b[i] = (out[i].x, out[i].y, out[i].right, out[i].bottom)
        alive[j] = False
        ok[j, :] = ok[:, j] = False
        row = pairs(i)
        ok[i, i + 1 :] = row[i + 1 :]
        ok[:i, i] = row[:i]
    return [c for c, a in zip(out, alive) if a]


def attach_slivers(comps: list[Component], areas: list[int], median_h: float) -> list[Component]:
    """Attach small broken-off pieces of a digit (a detached stroke end beside a 1 or a 2) to
    the full-height blob right beside them (``areas``: each blob's ink area). Each sliver, in
    order, goes to the nearest such blob (the last of equally near ones); one vectorised row
    per sliver, as slivers never receive others (they are short, receivers full-height)."""
    if len(comps) < 2:
        return comps
    typical = float(median(np.asarray(areas)))
    out = list(comps)
    b = np.array([(c.x, c.y, c.right, c.bottom) for c in comps], np.int64)
    alive = np.ones(len(out), bool)
    tall = (b[:, 3] - b[:, 1]) >= SLIVER_H * median_h
    for i, c in enumerate(comps):
        if c.h >= SLIVER_H * median_h or areas[i] >= SLIVER_AREA * typical:
            continue
        inside = np.minimum(c.bottom, b[:, 3]) - np.maximum(c.y, b[:, 1])
        gap = np.maximum(c.x, b[:, 0]) - np.minimum(c.right, b[:, 2])
        union_w = np.maximum(c.right, b[:, 2]) - np.minimum(c.x, b[:, 0])
        ok = alive & tall & (inside >= SLIVER_INSIDE * c.h) & (union_w <= SLIVER_UNION * median_h)
        ok &= gap <= SLIVER_GAP * median_h
        ok[i] = False
        if not ok.any():
            continue
        gaps = np.where(ok, gap, np.iinfo(np.int64).max)
        best = len(gaps) - 1 - int(np.argmin(gaps[::-1]))  # the nearest; the last of equals
        out[best] = _union(out[best], c)
        b[best] = (out[best].x, out[best].y, out[best].right, out[best].bottom)
        alive[i] = False
    return [c for c, a in zip(out, alive) if a]


def split_wide(
    comps: list[Component], labels: np.ndarray, median_h: float, min_piece_h: float = 0.0
) -> list[Component]:
    """Split blobs much wider than the typical digit (touching digits) at their thinnest columns:
    a blob ``SPLIT_WIDE`` x the median width is cut into round(w / typical) parts, each cut at
    the column with the least ink within +-25% of a part's width from the even cut position.
    A piece shorter than ``min_piece_h`` is no digit but what one touched (a shadow's streak, an
    underline): it goes."""
    if len(comps) < 3:
        return comps
    typical = float(median(np.array([c.w for c in comps])))
    out = []
    for c in comps:
        parts = int(round(c.w / typical))
        if (
            c.w < SPLIT_WIDE * typical
            or parts < 2
            or c.w < SPLIT_MIN_ASPECT * c.h
            or c.h > SPLIT_MAX_H * median_h
        ):
            out.append(c)
            continue
        own = np.isin(labels[c.y : c.bottom, c.x : c.right], c.ids)
        cols = own.sum(axis=0)
        cuts, step = [0], c.w / parts
        for k in range(1, parts):
            lo, hi = int(k * step - SPLIT_WINDOW * step), int(k * step + SPLIT_WINDOW * step) + 1
            cuts.append(lo + int(np.argmin(cols[lo:hi])))
        cuts.append(c.w)
        for a, b in zip(cuts[:-1], cuts[1:]):
            rows = np.flatnonzero(own[:, a:b].any(axis=1))
            if b - a < 2 or len(rows) == 0 or rows[-1] - rows[0] + 1 < min_piece_h:
                continue
            out.append(
                Component(c.x + a, c.y + int(rows[0]), b - a, int(rows[-1] - rows[0] + 1), c.ids, c.touches)
            )
    return out
