"""Pick this device's fastest model: time the shipped LSTM models here, record the winner.

    python -m edge_runtime tune                 # a few seconds per model; digits-edge tune works too
    python -m edge_runtime tune --seconds 1 --json

The manifest's default was chosen by the speed of the machine that exported the models (x86);
kernels rank differently on other CPUs (the full-integer fused LSTM is ~10x slower than float
on x86). ``tune`` applies the manifest's rule on this device: among the LSTM models within the
accuracy tolerance of the best, the fastest by median latency here (latencies within 10% of
the fastest count as a tie, broken by the smaller file). Models are timed in interleaved
rounds, so a burst of load on the machine hits every model alike.

The choice is written to ``$XDG_CONFIG_HOME/lstm-edge-digits/device.json`` (default
``~/.config/...``): it belongs to the device, not to the models, so the models folder stays as
shipped (it may be read-only, or a git checkout where a stray file would be committed).
It records the manifest's hash: when the models change, the file is stale, and
``image``/``camera``/``serve`` ignore it with a warning and use the manifest's default.
``--model`` and $DIGITS_MODEL still come first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.contract import PRODUCT_ARCH, QUANT_TOLERANCE_PP, TIE_BAND
from edge_runtime.manifest import accurate_pool, fastest_then_smallest, models_folder, sha256_file

SCHEMA = 1


@dataclass(frozen=True)
class TuneOptions:
    seconds: float = 3.0
    """Time budget per model, in seconds (rounds continue until every model had this much)."""
    models_dir: Path | None = None
    """Folder with manifest.json; None: where the runtime finds it (the project's models/)."""
    out: Path | None = None
    """Where to write the choice; None: device_file()."""
    write: bool = True
    """False: time and report, but write nothing."""


def device_file() -> Path:
    """$XDG_CONFIG_HOME/lstm-edge-digits/device.json (default ~/.config/...)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "lstm-edge-digits" / "device.json"


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def device_default(models_dir: Path, warn: Callable[[str], None] = _warn) -> tuple[Path, str] | None:
    """(model path, where the choice came from) from this device's tune file, if it is there and
    still matches ``models_dir``'s manifest; else None (a stale or broken file: ``warn`` says why)."""
    path = device_file()
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        file, date, recorded_hash = record["file"], record["date"], record["manifest_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warn(f"ignoring {path}: unreadable ({exc}); run digits-edge tune again")
        return None
    manifest = Path(models_dir) / "manifest.json"
    try:
        current_hash = sha256_file(manifest)
    except OSError:
        return None  # no manifest: the caller reports that
    if current_hash != recorded_hash:
        warn(
            f"ignoring {path}: the models changed since digits-edge tune ran on {date} "
            f"(manifest hash differs); using the manifest's default; run digits-edge tune again"
        )
        return None
    model = Path(models_dir) / file
    if not model.is_file():
        warn(f"ignoring {path}: its model {model} is missing; run digits-edge tune again")
        return None
    return model, f"this device's default (digits-edge tune on {date[:10]}, {path})"


def resolve_model_source(model: str | Path | None = None) -> tuple[Path, str]:
    """The model to run and why: --model, else $DIGITS_MODEL, else this device's tuned default,
    else the manifest's default. ``ModelError`` if there is none."""
    from edge_runtime.manifest import resolve_model, verify_model_path

    if model or os.environ.get("DIGITS_MODEL"):  # checked against a manifest beside it, if any
        return resolve_model(model), "--model" if model else "$DIGITS_MODEL"
    default = resolve_model(None)
    tuned = device_default(default.parent)
    if tuned:
        return verify_model_path(tuned[0]), tuned[1]
    return default, "the manifest's default"


def sample_digits() -> np.ndarray:
    """(10, 28, 28) float32: the digits 0-9 printed with OpenCV's Hershey font and normalized as the
    runtime does. Needs no data set: timing inputs for tune, a known answer for doctor."""
    from edge_runtime.preprocess import normalize_digit

    out = []
    for d in range(10):
        canvas = np.zeros((120, 100), np.uint8)
        cv2 = _cv2()
        cv2.putText(canvas, str(d), (15, 100), cv2.FONT_HERSHEY_SIMPLEX, 3.2, 255, 9, cv2.LINE_AA)
        out.append(normalize_digit(canvas))
    return np.stack(out)


def _cv2():
    import cv2

    return cv2


def runtime_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "numpy": np.__version__, "opencv": _cv2().__version__}
    for dist in ("ai-edge-litert", "tflite-runtime"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return versions


def machine() -> dict:
    """What this device is: architecture, OS, and the CPU or board model where the OS says."""
    info = {"arch": platform.machine(), "system": platform.platform(), "node": platform.node()}
    for path, key in (("/proc/device-tree/model", "board"), ("/proc/cpuinfo", "cpu")):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        if key == "board":
            info[key] = text.strip("\x00\n ")
        else:
            m = re.search(r"^(model name|Model)\s*:\s*(.+)$", text, re.M)
            if m:
                info[key] = m.group(2).strip()
    return info


def candidates(manifest: dict) -> tuple[list[dict], dict[str, str], float]:
    """(entries to time, {name: why left out}, accuracy tolerance in pp) by the manifest's rule
    (edge_runtime.manifest.accurate_pool, with the tolerance export recorded, else the contract's)."""
    tol = manifest.get("default_tolerance_pp")
    if tol is None:  # a manifest written before the tolerance was recorded
        tol = QUANT_TOLERANCE_PP
    pool, excluded = accurate_pool(manifest.get("models", []), tol)
    return pool, excluded, tol


def time_models(paths: dict[str, Path], seconds: float) -> dict[str, dict]:
    """{name: latency summary in us} for one digit per call (DigitClassifier.step, the runtime's own
    call), timed in interleaved rounds of ~50 ms per model until each had ``seconds``.

    The clock is this thread's CPU time: with one interpreter thread all the work runs here, and
    CPU time does not count the time other programs hold the CPU, so a busy device still ranks
    its models right (wall-clock medians on a loaded 2-core machine came out ~5x too high)."""
    from edge_runtime.classifier import DigitClassifier

    clock = time.thread_time
    digits = sample_digits()
    runs = {}
    for name, path in paths.items():
        clf = DigitClassifier(path)
        q = clf.quantize_input(digits)
        step = clf.step()
        for i in range(len(q)):  # warm-up: the first calls allocate and pack weights
            step(q[i : i + 1])
        runs[name] = (step, [q[i : i + 1] for i in range(len(q))])
    calls = {}
    for name, (step, inputs) in runs.items():  # calls per round: ~50 ms worth
        t0 = clock()
        for x in inputs:
            step(x)
        per_call = max((clock() - t0) / len(inputs), 1e-7)
        calls[name] = max(len(inputs), int(0.05 / per_call) // len(inputs) * len(inputs))
    samples: dict[str, list[float]] = {name: [] for name in runs}
    spent = dict.fromkeys(runs, 0.0)
    while min(spent.values()) < seconds:
        for name, (step, inputs) in runs.items():
            n = calls[name]
            t0 = clock()
            for _ in range(n // len(inputs)):
                for x in inputs:
                    step(x)
            dt = clock() - t0
            spent[name] += dt
            samples[name].append(dt / n * 1e6)
    return {
        name: {
            "p50_us": round(statistics.median(s), 2),
            "min_us": round(min(s), 2),
            "max_us": round(max(s), 2),
            "rounds": len(s),
            "calls": calls[name] * len(s),
        }
        for name, s in samples.items()
    }


def choose(entries: list[dict], timings: dict[str, dict]) -> tuple[str, str]:
    """(name, why) by the manifest's rule (edge_runtime.manifest.fastest_then_smallest) on this
    device's median latencies."""
    timed = [e for e in entries if e["name"] in timings]
    chosen, fastest, quick = fastest_then_smallest(timed, lambda e: timings[e["name"]]["p50_us"])
    ties = f"; within {TIE_BAND:.0%} of it: {', '.join(e['name'] for e in quick)}" if len(quick) > 1 else ""
    why = (
        f"{chosen['name']}: {timings[chosen['name']]['p50_us']:.1f} us per digit here "
        f"(fastest {fastest:.1f} us{ties}; ties go to the smaller file)"
    )
    return chosen["name"], why


@dataclass(frozen=True)
class TuneResult:
    record: dict
    """What was (or would be) written: choice, timings, machine, versions, manifest hash."""
    path: Path | None
    """Where it was written; None with write=False."""


def tune(options: TuneOptions) -> TuneResult:
    from edge_runtime.classifier import ModelError
    from edge_runtime.manifest import read_manifest

    folder = Path(options.models_dir) if options.models_dir else models_folder()
    manifest = read_manifest(folder).to_json()
    pool, excluded, tol = candidates(manifest)
    paths = {}
    for e in pool:
        path = folder / e["file"]
        if not path.is_file():
            excluded[e["name"]] = f"{path} is not on this device"
        elif e.get("sha256") and sha256_file(path) != e["sha256"]:
            excluded[e["name"]] = f"{path} does not match the manifest's sha256 (copy it again)"
        else:
            paths[e["name"]] = path
    if not paths:
        raise ModelError(
            f"no model to tune in {folder}: {excluded}; copy the .tflite files or run make export"
        )
    timings = time_models(paths, options.seconds)
    name, why = choose([e for e in pool if e["name"] in paths], timings)
    default = manifest.get("default")
    if name == default:
        verdict = f"the same as the manifest's default ({default})"
    elif default in timings:
        ratio = timings[default]["p50_us"] / timings[name]["p50_us"]
        verdict = (
            f"differs from the manifest's default {default} ({timings[default]['p50_us']:.1f} us here, "
            f"{ratio:.2f}x the time): the manifest ranked the models by the export machine's speed, "
            "and this device ranks them differently"
        )
    else:
        verdict = f"differs from the manifest's default {default}: {excluded.get(default, 'not timed')}"
    record = {
        "schema": SCHEMA,
        "model": name,
        "file": next(e["file"] for e in pool if e["name"] == name),
        "reason": why,
        "manifest_default": default,
        "versus_manifest": verdict,
        "rule": (
            f"models of architecture {PRODUCT_ARCH!r} (all if none) within {tol} pp of the best test "
            f"accuracy, then the lowest median latency on this device (ties within {TIE_BAND:.0%}: smaller file)"
        ),
        "timings": timings,
        "excluded": excluded,
        "seconds_per_model": options.seconds,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "runtime": runtime_versions(),
        "models_dir": str(folder.resolve()),
        "manifest_sha256": sha256_file(folder / "manifest.json"),
    }
    path = None
    if options.write:
        path = Path(options.out) if options.out else device_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(path)
    return TuneResult(record, path)


def format_result(result: TuneResult) -> str:
    r = result.record
    lines = [f"{'model':<28} {'p50 us':>8} {'min us':>8} {'rounds':>6}"]
    for name, t in sorted(r["timings"].items(), key=lambda kv: kv[1]["p50_us"]):
        mark = "  <- this device's default" if name == r["model"] else ""
        lines.append(f"{name:<28} {t['p50_us']:>8.1f} {t['min_us']:>8.1f} {t['rounds']:>6}{mark}")
    lines += [f"{name:<28} not timed: {why}" for name, why in r["excluded"].items()]
    lines.append(f"chosen: {r['reason']}")
    lines.append(
        f"manifest's default: {r['manifest_default']}; this device's choice is {r['versus_manifest']}"
    )
    lines.append(f"written to {result.path}" if result.path else "not written (--dry-run)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.classifier import ModelError

    p = argparse.ArgumentParser(prog="digits-edge tune", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="time per model in seconds (default: 3)")
    p.add_argument(
        "--models-dir", type=Path, default=None, help="folder with manifest.json (default: models/)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help=f"where to write the choice (default: {device_file()})"
    )
    p.add_argument("--dry-run", action="store_true", help="time and report, but write nothing")
    p.add_argument("--json", action="store_true", help="print the record as JSON (default: a table)")
    args = p.parse_args(argv)
    if args.seconds <= 0:
        p.error(f"--seconds must be positive, got {args.seconds}")
    try:
        result = tune(TuneOptions(args.seconds, args.models_dir, args.out, not args.dry_run))
    except (ModelError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.record) if args.json else format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
