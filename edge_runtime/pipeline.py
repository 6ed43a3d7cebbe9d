"""Read every digit in an image: find (segment) -> normalize (preprocess) -> classify (LiteRT).

    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.pipeline import DigitReader
    reading = DigitReader(DigitClassifier("models/lstm.tflite")).read(image)   # BGR or grey uint8
    reading.text, reading.digits, reading.timings_ms

    python -m edge_runtime.pipeline photo.jpg [MODEL.tflite]   # print the reading
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_runtime.preprocess import DEFAULT as NORMALIZE_DEFAULT
from edge_runtime.preprocess import NormalizeOptions, normalize_digit
from edge_runtime.segment import DEFAULT as SEGMENT_DEFAULT
from edge_runtime.segment import SegmentOptions, find_digits

UNSURE = "?"
"""Shown instead of a digit whose confidence is below min_confidence."""


@dataclass(frozen=True)
class Digit:
    label: int
    """Most likely class 0-9 (kept even when unsure)."""
    confidence: float
    """Softmax probability of ``label``, 0..1."""
    box: tuple[int, int, int, int]
    """(x, y, w, h) in the input image's pixels."""


@dataclass
class Reading:
    digits: list[Digit]
    """In reading order: rows top to bottom, each left to right."""
    text: str
    """The digits read, ``?`` for each one below min_confidence."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds spent in "find", "normalize", "classify" (and "total")."""
    inputs: np.ndarray | None = field(default=None, repr=False)
    """(n, 28, 28) normalized inputs that were classified (for debugging and tests)."""

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "digits": [{"label": d.label, "confidence": round(d.confidence, 4), "box": list(d.box)} for d in self.digits],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }


class DigitReader:
    """Finds, normalizes and classifies all digits of an image with one DigitClassifier."""

    def __init__(
        self,
        classifier,
        min_confidence: float = 0.5,
        segment: SegmentOptions = SEGMENT_DEFAULT,
        normalize: NormalizeOptions = NORMALIZE_DEFAULT,
    ):
        self.classifier = classifier
        # OpenCV's worker threads cost more than they save on these small images (measured: a
        # 320x240 labelling took longer with 2 threads than with 1), and the edge budget is one core.
        cv2.setNumThreads(1)
        self.min_confidence = float(min_confidence)
        self.segment = segment
        self.normalize = normalize

    def read(self, image: np.ndarray) -> Reading:
        """uint8 BGR (H, W, 3) or grey (H, W) image -> Reading."""
        t0 = time.perf_counter()
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        blobs = find_digits(grey, self.segment)
        t1 = time.perf_counter()
        x = np.stack([normalize_digit(b.ink, self.normalize) for b in blobs]) if blobs else np.zeros((0, 28, 28), np.float32)
        t2 = time.perf_counter()
        probs = self.classifier.probabilities(x) if len(x) else np.zeros((0, 10), np.float32)
        t3 = time.perf_counter()
        labels = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
        digits = [Digit(int(k), float(p[k]), b.box) for k, p, b in zip(labels, probs, blobs)]
        text = "".join(str(d.label) if d.confidence >= self.min_confidence else UNSURE for d in digits)
        ms = {"find": (t1 - t0) * 1e3, "normalize": (t2 - t1) * 1e3, "classify": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}
        return Reading(digits=digits, text=text, timings_ms=ms, inputs=x)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2):
        print("usage: python -m edge_runtime.pipeline IMAGE [MODEL.tflite]", file=sys.stderr)
        return 2
    from edge_runtime.classifier import DigitClassifier, ModelError
    from edge_runtime.imageio import ImageError, load_image
    from edge_runtime.manifest import resolve_model

    try:
        reader = DigitReader(DigitClassifier(resolve_model(argv[1] if len(argv) == 2 else None)))
        reading = reader.read(load_image(argv[0]))
    except (ImageError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(reading.text, reading.as_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
