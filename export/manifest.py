"""models/manifest.json: what was shipped, how it was made and how well it does.

Top level: {"schema": 1, "default": "<model name>", "default_reason": "<rule>",
"models": [entry, ...]}. One entry per shipped .tflite file (see ``ENTRY_KEYS``):
file, sha256, size, architecture, graph, quantization, I/O dtypes and quantization
parameters, the input contract, accuracy measured after export, the training
config and data hash that made it, the converter versions and the cache key.

Writes are atomic (temporary file in the same folder, fsync, rename), so a reader
sees either the old manifest or the new one, never half of one; ``commit`` swaps
new model files in and writes the manifest last, undoing the swap if that fails.

    python -m export.manifest models/     # check the manifest against the files
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1

INPUT_CONTRACT = {
    "shape": [1, 28, 28],
    "layout": "rows as time steps: 28 steps of 28 pixels, one digit per invoke()",
    "values": "float32 in [0, 1] (uint8 / 255); integer models: quantize with the input scale/zero_point",
    "polarity": "white digit on black background, MNIST-style centred 20x20 box in 28x28",
    "preprocessing": "edge_runtime.preprocess.normalize_digit",
    "state": "reset the interpreter's variables before every digit (fused LSTM keeps state)",
    "output": "(1, 10) logits; softmax is the caller's",
}

ENTRY_KEYS = (
    "name",
    "file",
    "sha256",
    "size_bytes",
    "arch",
    "graph",
    "quantization",
    "input",
    "output",
    "input_contract",
    "ops",
    "test_accuracy",
    "keras_test_accuracy",
    "agreement",
    "max_logit_diff",
    "latency_us_p50",
    "tolerance_pp",
    "test_images",
    "training",
    "data_sha256",
    "keras",
    "converter",
    "cache_key",
)
GRAPHS = ("fused", "unrolled")
QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8", "int16x8")

TIE_BAND = 0.10  # latencies within 10% of the fastest count as equal (timings are noisy)
DEFAULT_RULE = (
    "among shipped models of the product architecture (lstm; any architecture if none): keep those "
    "within {tol} pp of the most accurate one's test accuracy, then the fastest by export-time median "
    "single-digit latency (1 thread); latencies within 10% of the fastest count as a tie, broken by "
    "the smaller file"
)
PRODUCT_ARCH = "lstm"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj) -> str:
    """Hash of a JSON-able object, independent of key order."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; shipped files are world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(out_dir: str | Path) -> dict | None:
    """The manifest in ``out_dir``, or None if there is none or it is unreadable."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        return None
    return data


def write_manifest(out_dir: str | Path, manifest: dict) -> Path:
    path = Path(out_dir) / MANIFEST_NAME
    write_atomic(path, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode())
    return path


def commit(out_dir: Path, work: Path, files: list[str], manifest: dict) -> Path:
    """Rename the new files into place, then write the manifest; undo the renames if that fails.

    Each replaced file is first hard-linked into the work folder so it can be put back;
    readers never see a missing file (os.replace is atomic).
    """
    undo: list[tuple[Path, Path | None]] = []  # (file in out_dir, its backup or None if it was new)
    try:
        for name in files:
            dst, backup = out_dir / name, None
            if dst.exists():
                backup = work / f"{name}.previous"
                backup.unlink(missing_ok=True)
                try:
                    os.link(dst, backup)
                except OSError:  # no hard links on this filesystem (e.g. FAT)
                    shutil.copy2(dst, backup)
            undo.append((dst, backup))
            os.replace(work / name, dst)
        return write_manifest(out_dir, manifest)
    except BaseException:
        for dst, backup in reversed(undo):
            if backup is not None:
                os.replace(backup, dst)
            else:
                dst.unlink(missing_ok=True)
        raise


def choose_default(entries: list[dict], tolerance_pp: float) -> tuple[str | None, str]:
    """(name of the default model, the rule that chose it) by accuracy, then latency, then size."""
    rule = DEFAULT_RULE.format(tol=tolerance_pp)
    entries = [e for e in entries if e.get("role", "classifier") == "classifier"]  # not lstm_stepwise
    pool = [e for e in entries if e["arch"] == PRODUCT_ARCH] or list(entries)
    if not pool:
        return None, rule
    best = max(e["test_accuracy"] for e in pool)
    accurate = [e for e in pool if (best - e["test_accuracy"]) * 100 <= tolerance_pp + 1e-9]
    fastest = min(e["latency_us_p50"] for e in accurate)
    quick = [e for e in accurate if e["latency_us_p50"] <= fastest * (1 + TIE_BAND)]
    chosen = min(quick, key=lambda e: (e["size_bytes"], e["latency_us_p50"], e["name"]))
    why = (
        f"{rule}: {chosen['name']} has {chosen['test_accuracy']:.2%} test accuracy (best {best:.2%}), "
        f"{chosen['latency_us_p50']:.1f} us per digit (fastest {fastest:.1f} us), {chosen['size_bytes']} bytes"
    )
    return chosen["name"], why


def build_manifest(entries: list[dict], tolerance_pp: float) -> dict:
    entries = sorted(entries, key=lambda e: e["name"])
    default, reason = choose_default(entries, tolerance_pp)
    return {"schema": SCHEMA_VERSION, "default": default, "default_reason": reason, "models": entries}


def check_manifest(out_dir: str | Path) -> list[str]:
    """Problems with ``out_dir``'s manifest (missing keys, bad values, hash/size mismatches); [] if fine."""
    out_dir = Path(out_dir)
    m = read_manifest(out_dir)
    if m is None:
        return [f"{out_dir / MANIFEST_NAME}: missing or not a manifest"]
    problems = []
    names = [e.get("name") for e in m["models"]]
    if m.get("default") not in names:
        problems.append(f"default {m.get('default')!r} is not one of the models {names}")
    if not m.get("default_reason"):
        problems.append("default_reason is empty")
    for e in m["models"]:
        name = e.get("name", "?")
        missing = [k for k in ENTRY_KEYS if k not in e]
        if missing:
            problems.append(f"{name}: missing keys {missing}")
            continue
        if e["graph"] not in GRAPHS or e["quantization"] not in QUANTIZATIONS:
            problems.append(f"{name}: graph {e['graph']!r} / quantization {e['quantization']!r} not allowed")
        f = out_dir / e["file"]
        if not f.is_file():
            problems.append(f"{name}: file {f} is missing")
        elif f.stat().st_size != e["size_bytes"] or sha256_file(f) != e["sha256"]:
            problems.append(f"{name}: {f} does not match its recorded size/sha256")
        for side in ("input", "output"):
            if not {"dtype", "shape", "scale", "zero_point"} <= set(e[side]):
                problems.append(f"{name}: {side} lacks dtype/shape/scale/zero_point")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out_dir = Path(argv[0] if argv else "models")
    problems = check_manifest(out_dir)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if not problems:
        m = read_manifest(out_dir)
        print(
            f"{out_dir / MANIFEST_NAME}: {len(m['models'])} models, all files match; default {m['default']}"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
