"""Reading order: rows top to bottom, each left to right, where a row may slope.

Each box is chained to its nearest right neighbour at a similar height; chains are rows."""

from __future__ import annotations

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
    for i, j in enumerate(dx.argmin(axis=1)):
        if np.isfinite(dx[i, j]) and dx[i, j] < ROW_GAP * max(h[i], h[j]):
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
            if ov > ROW_JOIN * min(py1 - py0, ry1 - ry0):
                px = [(b[i][0], b[i][0] + b[i][2]) for i in prev]
                rx = [(b[i][0], b[i][0] + b[i][2]) for i in r]
                if max(e for _, e in px) <= min(s for s, _ in rx) or max(e for _, e in rx) <= min(
                    s for s, _ in px
                ):
                    prev.extend(r)
                    continue
        out.append(list(r))
    return [i for r in out for i in sorted(r, key=lambda i: b[i][0] + b[i][2] / 2)]
