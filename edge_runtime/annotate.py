"""Draw a Reading on a copy of its image: a box, the digit and its confidence per digit, FPS."""

from __future__ import annotations

import os

import cv2
import numpy as np


def annotate(image: np.ndarray, reading, fps: float | None = None, min_confidence: float = 0.0) -> np.ndarray:
    """uint8 BGR or grey image + Reading -> annotated BGR copy."""
    vis = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    thick = max(1, round(max(vis.shape[:2]) / 400))
    font = max(0.4, max(vis.shape[:2]) / 1200)
    for d in reading.digits:
        x, y, w, h = d.box
        ok = d.confidence >= min_confidence
        colour = (0, 180, 0) if ok else (0, 0, 255)
        cv2.rectangle(vis, (x, y), (x + w, y + h), colour, thick)
        label = f"{d.label if ok else '?'} {d.confidence:.2f}"
        cv2.putText(
            vis, label, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, font, colour, thick, cv2.LINE_AA
        )
    if fps is not None:
        cv2.putText(
            vis,
            f"{fps:.1f} FPS",
            (8, 8 + int(24 * font / 0.6)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font,
            (255, 0, 255),
            thick,
        )
    return vis


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Encode with OpenCV and write the bytes with Python: ``cv2.imwrite`` takes a UTF-8 ``str``
    and crashed the process (segfault) on a file name that is not valid UTF-8, which a
    ``bytes``-safe ``open`` handles. ``OSError`` if the file cannot be written."""
    ext = os.path.splitext(os.fsdecode(path))[1] or ".png"
    ok, buf = cv2.imencode(ext, image)
    if not ok:
        raise OSError(f"cannot encode an image as {ext}")
    with open(os.fsencode(path), "wb") as f:
        f.write(buf.tobytes())
