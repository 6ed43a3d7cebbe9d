"""Reading order: rows top to bottom, each left to right, where a row may slope.

Each box is chained to its nearest right neighbour at a similar height; chains are rows."""

from __future__ import annotations

import math

import numpy as np

ROW_OVERLAP = 0.5
"""Neighbours in a row overlap vertically by at least half the smaller height."""
ROW_GAP = 3.0
"""... and are at most 3 box heights apart."""
ROW_JOIN = 0.6
"""Two chains overlapping vertically by 60% of the smaller one, side by side, are one row."""


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
    ok = (cx[None, :] > cx[:, None]) & (overlap >= ROW_OVERLAP * np.minimum(h[:, None], h[None, :]))
    dx = np.where(ok, x[None, :] - (x + w)[:, None], np.inf)
    nearest = dx.argmin(axis=1)
    gaps = dx[np.arange(n), nearest]
    link = np.isfinite(gaps) & (gaps < ROW_GAP * np.maximum(h, h[nearest]))
    for i, j in zip(np.flatnonzero(link).tolist(), nearest[link].tolist()):
        parent[find(i)] = find(j)
    rows: dict[int, list[int]] = {}
    for i in range(n):
        rows.setdefault(find(i), []).append(i)
    cy = (y + h / 2).tolist()
    # (Means of Python floats: numpy's per-row mean cost ~7 us a row; fsum rounds once.)
    ordered = sorted(rows.values(), key=lambda r: math.fsum(cy[i] for i in r) / len(r))
    # Two chains that overlap vertically a lot and do not overlap horizontally are one row
    # with a big gap: join them. Each row keeps its extent (y0, y1, x0, x1) as it grows.
    out: list[list[int]] = []
    extents: list[list[float]] = []
    top, bottom, left, right = y.tolist(), (y + h).tolist(), x.tolist(), (x + w).tolist()
    for r in ordered:
        ext = [
            min(top[i] for i in r),
            max(bottom[i] for i in r),
            min(left[i] for i in r),
            max(right[i] for i in r),
        ]
        if out:
            py0, py1, px0, px1 = extents[-1]
            ry0, ry1, rx0, rx1 = ext
            ov = min(py1, ry1) - max(py0, ry0)
            if ov > ROW_JOIN * min(py1 - py0, ry1 - ry0) and (px1 <= rx0 or rx1 <= px0):
                out[-1].extend(r)
                extents[-1] = [min(py0, ry0), max(py1, ry1), min(px0, rx0), max(px1, rx1)]
                continue
        out.append(list(r))
        extents.append(ext)
    centre = cx.tolist()
    return [i for r in out for i in sorted(r, key=centre.__getitem__)]
