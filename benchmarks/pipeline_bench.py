"""The whole edge pipeline on frames: decode -> find -> normalize -> classify, per shipped model.

Two image sets:
- camera-like 640x480 frames rendered from MNIST test digits by
  ``edge_runtime.scenes.render_sheet`` (fixed seeds), written as JPEG like a webcam
  frame and decoded back by ``edge_runtime.imageio.load_image``;
- the labelled real photos in ``$DIGITS_PHOTOS_DIR`` (labels.json), when set.

Scores follow ``edge_runtime.evaluate``: digits read correctly =
sum(max(0, len(label) - edit distance)) / sum(len(label)); images read exactly =
fraction with text == label. No TensorFlow anywhere.

    python -m benchmarks --edge-only      # the pipeline table is part of every report
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STAGES = ("decode", "find", "normalize", "classify")


@dataclass(frozen=True)
class PipelineOptions:
    """Which frames the pipeline reads and how often."""

    frames: int = 40
    """Synthetic 640x480 frames rendered from MNIST test digits."""
    digits_per_frame: int = 10
    """MNIST digits drawn on each synthetic frame (10: the issue's 5 ms frame budget)."""
    rows: int = 2
    """Rows of digits per synthetic frame."""
    reps: int = 3
    """Timed reads of every image per model (after one warm-up read)."""
    jpeg_quality: int = 85
    """Quality of the JPEG each frame is stored as (a webcam-like encode)."""
    photos_dir: Path | None = None
    """Folder of real photos with labels.json; None skips that part."""
    max_photos: int | None = None
    """Read only the first n photos (sorted by name); None reads them all."""
    min_confidence: float = 0.0
    """Reader threshold; 0 always shows the best guess (as edge_runtime.evaluate scores)."""
    seed: int = 0
    """Seed for choosing digits and rendering frames."""


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: str


def render_frames(
    x_test: np.ndarray, y_test: np.ndarray, folder: Path, options: PipelineOptions
) -> list[LabelledImage]:
    """Render ``options.frames`` sheets of MNIST test digits to JPEG files in ``folder``."""
    import cv2

    from edge_runtime.scenes import render_sheet

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(options.frames):
        rng = np.random.default_rng([options.seed, i])
        pick = rng.choice(len(x_test), size=options.digits_per_frame, replace=False)
        # JPEG artefacts come from writing the file below (decoded again in the timed stage).
        image, text = render_sheet(
            x_test[pick], y_test[pick], rng, size=(480, 640), rows=options.rows, jpeg=False
        )
        path = folder / f"frame_{i:03d}.jpg"
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]):
            raise OSError(f"could not write frame {path}")
        out.append(LabelledImage(path, str(text)))
    return out


def real_photos(folder: Path) -> list[LabelledImage]:
    labels_file = folder / "labels.json"
    if not labels_file.is_file():
        raise FileNotFoundError(
            f"no labels.json in photos folder {folder}; set DIGITS_PHOTOS_DIR to a labelled folder"
        )
    labels = json.loads(labels_file.read_text())
    return [LabelledImage(folder / name, str(entry["digits"])) for name, entry in sorted(labels.items())]


def score(texts: list[str], labels: list[str]) -> dict:
    """Digit and image accuracy, the edge_runtime.evaluate way."""
    from edge_runtime.evaluate import EvaluateResult, ImageScore

    result = EvaluateResult([ImageScore.of("", t, lab) for t, lab in zip(texts, labels)])
    return {
        "digits_total": sum(len(lab) for lab in labels),
        "digit_accuracy": result.digit_accuracy,
        "image_accuracy": result.image_accuracy,
    }


def read_set(reader, images: list[LabelledImage], reps: int) -> dict:
    """Time every stage on every image ``reps`` times; score the first read of each."""
    from edge_runtime.imageio import ImageError, load_image

    stage_ms: dict[str, list[float]] = {s: [] for s in STAGES}
    total_ms: list[float] = []
    process_ms: list[float] = []  # find + normalize + classify: the frame budget, decode excluded
    texts, failures = [], []
    if images:  # warm-up: first-call allocations in OpenCV and the interpreter
        try:
            reader.read(load_image(images[0].path))
        except ImageError:
            pass
    for item in images:
        text = None
        for _ in range(reps):
            t0 = time.perf_counter()
            try:
                image = load_image(item.path)
            except ImageError as exc:  # one bad image never stops the benchmark
                failures.append(str(exc))
                text = ""
                break
            decode_ms = (time.perf_counter() - t0) * 1e3
            reading = reader.read(image)
            stage_ms["decode"].append(decode_ms)
            for s in STAGES[1:]:
                stage_ms[s].append(float(reading.timings_ms[s]))
            process_ms.append(sum(float(reading.timings_ms[s]) for s in STAGES[1:]))
            total_ms.append(decode_ms + process_ms[-1])
            if text is None:
                text = reading.text
        texts.append(text or "")
    labels = [item.label for item in images]
    median_total = float(np.median(total_ms)) if total_ms else float("nan")
    return {
        "images": len(images),
        "stage_ms": {s: float(np.median(v)) if v else float("nan") for s, v in stage_ms.items()},
        "total_ms": median_total,
        "total_ms_p90": float(np.percentile(total_ms, 90)) if total_ms else float("nan"),
        "process_ms": float(np.median(process_ms)) if process_ms else float("nan"),
        "process_ms_min": float(np.min(process_ms)) if process_ms else float("nan"),
        "fps": 1e3 / median_total if total_ms else 0.0,
        **score(texts, labels),
        "failures": failures,
        "readings": [
            {"image": item.path.name, "label": item.label, "text": t} for item, t in zip(images, texts)
        ],
    }


def run_pipeline(
    models: list[dict],
    frames: list[LabelledImage],
    photos: list[LabelledImage] | None,
    options: PipelineOptions,
) -> dict:
    """Per model (dicts with "name" and "path"): results on frames and, if given, on photos."""
    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.pipeline import DigitReader

    out: dict = {"models": {}}
    for m in models:
        try:
            classifier = DigitClassifier(m["path"], num_threads=1)
        except (RuntimeError, ValueError) as exc:  # one bad model never stops the others
            out["models"][m["name"]] = {"error": str(exc)}
            continue
        reader = DigitReader(classifier, min_confidence=options.min_confidence)
        entry = {"frames": read_set(reader, frames, options.reps)}
        if photos:
            entry["photos"] = read_set(reader, photos, options.reps)
        out["models"][m["name"]] = entry
    return out
