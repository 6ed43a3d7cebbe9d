"""Export the trained digit models to verified, quantized TFLite files in models/.

    python -m export                      # = make export = digits-export
    python -m export --archs lstm --variants fused_int8,unrolled_dynamic --force
    python -m export --keras /tmp/quick/lstm64.keras --out /tmp/models   # one model file

Trains an architecture first if runs/<arch>/model.keras is missing (unless
--no-train), converts each variant in a child process, checks every file with the
edge runtime on the 10k MNIST test images, and writes models/*.tflite and
models/manifest.json (see export/run.py for what is kept when something fails).
Exit status: 0 all variants shipped or up to date, 1 some variant failed,
2 bad input (no model, no or corrupt MNIST, unwritable output, corrupt model file,
a bad flag value). Two exports into one folder take turns (see export/run.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export.run import ExportError, ExportOptions, ExportResult, run_export


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (0 images cannot calibrate or verify anything)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def split(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def parse_options(argv: list[str] | None = None) -> ExportOptions:
    p = argparse.ArgumentParser(prog="digits-export", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="runs", help="trained runs, one folder per arch (default: runs)")
    p.add_argument(
        "--out", default="models", help="output folder for .tflite files + manifest.json (default: models)"
    )
    p.add_argument(
        "--archs", default="", help="comma-separated (default: every arch with a run; lstm if none)"
    )
    p.add_argument(
        "--variants",
        default="",
        help="comma-separated, e.g. fused_int8,unrolled_dynamic or lstm_fused_int8 "
        "(default: lstm fused float32/float16/dynamic/int8 + unrolled dynamic; "
        "other archs unrolled float32/float16/dynamic; unrolled int8 only when asked: "
        "export/convert.py's default_variants says why)",
    )
    p.add_argument("--keras", default=None, help="export this model.keras instead of the runs (development)")
    p.add_argument("--mnist", default=None, help="mnist.npz (default: $MNIST_PATH, else ~/.keras/datasets)")
    p.add_argument("--no-train", action="store_true", help="fail instead of training a missing model")
    p.add_argument(
        "--force", action="store_true", help="convert and verify again even if up to date (never retrains)"
    )
    p.add_argument(
        "--calibration-samples",
        type=positive_int,
        default=ExportOptions.calibration_samples,
        help=f"training images to calibrate int8 (default: {ExportOptions.calibration_samples})",
    )
    p.add_argument(
        "--test-images",
        type=positive_int,
        default=None,
        help="verify on the first N test images (default: all 10000)",
    )
    a = p.parse_args(argv)
    return ExportOptions(
        runs_dir=Path(a.runs),
        out_dir=Path(a.out),
        archs=split(a.archs),
        variants=split(a.variants),
        keras=Path(a.keras) if a.keras else None,
        mnist=a.mnist,
        train=not a.no_train,
        force=a.force,
        calibration_samples=a.calibration_samples,
        test_images=a.test_images,
    )


def summary(r: ExportResult) -> str:
    counts = {s: sum(v.status == s for v in r.variants) for s in ("shipped", "cached", "failed")}
    text = (
        f"export: {counts['shipped']} converted, {counts['cached']} up to date, {counts['failed']} failed "
        f"in {r.seconds:.1f} s -> {r.manifest or r.out_dir} (default {r.default})"
    )
    if r.removed:
        text += f"; removed {', '.join(r.removed)}"
    return text


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        result = run_export(options, log=lambda line: print(line, flush=True))
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up while writing; the commit was undone
        print(f"error: {exc}; the previous models and manifest are unchanged", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "error: interrupted; the output folder still matches its manifest (files are swapped in only at the end)",
            file=sys.stderr,
        )
        return 130
    print(summary(result))
    for v in result.failed:
        print(f"error: {v.name}: {v.reason}", file=sys.stderr)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
