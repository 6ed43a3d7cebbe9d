"""Score the reader on a folder of labelled photos (labels.json: {"file": {"digits": "123"}}).

Digit score = sum(len(label) - edit_distance(text, label)) / sum(len(label)), floored at 0
per image; image score = fraction of images read exactly.

    python -m edge_runtime.evaluate $DIGITS_PHOTOS_DIR [--model models/x.tflite] [--save /tmp/eval]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class EvaluateOptions:
    folder: Path
    """Folder with the images and labels.json."""
    model: str | None = None
    """TFLite model; default: $DIGITS_MODEL or the manifest default."""
    save: Path | None = None
    """Write annotated copies here when set."""
    min_confidence: float = 0.0
    """Below it a digit reads as '?' (0: always show the best guess)."""


@dataclass
class ImageScore:
    name: str
    label: str
    text: str
    correct: int
    """len(label) - edit distance, at least 0."""

    @classmethod
    def of(cls, name: str, text: str, label: str) -> ImageScore:
        return cls(name, label, text, max(0, len(label) - edit_distance(text, label)))


@dataclass
class EvaluateResult:
    images: list[ImageScore] = field(default_factory=list)

    @property
    def digit_accuracy(self) -> float:
        total = sum(len(s.label) for s in self.images)
        return sum(s.correct for s in self.images) / total if total else 0.0

    @property
    def image_accuracy(self) -> float:
        return sum(s.text == s.label for s in self.images) / len(self.images) if self.images else 0.0


def evaluate(options: EvaluateOptions, reader=None) -> EvaluateResult:
    from edge_runtime.annotate import annotate
    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.imageio import ImageError, load_image
    from edge_runtime.manifest import resolve_model, temperature_for
    from edge_runtime.pipeline import DigitReader

    labels = json.loads((options.folder / "labels.json").read_text())
    if reader is None:
        path = resolve_model(options.model)
        reader = DigitReader(
            DigitClassifier(path, temperature=temperature_for(path)), min_confidence=options.min_confidence
        )
    result = EvaluateResult()
    for name in sorted(labels):
        label = str(labels[name]["digits"])
        try:
            image = load_image(options.folder / name)
            reading = reader.read(image)
            text = reading.text
        except ImageError:
            text, reading = "", None
        result.images.append(ImageScore.of(name, text, label))
        if options.save and reading is not None:
            import cv2

            options.save.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(options.save / (Path(name).stem + ".png")), annotate(image, reading))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_runtime.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="folder with images and labels.json")
    p.add_argument(
        "--model", default=None, help="TFLite model (default: $DIGITS_MODEL or the manifest default)"
    )
    p.add_argument(
        "--save", type=Path, default=None, help="write annotated copies to this folder (default: none)"
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="below this a digit reads as '?' (default: 0, always the best guess)",
    )
    a = p.parse_args(argv)
    from edge_runtime.classifier import ModelError

    try:
        result = evaluate(EvaluateOptions(a.folder, a.model, a.save, a.min_confidence))
    except (ModelError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for s in result.images:
        mark = "ok " if s.text == s.label else "BAD"
        print(f"{mark} {s.name:16s} {s.correct:3d}/{len(s.label):<3d} read {s.text!r:24s} label {s.label!r}")
    n = sum(len(s.label) for s in result.images)
    print(
        f"digits {result.digit_accuracy:.1%} ({sum(s.correct for s in result.images)}/{n}), "
        f"images exact {result.image_accuracy:.1%} ({sum(s.text == s.label for s in result.images)}/{len(result.images)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
