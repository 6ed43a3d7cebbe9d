"""Read every digit in an image: find (segment) -> normalize (preprocess) -> classify (LiteRT).

from edge_runtime.classifier import DigitClassifier
from edge_runtime.pipeline import DigitReader
reading = DigitReader(DigitClassifier("models/lstm.tflite")).read(image)   # BGR or grey uint8
reading.text, reading.digits, reading.timings_ms

python -m edge_runtime.pipeline photo.jpg [MODEL.tflite]   # print the reading
"""

from __future__ import annotations

import ctypes
import platform
import sys
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_runtime.contract import MIN_CONFIDENCE
from edge_runtime.preprocess import DEFAULT as NORMALIZE_DEFAULT
from edge_runtime.preprocess import NormalizeOptions, normalize_digit
from edge_runtime.segment import DEFAULT as SEGMENT_DEFAULT
from edge_runtime.segment import Blob, FinderInputError, SegmentOptions, find_digit_candidates

STREAM_REFRESH = 15
"""Camera and serve modes decide the ink polarity (and whether the digits need the closer look)
afresh every this many frames (half a second at 30 FPS): a new sheet in view is picked up at once
anyway, when the reused polarity finds nothing."""

HEAP_KEEP_MB = 16
"""glibc: buffers up to this size come from the heap, and up to twice it of freed memory stays there
for the next frame (``keep_freed_memory``): a 1024 px working map is at most 4 MB."""

UNSURE = "?"
"""Shown instead of a digit whose confidence is below min_confidence."""

WARM_UP_PAGES = (
    # (font scale, rows of text, px between rows, light ink on dark)
    (3.0, ("01234", "56789"), 30, False),  # digits tall enough for the first pass alone
    (1.2, ("0  1  2  3  4", "5  6  7  8  9"), 40, False),  # small, apart: the fine ink only (refine)
    (0.7, ("0123456789", "9876543210", "1357924680"), 4, True),  # small, close: the closer look
)
"""The pages ``warm_up_pages`` prints: each takes one of the finder's paths, the last one in light
ink (the remapped polarity)."""


def warm_up_pages() -> list[np.ndarray]:
    """640x480 grey pages of digits printed in OpenCV's Hershey font (no data file needed), one
    for each of the finder's paths (``WARM_UP_PAGES``), for ``DigitReader.warm_up``."""
    pages = []
    for scale, rows, gap, light in WARM_UP_PAGES:
        page = np.full((480, 640), 205, np.uint8)
        y = 60
        for text in rows:
            cv2.putText(page, text, (20, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 50, max(1, int(scale * 2.2)))
            y += int(scale * 40) + gap
        pages.append(255 - page if light else page)
    return pages


def keep_freed_memory(mb: int = HEAP_KEEP_MB) -> bool:
    """Ask glibc's malloc to keep freed buffers for reuse instead of handing them back to the OS.

    A 640x480 frame's maps (the ink map, masks, labels: a few MB) are allocated and freed once a
    frame. By default glibc serves the large ones from fresh pages (``mmap``, or a heap top it has
    just trimmed), zeroed and faulted in on first touch: measured ~600 page faults a plain frame in
    ``find_digit_candidates`` alone (the time it costs: the report's finder profile, which reads
    through a DigitReader). Fixed thresholds keep them in the heap: the same code and results,
    at the cost of keeping up to ``2 * mb`` MB of freed memory. Process-wide and one-way (glibc
    has no undo); another C library (musl, macOS, Windows) is left alone.
    -> whether the setting was made."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, mb << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 2 * mb << 20))


def _clearly_better(new: tuple[float, float, int], old: tuple[float, float, int]) -> bool:
    """Whether candidate ``new`` (mean confidence, mean confidence x ink peak, count) beats
    ``old``: about as confident (at most 0.02 less) and either 1.6x the confidence x contrast,
    or 4x the blobs or 0.2 more mean confidence with no less of it. (Measured on the dev photos,
    their negatives and the seed image's, under scaling, rotation, noise, blur and contrast
    changes: the wrong candidate never passed, the right one always did.)"""
    if old[2] == 0:
        return new[2] > 0
    if new[0] < old[0] - 0.02:
        return False
    return new[1] >= 1.6 * old[1] or (new[1] >= old[1] and (new[2] >= 4 * old[2] or new[0] >= old[0] + 0.2))


BEST_CASE_SLACK = 1e-5
"""Relative slack above the mean peak in ``_best_case``: a mean of up to 256 float32 values is
within ~5e-7 of its exact value, whichever precision the two means are taken in."""


def _best_case(peak: np.ndarray) -> tuple[float, float, int]:
    """At least the score (``_clearly_better``'s) a candidate list whose blobs' ink peaks are
    ``peak`` can get from the classifier: every confidence 1, so mean(confidence x peak) at most
    the mean peak. ``_clearly_better`` never decreases as the mean confidence or that product
    grows, so a list that loses in its best case loses, and is not read. (On the frames of
    benchmarks.readings_check and the finder profile, all 35 second lists that held blobs lost
    in their best case: 138 digits not normalised and classified.)"""
    if len(peak) == 0:
        return 0.0, 0.0, 0
    return 1.0, float(peak.mean()) * (1.0 + BEST_CASE_SLACK), len(peak)


def to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 grey (H, W), (H, W, 1), BGR (H, W, 3) or BGRA (H, W, 4) -> uint8 grey (H, W)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = getattr(image, "dtype", type(image).__name__)
        raise FinderInputError(f"expected a uint8 image, got {kind}; decode it with edge_runtime.imageio")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (1, 3, 4) and image.size > 0:
        if image.shape[2] == 1:
            return image[:, :, 0]
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(image, code)
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        return np.zeros(image.shape[:2], np.uint8)  # empty: nothing to read
    raise FinderInputError(f"expected a grey (H, W) or colour (H, W, 3|4) image, got shape {image.shape}")


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
    dropped: int = 0
    """Digits found beyond ``SegmentOptions.max_digits`` and not read (0: none)."""

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "digits": [
                {"label": d.label, "confidence": round(d.confidence, 4), "box": list(d.box)}
                for d in self.digits
            ],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            **({"dropped": self.dropped} if self.dropped else {}),
        }


class DigitReader:
    """Finds, normalizes and classifies all digits of an image with one DigitClassifier."""

    def __init__(
        self,
        classifier,
        min_confidence: float = MIN_CONFIDENCE,
        segment: SegmentOptions = SEGMENT_DEFAULT,
        normalize: NormalizeOptions = NORMALIZE_DEFAULT,
        opencv_threads: int | None = 1,
        stream_refresh: int = 0,
        keep_memory: bool = True,
        prepare_batches: bool = True,
        warm_up: bool = True,
    ):
        self.classifier = classifier
        # Every batch size's interpreter is made now (``DigitClassifier.prepare_batches``): a frame
        # whose digit count needed a new one paid ~5 ms for it, up to four times in a run.
        if prepare_batches:
            classifier.prepare_batches()
        # Freed frame buffers stay in the process's heap for the next frame (glibc; process-wide
        # and one-way, see ``keep_freed_memory``). False: the C library's own behaviour.
        if keep_memory:
            keep_freed_memory()
        # OpenCV's worker threads cost more than they save on these small images (measured: a
        # 320x240 labelling took longer with 2 threads than with 1), and the edge budget is one core.
        # OpenCV's thread count is process-wide: it is set only for the duration of ``read`` and
        # restored after, so the rest of the process keeps its own (None: leave it alone).
        self.opencv_threads = opencv_threads
        # Camera and serve modes (stream_refresh = N > 0): consecutive frames show the same
        # sheet, so the ink polarity that won on one frame (including the classifier's choice
        # when the cheap votes could not tell) is reused for the next N - 1 frames without the
        # votes or a second search, and so is whether its digits needed the closer look (then
        # the coarse pass is skipped); then both are decided again, and at once when the reused
        # polarity finds nothing. 0: every frame from scratch (photos, batches).
        self.stream_refresh = int(stream_refresh)
        self._stream_dark: bool | None = None
        self._stream_closer = False
        self._stream_left = 0
        self.min_confidence = float(min_confidence)
        self.model_info: dict = {}
        """What every record says of the model ({"model", "model_source"}); set by whoever picked it."""
        self.segment = segment
        self.normalize = normalize
        # A process's first read paid 2-4 ms more than the next ones (OpenCV's and numpy's first
        # calls of each function): read the warm-up pages now, before the first frame.
        if warm_up:
            self.warm_up()

    def warm_up(self) -> None:
        """Read ``warm_up_pages`` once (the readings are dropped; stream mode's memory of the
        polarity is left as it was), so that the first real frame costs what the next ones do.
        Measured on x86 (AMD EPYC, one thread): ~15-30 ms here; a photo's first read 6.8-7.7 ->
        3.7-4.6 ms, its next ones 3.7-4.0."""
        from edge_runtime.classifier import ModelError

        kept = self._stream_dark, self._stream_closer, self._stream_left
        try:
            for page in warm_up_pages():
                self.read(page)
        except ModelError:
            pass  # a broken model (NaN logits): each real read reports it, as without the warm-up
        finally:
            self._stream_dark, self._stream_closer, self._stream_left = kept

    def read(self, image: np.ndarray) -> Reading:
        """uint8 BGR (H, W, 3), BGRA (H, W, 4) or grey (H, W) / (H, W, 1) image -> Reading;
        anything else raises FinderInputError."""
        threads = self.opencv_threads
        before = cv2.getNumThreads() if threads is not None else None
        if before is not None and before != threads:
            cv2.setNumThreads(threads)
        try:
            return self._read(image)
        finally:
            if before is not None and before != threads:
                cv2.setNumThreads(before)

    def _read(self, image: np.ndarray) -> Reading:
        t0 = time.perf_counter()
        known = self._stream_dark if self._stream_left > 0 else None
        closer = known is not None and self._stream_closer
        candidates = find_digit_candidates(to_grey(image), self.segment, dark=known, closer=closer)
        t1 = time.perf_counter()
        if len(candidates) == 1:  # the polarity was clear: nothing to choose between
            blobs = candidates[0]
            x, probs, tn, tc = self._classify(blobs)
        else:
            blobs, x, probs, tn, tc = self._choose(candidates)
        if self.stream_refresh > 0:
            self._remember_polarity(known, blobs)
        labels = probs.argmax(axis=1).tolist() if len(probs) else []
        sure = probs.max(axis=1).tolist() if len(probs) else []
        digits = [Digit(k, p, b.box) for k, p, b in zip(labels, sure, blobs)]
        text = "".join(str(d.label) if d.confidence >= self.min_confidence else UNSURE for d in digits)
        find = (t1 - t0) * 1e3
        ms = {"find": find, "normalize": tn, "classify": tc, "total": find + tn + tc}
        return Reading(
            digits=digits, text=text, timings_ms=ms, inputs=x, dropped=getattr(blobs, "dropped", 0)
        )

    def _choose(self, candidates: list) -> tuple:
        """Two candidate lists (the ink's polarity was ambiguous), the likelier one first ->
        (the blobs read, their inputs, probabilities, normalize ms, classify ms). The wrong
        polarity finds loop interiors, paper between strokes and show-through: fainter blobs,
        read with less confidence. So the other replaces the first only when it reads at least
        about as confidently and its blobs are clearly stronger (mean confidence x ink
        contrast) or far more numerous."""
        tn = tc = 0.0  # normalize / classify ms
        best = None
        for blobs in candidates:
            peak = np.array([float(b.ink.max()) for b in blobs], np.float32)
            if best is not None and not _clearly_better(_best_case(peak), best[0]):
                continue  # it cannot win, whatever the classifier says: not read
            x, probs, dt_n, dt_c = self._classify(blobs)
            tn, tc = tn + dt_n, tc + dt_c
            conf = probs.max(axis=1) if len(probs) else np.zeros(0, np.float32)
            score = (
                (float(conf.mean()), float((conf * peak).mean()), len(blobs)) if len(blobs) else (0.0, 0.0, 0)
            )
            if best is None or _clearly_better(score, best[0]):
                best = (score, blobs, x, probs)
        _, blobs, x, probs = best
        return blobs, x, probs, tn, tc

    def _remember_polarity(self, known: bool | None, blobs) -> None:
        """Stream mode: keep the winning polarity for the next frames (see ``__init__``)."""
        if known is None:
            self._stream_dark = getattr(blobs, "dark", None)
            self._stream_closer = bool(getattr(blobs, "closer", False))
            self._stream_left = self.stream_refresh - 1 if self._stream_dark is not None else 0
        elif not blobs:
            self._stream_left = 0
        else:
            self._stream_left -= 1

    def _classify(self, blobs: list[Blob]) -> tuple[np.ndarray, np.ndarray, float, float]:
        """blobs -> ((n, 28, 28) inputs, (n, 10) probabilities, normalize ms, classify ms)."""
        t0 = time.perf_counter()
        x = (
            np.stack([normalize_digit(b.ink, self.normalize) for b in blobs])
            if blobs
            else np.zeros((0, 28, 28), np.float32)
        )
        t1 = time.perf_counter()
        probs = self.classifier.probabilities(x) if len(x) else np.zeros((0, 10), np.float32)
        t2 = time.perf_counter()
        return x, probs, (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2):
        print("usage: python -m edge_runtime.pipeline IMAGE [MODEL.tflite]", file=sys.stderr)
        return 2
    from edge_runtime.classifier import DigitClassifier, ModelError
    from edge_runtime.imageio import ImageError, load_image
    from edge_runtime.manifest import resolve_model, temperature_for

    try:
        path = resolve_model(argv[1] if len(argv) == 2 else None)
        reader = DigitReader(DigitClassifier(path, temperature=temperature_for(path)), warm_up=False)
        reading = reader.read(load_image(argv[0]))
    except (ImageError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(reading.text, reading.as_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
