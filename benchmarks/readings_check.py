"""Readings check: does a change to the finder or the normaliser read any frame differently?

Reads a broad set of frames with this code and with an earlier commit (a ``git worktree``, as
the finder profile does), on the same model and the same pixels, and lists every frame whose
text differs, with the digits read right per set. A change that is not exact (a faster but
slightly different ink map, another threshold) is judged on this, not on three photo sets:

- ``plain``: 10 MNIST test digits on flat paper (``finder_profile.plain_frame``) at random
  digit sizes (44-71 px fields: the digits straddle the closer look's threshold), paper and
  ink levels and noise; every other frame's digits written with a thin pen
  (``training.styles.thin_pen``);
- ``rendered``: ``edge_runtime.scenes.render_sheet`` scenes, one or two rows, a quarter of them
  light on dark;
- ``large``: the same at camera and photo sizes (``finder_profile.LARGE_SIZES``, 720p to 12 MP);
- ``photos`` and ``negatives``: the labelled photos in ``$DIGITS_PHOTOS_DIR`` at their own size
  and scaled to 400-3072 px on the longer side (shrunk both by area averaging and by plain
  bilinear sampling), and their negatives.

Timing is not measured here (``benchmarks.finder_profile`` does that).

    python -m benchmarks.readings_check --baseline HEAD     # this working tree against HEAD
    python -m benchmarks.readings_check --model new.tflite --baseline-model models/old.tflite
                                                            # a retrained model against the old one
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

SCALES = (400, 480, 560, 640, 720, 800, 960, 1200, 1920, 3072, None)
"""Longer side (px) the photos are read at; None: as taken. (1920 and 3072, enlarged: frames the
finder shrinks by a whole factor, 2 and 3, before its closer look.)"""


def write_frames(folder: Path, photos_dir: Path | None, synthetic: int = 120, seed: int = 5) -> list[dict]:
    """The frames as PNG files in ``folder`` -> [{"file", "set", "label"}] (also frames.json)."""
    import cv2

    from benchmarks.finder_profile import LARGE_SIZES, _save, plain_frame
    from edge_runtime.scenes import render_sheet
    from training.styles import thin_pen

    mnist = os.environ.get("MNIST_PATH")
    if not mnist:
        raise FileNotFoundError("MNIST_PATH is not set (point it at mnist.npz)")
    with np.load(mnist) as data:
        x, y = data["x_test"], data["y_test"]
    rng = np.random.default_rng(seed)
    frames: list[dict] = []

    def add(kind: str, image: np.ndarray, label: str) -> None:
        frames.append({"set": kind, **_save(folder, f"{kind}_{len(frames):04d}.png", image, label)})

    for i in range(synthetic):
        pick = rng.choice(len(x), 10, replace=False)
        digits = x[pick]
        if i % 2:
            thin = [thin_pen(d, rng) for d in digits]
            digits = np.stack([t if t is not None else d for t, d in zip(thin, digits)])
        side, paper, ink, noise = int(rng.integers(44, 72)), *rng.uniform((150, 20, 1), (230, 90, 6))
        label = "".join(map(str, y[pick]))
        add("plain", plain_frame(digits, rng, side, paper, ink, noise), label)
    for i in range(synthetic * 2 // 3):
        pick = rng.choice(len(x), 10, replace=False)
        image, text = render_sheet(x[pick], y[pick], rng, rows=int(rng.integers(1, 3)), invert=i % 4 == 3)
        add("rendered", image, text)
    for i in range(synthetic // 3):
        pick = rng.choice(len(x), 10, replace=False)
        size = LARGE_SIZES[i % len(LARGE_SIZES)]
        image, text = render_sheet(
            x[pick], y[pick], rng, size, rows=int(rng.integers(1, 3)), invert=i % 4 == 3
        )
        add("large", image, text)
    if photos_dir is not None:
        labels = json.loads((Path(photos_dir) / "labels.json").read_text())
        for name, entry in sorted(labels.items()):
            photo = cv2.imread(str(Path(photos_dir) / name), cv2.IMREAD_COLOR)
            if photo is None:
                continue
            h, w = photo.shape[:2]
            for side in SCALES:
                s = 1.0 if side is None else side / max(h, w)
                size = (round(w * s), round(h * s))
                # Area averaging when shrinking (as finder_profile.fit_frame, a camera's binning),
                # and shrunk once more with plain bilinear sampling (a cheap scaler's aliasing).
                images = [photo] if side is None else [cv2.resize(photo, size, interpolation=cv2.INTER_AREA)]
                if s < 1:
                    images.append(cv2.resize(photo, size, interpolation=cv2.INTER_LINEAR))
                elif side is not None:
                    images = [cv2.resize(photo, size, interpolation=cv2.INTER_LINEAR)]
                for image in images:
                    add("photos", image, entry["digits"])
                    add("negatives", 255 - image, entry["digits"])
    (folder / "frames.json").write_text(json.dumps(frames))
    return frames


def read_frames(folder: Path, model: Path) -> dict:
    """The worker: read every frame with the importable ``edge_runtime`` -> {file: text}."""
    import cv2

    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.pipeline import DigitReader

    reader = DigitReader(DigitClassifier(model, num_threads=1), min_confidence=0.0)
    frames = json.loads((folder / "frames.json").read_text())
    return {
        f["file"]: reader.read(cv2.imread(str(folder / f["file"]), cv2.IMREAD_COLOR)).text for f in frames
    }


def compare(frames: list[dict], new: dict, old: dict) -> dict:
    """Per set: digits read right by each code (edit distance to the label), frames read differently."""
    from edge_runtime.evaluate import edit_distance

    out: dict = {}
    for f in frames:
        s = out.setdefault(f["set"], {"frames": 0, "digits": 0, "new": 0, "old": 0, "changed": []})
        label = f["label"]
        s["frames"] += 1
        s["digits"] += len(label)
        for key, texts in (("new", new), ("old", old)):
            s[key] += max(0, len(label) - edit_distance(texts[f["file"]], label))
        if new[f["file"]] != old[f["file"]]:
            s["changed"].append(
                {"file": f["file"], "label": label, "old": old[f["file"]], "new": new[f["file"]]}
            )
    return out


def run_check(
    baseline: str,
    model: Path,
    photos_dir: Path | None,
    synthetic: int = 120,
    baseline_model: Path | None = None,
) -> dict:
    """-> {"baseline": {"ref", "commit"}, "model", "baseline_model", "sets": compare(...)}: the
    frames read by the code at ``baseline`` (a temporary git worktree) with ``baseline_model``
    (default: ``model``) and by this code with ``model``. With two models and ``baseline``
    HEAD, it checks a retrained model instead of a code change: the finder's choices (polarity,
    what is a digit) lean on the classifier's confidence, so a new model can change them."""
    baseline_model = baseline_model or model
    from benchmarks.finder_profile import baseline_worktree, run_worker

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="readings_check_") as tmp:
        folder = Path(tmp) / "frames"
        folder.mkdir()
        frames = write_frames(folder, photos_dir, synthetic)
        with baseline_worktree(baseline, tmp) as (worktree, commit):
            old = run_worker(worktree, __file__, [str(folder), str(baseline_model)])
        new = run_worker(root, __file__, [str(folder), str(model)])
    return {
        "baseline": {"ref": baseline, "commit": commit},
        "model": model.name,
        "baseline_model": baseline_model.name,
        "sets": compare(frames, new, old),
    }


def measure_readings_check(context) -> dict:
    """The report's section (benchmarks.sections), with ``--baseline`` only: the shipped default
    model, the run's photos, fewer frames in a quick run."""
    from benchmarks.finder_profile import _default_model

    o = context.options
    if not o.baseline:
        raise ValueError("no --baseline to compare with")
    return run_check(o.baseline, _default_model(), o.pipeline.photos_dir, 6 if o.quick else 120)


def render_readings_check(data: dict) -> str:
    ref, commit = data["baseline"]["ref"], data["baseline"]["commit"]
    intro = (
        f"Every frame read by the previous code (`{ref}`, {commit[:10]}) and by this code with "
        f"`{data['model']}` (`python -m benchmarks.readings_check --baseline {ref}`): plain frames "
        "with digits of many sizes, pens, contrasts and noise, rendered scenes at 640x480 and at camera "
        "and photo sizes (720p to 12 MP), and the labelled "
        "photos at eleven sizes (400-3072 px and as taken) and two ways of shrinking, with their negatives."
    )
    return f"## Readings check against the previous code\n\n{intro}\n\n{render(data['sets'], ref)}"


def render(result: dict, baseline: str) -> str:
    lines = [
        f"| set | frames | digits right, {baseline} | digits right, this code | frames read differently |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, s in result.items():
        lines.append(
            f"| {kind} | {s['frames']} | {s['old']}/{s['digits']} | {s['new']}/{s['digits']} | {len(s['changed'])} |"
        )
    for s in result.values():
        for c in s["changed"]:
            lines.append(f"- {c['file']}: label {c['label']}, {baseline} read {c['old']!r}, now {c['new']!r}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        print(json.dumps(read_frames(Path(argv[1]), Path(argv[2]))))
        return 0
    from benchmarks.finder_profile import _default_model

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.readings_check", description=__doc__.splitlines()[0]
    )
    p.add_argument("--baseline", default="HEAD", help="git ref of the code to compare with (default: HEAD)")
    p.add_argument("--model", type=Path, help="TFLite model (default: the shipped default)")
    p.add_argument(
        "--synthetic", type=int, default=120, help="plain frames (rendered: two thirds of it, large: a third)"
    )
    p.add_argument(
        "--baseline-model",
        type=Path,
        help="TFLite model the baseline code reads with (default: --model); with --baseline HEAD "
        "this compares two models on the same code",
    )
    p.add_argument("--out", type=Path, help="write the JSON here")
    a = p.parse_args(argv)
    model = a.model.resolve() if a.model else _default_model()
    old_model = a.baseline_model.resolve() if a.baseline_model else None
    photos = os.environ.get("DIGITS_PHOTOS_DIR")
    data = run_check(a.baseline, model, Path(photos) if photos else None, a.synthetic, old_model)
    if a.out:
        a.out.write_text(json.dumps(data, indent=1))
    two_models = data["baseline_model"] != data["model"]
    print(render(data["sets"], f"{a.baseline} with {data['baseline_model']}" if two_models else a.baseline))
    return 1 if any(s["new"] < s["old"] for s in data["sets"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
