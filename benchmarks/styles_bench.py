"""Writing styles and confidence: accuracy, calibration and risk-coverage of a shipped model.

Sets: the MNIST test set; the style suite (MNIST *test* digits put through the edits of
``training/styles.py`` with a fixed seed: never trained on); the labelled photos in
$DIGITS_PHOTOS_DIR read by the whole edge pipeline, and the same photos' negatives (light
ink on dark). For each set: accuracy, per-class accuracy, expected calibration error with
the raw softmax (T = 1) and with the manifest's temperature, and the risk-coverage curve
(error rate among the digits shown against the share shown, as ``--min-confidence``
rises). Last, the default ``--min-confidence`` the rule below picks, with the share of
misreads it turns into ``?`` and the share of right readings it costs, per set.

    python -m benchmarks.styles_bench                 # default model; markdown to stdout
    python -m benchmarks.styles_bench --model models/lstm_fused_float32.tflite --json /tmp/styles.json

Self-contained on purpose (its own helpers): the results are one dict for report.json and
``render_styles(data)`` turns it into markdown; plots go to benchmarks/reports/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from edge_runtime.classifier import softmax
from export.calibrate import calibration_error as ece

REPORTS = Path(__file__).resolve().parent / "reports"
THRESHOLDS = [round(t, 2) for t in np.arange(0.0, 1.0, 0.05)] + [0.97, 0.99]
"""--min-confidence values on the risk-coverage curves."""
MAX_RIGHT_COST = 0.01
"""The default --min-confidence rule: the highest threshold that hides at most this share of
the right readings of the MNIST test set and the style suite taken together (digits the model
never saw, none of them the photos, so the photos measure the choice instead of making it)."""


# ---------------------------------------------------------------- small helpers


def risk_coverage(conf: np.ndarray, right: np.ndarray) -> list[dict]:
    """Per threshold: share of digits shown, error rate among them, misreads caught, right cost."""
    wrong = ~right
    rows = []
    for t in THRESHOLDS:
        shown = conf >= t
        rows.append(
            {
                "threshold": t,
                "coverage": float(shown.mean()) if len(conf) else 0.0,
                "risk": float(wrong[shown].mean()) if shown.any() else 0.0,
                "misreads_caught": float((~shown & wrong).sum() / wrong.sum()) if wrong.any() else None,
                "right_cost": float((~shown & right).sum() / right.sum()) if right.any() else 0.0,
            }
        )
    return rows


def align(read: str, label: str) -> tuple[list[tuple[int, int]], list[int], int]:
    """Levenshtein alignment of the digits read with the label: (pairs (read index, label index)
    for matches and substitutions, read indices that are extra, number of label digits missed)."""
    n, m = len(read), len(label)
    d = np.zeros((n + 1, m + 1), int)
    d[:, 0], d[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (read[i - 1] != label[j - 1]))
    pairs, extra, missed, i, j = [], [], 0, n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (read[i - 1] != label[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and d[i, j] == d[i - 1, j] + 1:
            extra.append(i - 1)
            i -= 1
        else:
            missed += 1
            j -= 1
    return pairs[::-1], extra[::-1], missed


# ---------------------------------------------------------------- measuring


def _set_figures(name: str, logits: np.ndarray, labels: np.ndarray, temperature: float, **extra) -> dict:
    raw, cal = softmax(logits), softmax(logits, temperature)
    right = raw.argmax(axis=1) == labels
    per_class = {str(k): round(float(right[labels == k].mean()), 4) for k in range(10) if (labels == k).any()}
    return {
        "set": name,
        "digits": int(len(labels)),
        "accuracy": float(right.mean()) if len(labels) else 0.0,
        "per_class": per_class,
        "ece_raw": ece(raw.max(axis=1), right),
        "ece_calibrated": ece(cal.max(axis=1), right),
        "curve": risk_coverage(cal.max(axis=1), right),
        **extra,
    }


def _photos(reader, folder: Path, negative: bool) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read every labelled photo; (logits of each digit read, whether it is right, photo figures)."""
    from edge_runtime.imageio import load_image

    labels = json.loads((folder / "labels.json").read_text())
    logits, right, misreads = [], [], []
    total = correct = exact = missed = 0
    for name in sorted(labels):
        label = str(labels[name]["digits"])
        image = load_image(folder / name)
        if negative:
            image = 255 - image
        reading = reader.read(image)
        text = "".join(str(d.label) for d in reading.digits)
        pairs, extra, lost = align(text, label)
        if len(reading.digits):
            logits.append(reader.classifier.logits(reading.inputs))
        ok = np.zeros(len(text), bool)
        for i, j in pairs:
            ok[i] = text[i] == label[j]
            if not ok[i]:
                misreads.append(f"{name}: {label[j]} read as {text[i]} ({reading.digits[i].confidence:.2f})")
        for i in extra:
            misreads.append(f"{name}: extra {text[i]} ({reading.digits[i].confidence:.2f})")
        right.append(ok)
        total, correct = total + len(label), correct + int(ok.sum())
        exact += text == label
        missed += lost
    figures = {
        "photos": len(labels),
        "digits_labelled": total,
        "digits_missed": missed,
        "images_exact": exact,
        "misreads": misreads,
        "pipeline_digit_accuracy": correct / max(total, 1),
    }
    return np.concatenate(logits), np.concatenate(right), figures


def measure(
    model: str | None = None, mnist: str | None = None, photos: str | None = None, seed: int = 0
) -> dict:
    """All figures for one model (default: the manifest's default) as a JSON-able dict."""
    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.manifest import resolve_model, temperature_for
    from edge_runtime.pipeline import DigitReader
    from training.data import load_mnist
    from training.styles import style_suite

    path = resolve_model(model)
    temperature = temperature_for(path)
    clf = DigitClassifier(path, temperature=temperature)
    d = load_mnist(mnist, download=False)
    sets = [_set_figures("mnist_test", clf.logits(d.x_test / 255.0), d.y_test, temperature)]
    for name, (x, y) in style_suite(d.x_test, d.y_test, seed=seed).items():
        sets.append(_set_figures(name, clf.logits(x / 255.0), y, temperature, style=True))
    photos = os.environ.get("DIGITS_PHOTOS_DIR") if photos is None else photos  # "": no photos
    if photos and (Path(photos) / "labels.json").is_file():
        reader = DigitReader(clf, min_confidence=0.0)
        for negative in (False, True):
            logits, right, figs = _photos(reader, Path(photos), negative)
            name = "photos_negative" if negative else "photos"
            # The pipeline's labels are the argmax of the logits, so `right` matches them.
            s = _set_figures(name, logits, np.where(right, logits.argmax(1), -1), temperature, **figs)
            s.pop("per_class")
            sets.append(s)
    choice = choose_min_confidence(sets)
    return {
        "model": str(path),
        "temperature": temperature,
        "seed": seed,
        "sets": sets,
        "min_confidence": choice,
    }


def measure_styles(context) -> dict:
    """The report's section (benchmarks.sections): the manifest's default model on MNIST, the
    style suite and the run's photos; the risk-coverage plot goes beside report.md."""
    o = context.options
    default = next(e for e in context.entries if e["name"] == context.manifest["default"])
    photos = str(o.pipeline.photos_dir) if o.pipeline.photos_dir is not None else ""
    data = measure(model=str(o.models_dir / default["file"]), mnist=o.mnist, photos=photos)
    plot(data, Path(o.out))
    data["model"] = default["file"]  # report.json keeps no machine's paths
    return data


def choose_min_confidence(sets: list[dict]) -> dict:
    """The highest threshold hiding <= MAX_RIGHT_COST of the right readings of the MNIST test set
    and the style suite pooled; then what it catches and costs on every set."""
    ruled = [s for s in sets if s["set"] == "mnist_test" or s.get("style")]
    right = [s["digits"] * s["accuracy"] for s in ruled]

    def pooled_cost(k: int) -> float:
        return sum(n * s["curve"][k]["right_cost"] for n, s in zip(right, ruled)) / max(sum(right), 1)

    ok = [t for k, t in enumerate(THRESHOLDS) if pooled_cost(k) <= MAX_RIGHT_COST + 1e-12]
    t = max(ok) if ok else 0.0
    k = THRESHOLDS.index(t)
    return {
        "value": t,
        "rule": f"highest threshold hiding <= {MAX_RIGHT_COST:.0%} of the right readings of the MNIST "
        "test set and the style suite pooled (the photos are not used to choose)",
        "pooled_right_cost": pooled_cost(k),
        "per_set": {
            s["set"]: {
                key: s["curve"][k][key] for key in ("coverage", "risk", "misreads_caught", "right_cost")
            }
            for s in sets
        },
    }


# ---------------------------------------------------------------- report


def plot(data: dict, out_dir: Path = REPORTS) -> Path | None:
    """benchmarks/reports/styles_risk_coverage.png: error rate against share shown, per set."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in data["sets"]:
        c = s["curve"]
        ax.plot([p["coverage"] for p in c], [p["risk"] * 100 for p in c], "o-", ms=3, label=s["set"])
    ax.set_yscale("symlog", linthresh=1.0)  # 0-1% linear, then log: a failed style stays on the chart
    ax.set_xlabel("share of digits shown (coverage)")
    ax.set_ylabel("misreads among the digits shown (%)")
    ax.set_title(f"risk-coverage, T = {data['temperature']:.2f}; min-confidence 0 ... 0.99")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "styles_risk_coverage.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _pct(v) -> str:
    return "-" if v is None else f"{v:.2%}"


def render_styles(data: dict) -> str:
    """Markdown section for the report."""
    mc = data["min_confidence"]
    lines = [
        "## Writing styles and confidence",
        "",
        f"Model `{Path(data['model']).name}`, temperature {data['temperature']:.3f} (from the manifest; "
        f"fitted on the validation split). Style suite: MNIST test digits edited by `training/styles.py`, "
        f"seed {data['seed']}.",
        "",
        "| set | digits | accuracy | ECE raw | ECE calibrated | shown at min-conf "
        f"{mc['value']} | misreads caught | right readings hidden |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in data["sets"]:
        p = mc["per_set"][s["set"]]
        lines.append(
            f"| {s['set']} | {s['digits']} | {s['accuracy']:.2%} | {s['ece_raw']:.2%} | {s['ece_calibrated']:.2%} "
            f"| {p['coverage']:.2%} | {_pct(p['misreads_caught'])} | {p['right_cost']:.2%} |"
        )
    lines += ["", f"Default `--min-confidence` {mc['value']}: {mc['rule']}.", ""]
    lines += [
        "Per class (accuracy):",
        "",
        "| set | " + " | ".join(map(str, range(10))) + " |",
        "| --- |" + " ---: |" * 10,
    ]
    for s in data["sets"]:
        if "per_class" in s:
            cells = [f"{s['per_class'][str(k)]:.2%}" if str(k) in s["per_class"] else "" for k in range(10)]
            lines.append(f"| {s['set']} | " + " | ".join(cells) + " |")
    for s in data["sets"]:
        if "digits_labelled" in s:  # the photo sets, read by the whole pipeline
            lines += [
                "",
                f"{s['set']}: {s['pipeline_digit_accuracy']:.2%} of {s['digits_labelled']} digits "
                f"right, {s['images_exact']}/{s['photos']} photos exact, {s['digits_missed']} missed; "
                "misreads (confidence): " + ("; ".join(s.get("misreads") or []) or "none"),
            ]
    lines += ["", "![risk-coverage](styles_risk_coverage.png)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.styles_bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--model", default=None, help="TFLite model (default: $DIGITS_MODEL or the manifest default)"
    )
    p.add_argument("--mnist", default=None, help="mnist.npz (default: $MNIST_PATH)")
    p.add_argument("--photos", default=None, help="labelled photos (default: $DIGITS_PHOTOS_DIR)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    p.add_argument("--plot-dir", type=Path, default=None, help="write the plot here (default: no plot)")
    a = p.parse_args(argv)
    data = measure(a.model, a.mnist, a.photos)
    if a.json:
        a.json.write_text(json.dumps(data, indent=1) + "\n")
    if a.plot_dir:
        plot(data, a.plot_dir)
    print(render_styles(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
