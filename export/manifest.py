"""models/manifest.json: what was shipped, how it was made and how well it does.

Top level: {"schema": 1, "default": "<model name>", "default_reason": "<rule>",
"models": [entry, ...]}. One entry per shipped .tflite file; the one typed definition
of an entry and of the manifest is ``edge_runtime.manifest`` (``ManifestEntry``,
``parse_manifest``), which this module uses to read, check and write.

The swap is atomic as a whole, with the manifest as the single pointer: a new model
file gets a content-addressed name (``lstm_fused_int8-<sha256[:12]>.tflite``), so it
never overwrites a file the current manifest names; then one ``os.replace`` puts the
new manifest in place; then files that no manifest names any more are removed. A
reader (or ``python -m export.manifest``) sees the old set or the new set, whatever
point a kill -9 interrupts: files no manifest names are orphans, ignored by the check
and removed by the next export.

    python -m export.manifest models/     # check the manifest against the files
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from edge_runtime.contract import GRAPHS, PRODUCT_ARCH, QUANTIZATIONS, TIE_BAND
from edge_runtime.manifest import (
    ENTRY_KEYS,
    MANIFEST_NAME,
    OPTIONAL_KEYS,
    SCHEMA_VERSION,
    ManifestError,
    accurate_pool,
    fastest_then_smallest,
    parse_manifest,
    sha256_file,
)

__all__ = ["ENTRY_KEYS", "MANIFEST_NAME", "OPTIONAL_KEYS", "SCHEMA_VERSION", "ManifestError", "sha256_file"]

SHIPPED_NAME = re.compile(
    r"((lstm|gru|rnn|peephole)_(fused|unrolled)_[a-z0-9]+|lstm_stepwise)(-[0-9a-f]{12})?\.tflite"
)
"""Names export gives files (this version's content-addressed ones and earlier plain ones); an
unlisted file of this form is an orphan to remove. Other files in the folder are never touched."""


def shipped_name(variant: str, sha256: str) -> str:
    """Content-addressed file name of a new model: never the name of a different file."""
    return f"{variant}-{sha256[:12]}.tflite"


INPUT_CONTRACT = {
    "shape": [1, 28, 28],
    "layout": "rows as time steps: 28 steps of 28 pixels, one digit per invoke()",
    "values": "float32 in [0, 1] (uint8 / 255); integer models: quantize with the input scale/zero_point",
    "polarity": "white digit on black background, MNIST-style centred 20x20 box in 28x28",
    "preprocessing": "edge_runtime.preprocess.normalize_digit",
    "state": "reset the interpreter's variables before every digit (fused LSTM keeps state)",
    "output": "(1, 10) logits; softmax is the caller's",
}


DEFAULT_RULE = (
    "among shipped models of the product architecture ({arch}; any architecture if none): keep those "
    "within {tol} pp of the most accurate one's test accuracy, then the fastest by export-time median "
    "single-digit latency (1 thread); latencies within {band:.0%} of the fastest count as a tie, broken by "
    "the smaller file"
)


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
    """The manifest in ``out_dir`` as checked JSON, or None if there is none or it is unreadable
    or of the wrong shape (the export then starts from nothing, and replaces it)."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_bytes())
        parse_manifest(data, str(path))
    except (OSError, ValueError, RecursionError, ManifestError):
        return None
    return data


def write_manifest(out_dir: str | Path, manifest: dict) -> Path:
    """Check ``manifest`` against the typed definition, then write it atomically."""
    parse_manifest(manifest, "manifest to write")  # a writer bug fails here, not in a reader
    path = Path(out_dir) / MANIFEST_NAME
    write_atomic(path, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode())
    return path


def commit(out_dir: Path, staged: dict[str, Path], manifest: dict, previous: dict | None) -> list[str]:
    """Switch ``out_dir`` from the ``previous`` manifest's set to ``manifest``'s; return removed files.

    ``staged`` maps each new file name (content-addressed, see ``shipped_name``) to its file in
    the work folder. Three steps, each safe to be killed after: (1) rename the new files in
    (they overwrite no file the previous manifest names); (2) replace manifest.json, the one
    pointer; (3) remove files no manifest names any more. If (1) or (2) raises, the files moved
    in are removed again and the previous manifest stays in force.
    """
    listed = {e["file"] for e in (previous or {}).get("models", [])}
    moved: list[Path] = []
    try:
        for name, src in staged.items():
            dst = out_dir / name
            if name in listed:  # same name = same content (the hash is in it): keep the live file
                continue
            os.replace(src, dst)
            moved.append(dst)
        write_manifest(out_dir, manifest)
    except BaseException:
        for dst in moved:
            dst.unlink(missing_ok=True)
        raise
    return remove_unlisted(out_dir, manifest, listed)


def remove_unlisted(out_dir: Path, manifest: dict, also: set[str] = frozenset()) -> list[str]:
    """Delete files ``manifest`` does not name: those in ``also`` (the previous manifest's) and
    orphans with a content-addressed name (left by a killed export). Other files are left alone."""
    live = {e["file"] for e in manifest.get("models", [])}
    removed = []
    for p in sorted(out_dir.iterdir()):
        if p.name in live or not p.is_file():
            continue
        if p.name in also or SHIPPED_NAME.fullmatch(p.name):
            p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def choose_default(entries: list[dict], tolerance_pp: float) -> tuple[str | None, str]:
    """(name of the default model, the rule that chose it) by accuracy, then latency, then size
    (edge_runtime.manifest's rule, which digits-edge tune applies on a device)."""
    rule = DEFAULT_RULE.format(arch=PRODUCT_ARCH, tol=tolerance_pp, band=TIE_BAND)
    accurate, _ = accurate_pool(entries, tolerance_pp)
    if not accurate:
        return None, rule
    best = max(e["test_accuracy"] for e in accurate)
    chosen, fastest, _ = fastest_then_smallest(accurate, lambda e: e["latency_us_p50"])
    why = (
        f"{rule}: {chosen['name']} has {chosen['test_accuracy']:.2%} test accuracy (best {best:.2%}), "
        f"{chosen['latency_us_p50']:.1f} us per digit (fastest {fastest:.1f} us), {chosen['size_bytes']} bytes"
    )
    return chosen["name"], why


def build_manifest(entries: list[dict], tolerance_pp: float) -> dict:
    entries = sorted(entries, key=lambda e: e["name"])
    default, reason = choose_default(entries, tolerance_pp)
    return {
        "schema": SCHEMA_VERSION,
        "default": default,
        "default_reason": reason,
        "default_tolerance_pp": tolerance_pp,
        "models": entries,
    }


def check_manifest(out_dir: str | Path) -> list[str]:
    """Problems with ``out_dir``'s manifest (wrong shape, missing keys, bad values, hash/size
    mismatches); [] if fine. Files the manifest does not name are not looked at."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        return [f"{path}: missing or not a manifest ({exc})"]
    try:
        m = parse_manifest(data, str(path))
    except ManifestError as exc:
        return [str(exc)]
    problems = [] if m.default_reason else ["default_reason is empty"]
    for raw, e in zip(data["models"], m.models):
        missing = [k for k in ENTRY_KEYS if k not in raw and k not in OPTIONAL_KEYS]
        if missing:
            problems.append(f"{e.name}: missing keys {missing}")
        if e.graph not in GRAPHS or e.quantization not in QUANTIZATIONS:
            problems.append(f"{e.name}: graph {e.graph!r} / quantization {e.quantization!r} not allowed")
        f = out_dir / e.file
        if not f.is_file():
            problems.append(f"{e.name}: file {f} is missing")
        elif f.stat().st_size != e.size_bytes or sha256_file(f) != e.sha256:
            problems.append(f"{e.name}: {f} does not match its recorded size/sha256")
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
