"""Every shipped model and the edge program on this CPU, compared with the same run on another CPU.

    python -m benchmarks.arm64.compare run --out /tmp/x86          # on each machine (no TensorFlow)
    python -m benchmarks.arm64.compare diff /tmp/x86 /tmp/arm64 --report benchmarks/reports/arm64

``run`` feeds a fixed slice of MNIST test digits ($MNIST_PATH) through every model in
models/manifest.json one digit per call, exactly as the runtime does, and keeps the raw output
tensors; it also reads $DIGITS_SEED_IMAGE and the photos in $DIGITS_PHOTOS_DIR with
``digits-edge image --json`` (the manifest's default model). ``diff`` compares two runs:
the same argmax on every digit, float outputs within FLOAT_LOGIT_TOL, integer outputs within
INT_STEP_TOL output quantization steps, the same text for every image. It writes the table as
markdown and JSON and exits 1 on any disagreement.

``make pi-check`` runs both sides (benchmarks/arm64/pi-check.sh); on a real Raspberry Pi, run
``run`` there and ``diff`` anywhere. No timings are taken: under emulation they mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

FLOAT_LOGIT_TOL = 1e-3
"""Largest allowed |difference| of a float model's logits between the two CPUs. Float kernels
on different CPUs sum in a different order (NEON vs AVX): differences of ~1e-6 are expected;
1e-3 moves a softmax confidence by under 0.1%."""
INT_STEP_TOL = 1
"""Largest allowed difference of an integer model's raw output, in output quantization steps
(one rounding decision taken differently)."""


def dynamic_tolerance(info: dict) -> float:
    """Largest allowed |logit difference| of a dynamic-range model between the two CPUs.

    Such a model quantizes its activations while it runs, with each CPU's own integer kernels
    (x86 and ARM round differently), so its logits cannot agree to float precision. They must
    read every digit the same and may differ by no more than the quantization error that export
    measured and accepted for that file against its Keras model (the manifest entry's
    max_logit_diff): a difference inside the error already shipped, never a new one."""
    return max(FLOAT_LOGIT_TOL, float(info.get("export_max_logit_diff") or 0.0))


SECTION = "arm64 (emulated): correctness"


@dataclass(frozen=True)
class RunOptions:
    out: Path
    """Folder for outputs.npz (raw outputs per model) and run.json (texts, versions)."""
    digits: int = 1000
    """MNIST test digits per model: x_test[start:start + digits]."""
    start: int = 0
    """First test digit of the slice."""
    models_dir: Path | None = None
    """Folder with manifest.json; None: the project's models/."""


def _versions() -> dict:
    import cv2

    from edge_runtime.classifier import load_interpreter_class

    module = load_interpreter_class().__module__.split(".")[0]
    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert" if module == "ai_edge_litert" else "tflite-runtime")
    except Exception:  # noqa: BLE001 - a version string is only informative
        litert = "unknown"
    return {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        module: litert,
    }


def _read_images(model: Path) -> dict:
    """digits-edge image --json on the seed image and the photos: {file name: text or error}."""
    inputs = [os.environ[v] for v in ("DIGITS_SEED_IMAGE", "DIGITS_PHOTOS_DIR") if os.environ.get(v)]
    if not inputs:
        return {}
    out = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "image", "--json", "--model", str(model), *inputs],
        capture_output=True,
        text=True,
        env=dict(os.environ, DIGITS_MODEL=str(model)),
    )
    texts = {}
    for line in out.stdout.splitlines():
        record = json.loads(line)
        texts[Path(record["source"]).name] = (
            record["text"] if "error" not in record else f"error: {record['error']}"
        )
    if not texts:
        texts["(digits-edge image)"] = f"error: exit {out.returncode}: {out.stderr.strip()[-300:]}"
    return texts


def run(options: RunOptions) -> dict:
    """Every manifest model on the digit slice, and the image texts; writes and returns run.json."""
    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.manifest import MODELS_DIR, default_model_path, read_manifest, sha256_file

    folder = Path(options.models_dir or MODELS_DIR)
    manifest = read_manifest(folder).to_json()
    with np.load(os.environ["MNIST_PATH"]) as data:
        x = data["x_test"][options.start : options.start + options.digits].astype(np.float32) / 255.0
        labels = data["y_test"][options.start : options.start + options.digits].astype(int).tolist()
    outputs, models = {}, {}
    for entry in manifest.get("models", []):
        name, file = entry.get("name"), entry.get("file")
        if not name or not file or (entry.get("role") or "classifier") != "classifier":
            continue  # lstm_stepwise (the serve page's per-row outputs) is checked through the LSTM's files
        path = folder / file
        record: dict = {
            "file": file,
            "quantization": entry.get("quantization"),
            "export_max_logit_diff": entry.get("max_logit_diff"),
        }
        try:
            clf = DigitClassifier(path)
        except Exception as exc:  # noqa: BLE001 - recorded, and diff fails on it
            models[name] = {**record, "error": str(exc)}
            continue
        q, step = clf.quantize_input(x), clf.step()
        outputs[name] = np.stack([step(q[i : i + 1])[0].copy() for i in range(len(q))])
        models[name] = {
            **record,
            "sha256": sha256_file(path),
            "output_dtype": str(clf.output.dtype),
            "output_scale": clf.output.scale,
            "output_zero_point": clf.output.zero_point,
            "output_quantized": clf.output.quantized,
        }
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "manifest_sha256": sha256_file(folder / "manifest.json"),
        "digits": {"start": options.start, "count": int(len(x))},
        "labels": labels,
        "models": models,
        "images": _read_images(default_model_path(folder)),
    }
    options.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(options.out / "outputs.npz", **outputs)
    (options.out / "run.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def load_run(folder: Path) -> tuple[dict, dict]:
    with np.load(folder / "outputs.npz") as data:
        outputs = {k: data[k] for k in data.files}
    return json.loads((folder / "run.json").read_text()), outputs


def _dequantize(raw: np.ndarray, info: dict) -> np.ndarray:
    if info.get("output_quantized"):
        return (raw.astype(np.float32) - info["output_zero_point"]) * info["output_scale"]
    return raw.astype(np.float32)


def compare_model(
    name: str, a: dict, b: dict, ya: np.ndarray | None, yb: np.ndarray | None, labels: list | None = None
) -> dict:
    """One table row: how model ``name``'s outputs on the two sides differ, and whether that passes;
    with ``labels``, each side's accuracy on the slice (whether a difference matters)."""
    row: dict = {"model": name, "quantization": a.get("quantization") or b.get("quantization")}
    problems = []
    for side, info, y in (("a", a, ya), ("b", b, yb)):
        if "error" in info or y is None:
            problems.append(f"{side}: {info.get('error', 'no outputs')}")
    if not problems and a.get("sha256") != b.get("sha256"):
        problems.append("the two sides ran different model files (sha256 differs)")
    if not problems and ya.shape != yb.shape:
        problems.append(f"output shapes differ: {ya.shape} vs {yb.shape}")
    if problems:
        return {**row, "ok": False, "problems": problems}
    fa, fb = _dequantize(ya, a), _dequantize(yb, b)
    row["digits"] = int(len(ya))
    row["argmax_mismatches"] = int((fa.argmax(1) != fb.argmax(1)).sum())
    row["max_abs_diff"] = float(np.abs(fa - fb).max())
    if labels is not None and len(labels) == len(fa):
        row["accuracy_a"] = float((fa.argmax(1) == np.asarray(labels)).mean())
        row["accuracy_b"] = float((fb.argmax(1) == np.asarray(labels)).mean())
    if a.get("output_quantized"):
        row["output"] = a["output_dtype"]
        row["max_step_diff"] = int(np.abs(ya.astype(np.int64) - yb.astype(np.int64)).max())
        row["tolerance"] = f"{INT_STEP_TOL} step"
        within = row["max_step_diff"] <= INT_STEP_TOL
    elif row["quantization"] == "dynamic_int8":
        tol = dynamic_tolerance(a)
        row["output"] = "float32"
        row["tolerance"] = f"{tol:.3g} (export's error vs Keras)"
        within = row["max_abs_diff"] <= tol
    else:
        row["output"] = "float32"
        row["tolerance"] = f"{FLOAT_LOGIT_TOL:g}"
        within = row["max_abs_diff"] <= FLOAT_LOGIT_TOL
    if row["argmax_mismatches"]:
        problems.append(f"{row['argmax_mismatches']} of {row['digits']} digits read differently")
    if not within:
        problems.append(f"outputs differ by more than the tolerance ({row['tolerance']})")
    return {**row, "ok": not problems, "problems": problems}


def compare_images(a: dict, b: dict) -> list[dict]:
    rows = []
    for name in sorted(set(a) | set(b)):
        ta, tb = a.get(name, "(missing)"), b.get(name, "(missing)")
        ok = ta == tb and not str(ta).startswith("error")
        rows.append({"image": name, "a": ta, "b": tb, "ok": ok})
    return rows


def diff(a_dir: Path, b_dir: Path, seed_name: str | None = None) -> dict:
    """Compare two runs; ``seed_name``: an image that must read '9' on both sides."""
    (ra, oa), (rb, ob) = load_run(a_dir), load_run(b_dir)
    names = sorted(set(ra["models"]) | set(rb["models"]))
    models = [
        compare_model(
            n,
            ra["models"].get(n, {"error": "missing"}),
            rb["models"].get(n, {"error": "missing"}),
            oa.get(n),
            ob.get(n),
            ra.get("labels"),
        )
        for n in names
    ]
    images = compare_images(ra["images"], rb["images"])
    problems = [f"{m['model']}: {p}" for m in models for p in m["problems"]]
    problems += [f"{i['image']}: {i['a']!r} vs {i['b']!r}" for i in images if not i["ok"]]
    if seed_name and not all(r["images"].get(seed_name) == "9" for r in (ra, rb)):
        problems.append(
            f"{seed_name} must read '9': {ra['images'].get(seed_name)!r} vs {rb['images'].get(seed_name)!r}"
        )
    if ra["digits"] != rb["digits"]:
        problems.append(f"different digit slices: {ra['digits']} vs {rb['digits']}")
    if not models:
        problems.append("no models compared")
    return {
        "section": SECTION,
        "a": {"date": ra["date"], "versions": ra["versions"]},
        "b": {"date": rb["date"], "versions": rb["versions"]},
        "manifest_sha256": {"a": ra["manifest_sha256"], "b": rb["manifest_sha256"]},
        "digits": ra["digits"],
        "tolerances": {"float_logits_abs": FLOAT_LOGIT_TOL, "integer_output_steps": INT_STEP_TOL},
        "models": models,
        "images": images,
        "ok": not problems,
        "problems": problems,
    }


def markdown(result: dict, a_label: str = "x86-64", b_label: str = "arm64") -> str:
    va, vb = result["a"]["versions"], result["b"]["versions"]
    d = result["digits"]
    la, lb = ({k: v for k, v in x.items() if k not in ("machine", "python")} for x in (va, vb))
    show = lambda libs: ", ".join(f"{k} {v}" for k, v in libs.items())  # noqa: E731
    libs = f"the same {show(la)}" if la == lb else f"{a_label} with {show(la)}, {b_label} with {show(lb)}"
    lines = [
        f"## {result['section']}",
        "",
        f"Every shipped model on MNIST test digits {d['start']}-{d['start'] + d['count'] - 1} ({d['count']}), "
        f"one digit per call, and `digits-edge image` on the seed image and the dev photos: {a_label} "
        f"({va['machine']}, Python {va['python']}) natively vs {b_label} ({vb['machine']}, Python {vb['python']}, "
        f"Debian Bookworm under qemu-user, Cortex-A72 as on a Pi 4), {libs}. Pass: the same digit everywhere, float "
        f"logits within {FLOAT_LOGIT_TOL:g} (dynamic-range models: within the quantization error export measured "
        "against Keras, since they quantize activations with each CPU's own kernels), integer outputs within "
        f"{INT_STEP_TOL} quantization step. "
        "Emulation proves the arithmetic, not the speed: no timings are reported.",
        "",
        f"| model | quantization | output | digits | argmax differs | max abs diff (logits) | max diff (output steps) | accuracy {a_label} | accuracy {b_label} | result |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    acc = lambda m, k: f"{m[k]:.1%}" if k in m else "-"  # noqa: E731
    for m in result["models"]:
        if "digits" not in m:
            lines.append(
                f"| {m['model']} | {m.get('quantization')} | | | | | | | | FAIL: {'; '.join(m['problems'])} |"
            )
            continue
        steps = str(m["max_step_diff"]) if "max_step_diff" in m else "-"
        verdict = "same" if m["ok"] else "FAIL: " + "; ".join(m["problems"])
        lines.append(
            f"| {m['model']} | {m['quantization']} | {m['output']} | {m['digits']} | {m['argmax_mismatches']} | "
            f"{m['max_abs_diff']:.2e} | {steps} | {acc(m, 'accuracy_a')} | {acc(m, 'accuracy_b')} | {verdict} |"
        )
    same = sum(i["ok"] for i in result["images"])
    lines += [
        "",
        f"Images read by `digits-edge image` (default model): {same} of {len(result['images'])} "
        "read the same text on both sides.",
    ]
    bad = [i for i in result["images"] if not i["ok"]]
    lines += [f"- {i['image']}: {a_label} {i['a']!r}, {b_label} {i['b']!r}" for i in bad]
    lines += ["", "**Result: " + ("pass" if result["ok"] else "FAIL") + "**", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.arm64.compare", description=__doc__.splitlines()[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run every shipped model and the photos here; write OUT/run.json")
    r.add_argument("--out", type=Path, required=True, help="output folder")
    r.add_argument("--digits", type=int, default=1000, help="MNIST test digits per model (default: 1000)")
    r.add_argument("--start", type=int, default=0, help="first test digit (default: 0)")
    r.add_argument(
        "--models-dir", type=Path, default=None, help="folder with manifest.json (default: models/)"
    )
    d = sub.add_parser("diff", help="compare two runs; exit 1 on any disagreement")
    d.add_argument("a", type=Path, help="the reference run's folder (x86)")
    d.add_argument("b", type=Path, help="the other run's folder (arm64)")
    d.add_argument(
        "--report", type=Path, default=None, help="write REPORT.md and REPORT.json (default: none)"
    )
    d.add_argument("--labels", default="x86-64,arm64", help="names of the two sides (default: x86-64,arm64)")
    args = p.parse_args(argv)
    if args.command == "run":
        if not os.environ.get("MNIST_PATH"):
            print("error: MNIST_PATH is not set (point it at mnist.npz)", file=sys.stderr)
            return 2
        result = run(RunOptions(args.out, args.digits, args.start, args.models_dir))
        print(
            f"{len(result['models'])} models, {len(result['images'])} images on {result['versions']['machine']}: "
            f"{args.out}"
        )
        return 0
    seed = os.environ.get("DIGITS_SEED_IMAGE")
    result = diff(args.a, args.b, Path(seed).name if seed else None)
    text = markdown(result, *args.labels.split(",", 1))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.with_suffix(".md").write_text(text)
        args.report.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    for problem in result["problems"]:
        print(f"mismatch: {problem}", file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
