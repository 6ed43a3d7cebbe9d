"""Render MNIST test digits as camera-like photos of paper: labelled scenes for evaluation.

``render_sheet`` writes the digits in one or several rows on paper with texture and
colour, then applies what a webcam or phone adds: uneven light and vignetting, a hard
shadow, slight perspective, blur, sensor noise and JPEG artefacts. The same ``rng``
state gives the same image.

It lives in the runtime, beside ``evaluate`` (which scores labelled photos), because the
runtime's tests and the benchmarks both render these scenes and the runtime's tests must
not depend on the benchmarks package; it needs only numpy and OpenCV, and nothing in the
reading path imports it (a Pi copy of edge_runtime/ may leave it out).

    python -m edge_runtime.scenes --out /tmp/scenes --count 8   # needs MNIST_PATH
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

PAPERS = {  # BGR paper colours
    "white": (238, 240, 242),
    "grey": (190, 192, 195),
    "yellow": (170, 225, 235),
    "pink": (225, 225, 245),
}
INKS = {"black": (25, 25, 30), "blue": (140, 60, 30), "pencil": (95, 95, 100)}


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int = 4) -> np.ndarray:
    """A smooth random field in [-1, 1], (h, w) float32: low-frequency texture and light."""
    small = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(-1, 1)


def _paper(rng: np.random.Generator, h: int, w: int, paper_bgr: np.ndarray) -> np.ndarray:
    """Paper (h, w, 3) float32: colour + fibre texture + a few specks."""
    tex = 6.0 * _smooth_field(rng, h, w, 12) + rng.normal(0, 2.0, (h, w)).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = paper_bgr
    img += tex[..., None]
    for _ in range(rng.integers(0, 6)):
        cv2.circle(
            img,
            (int(rng.integers(0, w)), int(rng.integers(0, h))),
            int(rng.integers(1, 3)),
            tuple(float(c) for c in paper_bgr * 0.75),
            -1,
        )
    return img


def _ink_alpha(
    digits: np.ndarray, labels: list[int], rng: np.random.Generator, h: int, w: int, rows: int
) -> tuple[np.ndarray, list[int]]:
    """Ink coverage (h, w) float32 in [0, 1] of the digits laid out in rows, and the labels in
    reading order. Each digit is scaled so that rows fit, with a little slope and jitter."""
    n = len(digits)
    per_row = int(np.ceil(n / rows))
    cell = min(0.8 * w / per_row, 0.75 * h / rows)
    digit_h = cell * rng.uniform(0.55, 0.7)  # leaves a gap between rows and digits
    scale = digit_h / 20.0  # an MNIST digit is ~20 px tall inside its 28x28 field
    side = int(round(28 * scale))
    alpha = np.zeros((h, w), np.float32)
    order = []
    for r in range(rows):
        idx = list(range(r * per_row, min(n, (r + 1) * per_row)))
        if not idx:
            continue
        x0 = (w - len(idx) * cell) / 2 + rng.uniform(-0.05, 0.05) * w
        y0 = (h - rows * cell) / 2 + r * cell + (cell - side) / 2
        slope = rng.uniform(-0.08, 0.08) / rows  # rows of a sheet must not run into each other
        for k, i in enumerate(idx):
            x = int(round(x0 + k * cell + (cell - side) / 2 + rng.uniform(-0.08, 0.08) * cell))
            y = int(round(y0 + slope * k * cell + rng.uniform(-0.05, 0.05) * cell))
            d = cv2.resize(digits[i], (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
            xa, ya = max(0, x), max(0, y)
            xb, yb = min(w, x + side), min(h, y + side)
            if xb > xa and yb > ya:
                patch = d[ya - y : yb - y, xa - x : xb - x]
                alpha[ya:yb, xa:xb] = np.maximum(alpha[ya:yb, xa:xb], patch)
            order.append(labels[i])
    return alpha, order


def _light(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth gradient, a vignette and a colour cast."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    gain = (1.0 + 0.15 * _smooth_field(rng, h, w, 3)) * (1.0 - rng.uniform(0.1, 0.35) * r2 / 2)
    cast = 1.0 + rng.uniform(-0.06, 0.06, 3).astype(np.float32)
    return img * gain[..., None] * cast


def _shadow(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A large shadow (a hand or the phone) with a straight, slightly soft edge across the sheet."""
    h, w = img.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    nx, ny = np.cos(angle), np.sin(angle)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    offset = rng.uniform(-0.3, 0.3) * min(h, w)
    dist = (xx - w / 2) * nx + (yy - h / 2) * ny - offset
    m = np.clip(0.5 + dist / rng.uniform(4, 20), 0, 1)
    return img * (1 - rng.uniform(0.15, 0.35) * m)[..., None]


def _perspective(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-0.04, 0.04, (4, 2)).astype(np.float32) * np.float32([w, h])
    return cv2.warpPerspective(
        img, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REFLECT
    )


def render_sheet(
    digits_uint8: np.ndarray,
    labels,
    rng: np.random.Generator,
    size: tuple[int, int] = (480, 640),
    rows: int = 1,
    paper: str | None = None,
    ink: str | None = None,
    light: bool = True,
    shadow: bool = True,
    perspective: bool = True,
    blur: bool = True,
    noise: bool = True,
    jpeg: bool = True,
    invert: bool = False,
) -> tuple[np.ndarray, str]:
    """MNIST digits (n, 28, 28) uint8 white-on-black + their labels -> (BGR uint8 (h, w, 3), text).

    ``size`` is (height, width) px; the digits are split over ``rows`` rows (reading order:
    rows top to bottom, each left to right, which is the returned text). ``paper`` and
    ``ink`` pick from PAPERS / INKS (random when None). ``invert`` gives light ink on a
    dark board. Each degradation can be switched off for a clean scene."""
    digits = np.asarray(digits_uint8)
    labels = [int(v) for v in labels]
    n = len(digits)
    if n == 0 or n != len(labels):
        raise ValueError(f"need as many digits as labels (got {n} digits, {len(labels)} labels)")
    h, w = size
    paper_bgr = np.array(PAPERS[paper or rng.choice(list(PAPERS))], np.float32)
    ink_bgr = np.array(INKS[ink or rng.choice(list(INKS))], np.float32)
    if invert:
        paper_bgr, ink_bgr = np.array((40, 45, 40), np.float32), np.array((235, 235, 230), np.float32)
    img = _paper(rng, h, w, paper_bgr)
    alpha, order = _ink_alpha(digits, labels, rng, h, w, max(1, min(rows, n)))
    alpha = np.clip(alpha * 1.3, 0, 1)[..., None] * rng.uniform(0.85, 1.0)
    img = img * (1 - alpha) + ink_bgr * alpha
    if light:
        img = _light(img, rng)
    if shadow:
        img = _shadow(img, rng)
    if perspective:
        img = _perspective(img, rng)
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.2))
    if noise:
        img = img + rng.normal(0, rng.uniform(2, 5), img.shape).astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if jpeg:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 90))])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out, "".join(str(v) for v in order)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_runtime.scenes", description=__doc__.splitlines()[0])
    p.add_argument(
        "--out", type=Path, default=Path("/tmp/scenes"), help="output folder (default: /tmp/scenes)"
    )
    p.add_argument("--count", type=int, default=8, help="number of scenes (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--mnist", default=os.environ.get("MNIST_PATH"), help="mnist.npz (default: $MNIST_PATH)")
    a = p.parse_args(argv)
    if not a.mnist:
        print("error: no MNIST file; set MNIST_PATH or pass --mnist", file=sys.stderr)
        return 2
    with np.load(a.mnist) as data:
        x, y = data["x_test"], data["y_test"]
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    for k in range(a.count):
        idx = rng.choice(len(x), int(rng.integers(1, 13)), replace=False)
        img, text = render_sheet(x[idx], y[idx], rng, rows=int(rng.integers(1, 4)))
        path = a.out / f"scene_{k:03d}_{text}.png"
        cv2.imwrite(str(path), img)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
