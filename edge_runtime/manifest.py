"""models/manifest.json: its one typed definition, and finding (and checking) the model to run.

``parse_manifest`` turns the JSON into a frozen ``Manifest`` of ``ManifestEntry`` records
or raises ``ManifestError`` with one line naming the problem (``"models": 5``, an entry
without ``file``, ``"file": null``, a default that is not listed...). The export writes
through the same definition (export/manifest.py), so a manifest it writes always parses.

Which model runs: an explicit path, then the ``DIGITS_MODEL`` environment variable, then
the manifest's default in ``<project>/models`` (the folder next to edge_runtime/). The
file's sha256 is checked against the manifest whenever the model's folder has a
manifest.json that lists a file of that name: a swapped or damaged file is refused with
``ManifestError``. A model file outside any manifest (``--model /tmp/experiment.tflite``)
has no recorded hash and runs unchecked; the classifier still checks its shapes.

    python -m edge_runtime.manifest [models/]   # print the default model path (checked)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from edge_runtime.classifier import ModelError
from edge_runtime.contract import MODELS_DIR, PRODUCT_ARCH, TIE_BAND

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


class ManifestError(ModelError):
    """models/manifest.json is missing, unreadable, of the wrong shape, or does not match a file."""


@dataclass(frozen=True)
class ManifestEntry:
    """One shipped .tflite file. Fields without a default are required and never null."""

    name: str
    """Variant name, e.g. lstm_fused_int8; unique in the manifest."""
    file: str
    """File name inside the manifest's folder (no folders, no '..')."""
    sha256: str
    """Hex sha256 of the file; the runtime refuses a file that does not match."""
    size_bytes: int
    arch: str
    graph: str
    quantization: str
    input: dict
    """Tensor record: dtype, shape, scale, zero_point."""
    output: dict
    test_accuracy: float
    """Accuracy on the MNIST test images, measured after export (0..1)."""
    latency_us_p50: float
    """Export-time median latency per digit, 1 thread (us)."""
    input_contract: dict | None = None
    ops: list | None = None
    keras_test_accuracy: float | None = None
    agreement: float | None = None
    max_logit_diff: float | None = None
    tolerance_pp: float | None = None
    test_images: int | None = None
    repeatable: bool | None = None
    training: dict | None = None
    data_sha256: str | None = None
    keras: dict | None = None
    converter: dict | None = None
    cache_key: str | None = None
    role: str | None = None
    """None or "classifier": a digit model the runtime may use; "stepwise": the serve page's
    per-row outputs of the LSTM (never a default, never read as a classifier)."""
    reference: str | None = None
    """stepwise only: the shipped model its last row was checked against."""
    logit_tolerance: float | None = None
    """stepwise only: the largest logit difference allowed against the shipped model."""
    temperature: float | None = None
    """Softmax temperature fitted on the validation split (export/calibrate.py); None: 1.0."""
    calibration: dict | None = None
    """How the temperature was fitted and the calibration error before and after."""


OPTIONAL_KEYS = ("role", "reference", "logit_tolerance", "temperature", "calibration")
"""Keys added after the first manifests: an entry without them is still complete."""


@dataclass(frozen=True)
class Manifest:
    schema: int
    default: str
    """Name of the model the runtime uses unless told otherwise."""
    default_reason: str
    models: tuple[ManifestEntry, ...]
    default_tolerance_pp: float | None = None
    """The accuracy tolerance (percentage points) ``default_reason``'s rule used; None in
    manifests written before it was recorded (``digits-edge tune`` then uses the contract's)."""

    def entry(self, name: str) -> ManifestEntry:
        return next(e for e in self.models if e.name == name)

    def by_file(self, file: str) -> ManifestEntry | None:
        return next((e for e in self.models if e.file == file), None)

    def to_json(self) -> dict:
        """The JSON object written to manifest.json (entries as dicts, in order)."""
        return {
            "schema": self.schema,
            "default": self.default,
            "default_reason": self.default_reason,
            **(
                {}
                if self.default_tolerance_pp is None
                else {"default_tolerance_pp": self.default_tolerance_pp}
            ),
            "models": [asdict(e) for e in self.models],
        }


ENTRY_KEYS = tuple(f.name for f in fields(ManifestEntry))
"""Every key of an entry, as export writes it."""
TENSOR_KEYS = ("dtype", "shape", "scale", "zero_point")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _type_ok(value, annotation) -> bool:
    """Whether a JSON value fits one of the simple annotations used above."""
    allowed = typing.get_args(annotation) or (annotation,)
    for t in allowed:
        if t is type(None) and value is None:
            return True
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                return False
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t in (str, dict, list, bool) and isinstance(value, t):
            return True
    return False


def _type_name(annotation) -> str:
    names = [getattr(t, "__name__", str(t)) for t in (typing.get_args(annotation) or (annotation,))]
    return " or ".join("null" if n == "NoneType" else n for n in names)


_HINTS = typing.get_type_hints(ManifestEntry)


def parse_entry(obj, where: str = "entry") -> ManifestEntry:
    """A JSON object -> ManifestEntry; ``ManifestError`` naming the first problem. Unknown keys
    (from a newer export) are ignored."""
    if not isinstance(obj, dict):
        raise ManifestError(f"{where} is {type(obj).__name__}, not an object")
    name = obj.get("name")
    where = f"{where} {name!r}" if isinstance(name, str) else where
    values = {}
    for f in fields(ManifestEntry):
        required = f.default is f.default_factory  # both dataclasses.MISSING: no default
        if f.name not in obj:
            if required:
                raise ManifestError(f"{where} has no {f.name!r}")
            continue
        value = obj[f.name]
        if not _type_ok(value, _HINTS[f.name]):
            raise ManifestError(
                f"{where}: {f.name!r} is {json.dumps(value)[:40]}, not {_type_name(_HINTS[f.name])}"
            )
        values[f.name] = value
    entry = ManifestEntry(**values)
    if Path(entry.file).name != entry.file or entry.file in ("", ".", ".."):
        raise ManifestError(
            f"{where}: 'file' must be a file name in the manifest's folder, not {entry.file!r}"
        )
    if not _HEX64.fullmatch(entry.sha256):
        raise ManifestError(f"{where}: 'sha256' is not 64 hex digits")
    for side in ("input", "output"):
        missing = [k for k in TENSOR_KEYS if k not in getattr(entry, side)]
        if missing:
            raise ManifestError(f"{where}: {side!r} lacks {', '.join(missing)}")
    return entry


def parse_manifest(obj, where: str = MANIFEST_NAME) -> Manifest:
    """Parsed JSON -> Manifest; ``ManifestError`` with one line naming the first problem."""
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: top level is {type(obj).__name__}, not an object")
    models = obj.get("models")
    if not isinstance(models, list):
        raise ManifestError(f"{where}: 'models' is {json.dumps(models)[:40]}, not a list")
    entries = tuple(parse_entry(e, f"{where}: models[{i}]") for i, e in enumerate(models))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ManifestError(f"{where}: model names repeat ({', '.join(sorted(names))})")
    default, schema, reason = (
        obj.get("default"),
        obj.get("schema", SCHEMA_VERSION),
        obj.get("default_reason", ""),
    )
    if not isinstance(default, str) or default not in names:
        raise ManifestError(f"{where}: default model {json.dumps(default)[:40]} is not in its 'models' list")
    if not _type_ok(schema, int) or not isinstance(reason, str):
        raise ManifestError(f"{where}: 'schema' must be a number and 'default_reason' a string")
    tolerance = obj.get("default_tolerance_pp")
    if tolerance is not None and not (_type_ok(tolerance, float) and 0 <= tolerance <= 100):
        raise ManifestError(
            f"{where}: 'default_tolerance_pp' is {json.dumps(tolerance)[:40]}, not percentage points (0-100)"
        )
    return Manifest(
        schema=schema,
        default=default,
        default_reason=reason,
        models=entries,
        default_tolerance_pp=None if tolerance is None else float(tolerance),
    )


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(models_dir: str | Path | None = None) -> Manifest:
    """The parsed <models_dir>/manifest.json; ``ManifestError`` saying what to do if it is
    missing, unreadable or of the wrong shape."""
    path = Path(models_dir or MODELS_DIR) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no model manifest at {path}; run make export or pass --model PATH.tflite")
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ManifestError(f"unreadable model manifest {path}: {exc}; run make export again") from exc
    try:
        return parse_manifest(data, str(path))
    except ManifestError as exc:
        raise ManifestError(f"{exc}; run make export again") from None


def check_file(folder: Path, entry: ManifestEntry) -> Path:
    """The entry's file, if it exists and has the recorded sha256; ``ManifestError`` otherwise."""
    path = folder / entry.file
    if not path.is_file():
        raise ManifestError(
            f"model file {path} named in {folder / MANIFEST_NAME} is missing; run make export"
        )
    if sha256_file(path) != entry.sha256:
        raise ManifestError(
            f"{path} does not match the sha256 in {folder / MANIFEST_NAME} (the file was replaced or "
            "damaged); copy it again with its manifest, or run make export"
        )
    return path


def default_model_path(models_dir: str | Path | None = None) -> Path:
    """Path of the manifest's default model in ``models_dir`` (default <project>/models), checked
    against its sha256."""
    folder = Path(models_dir or MODELS_DIR)
    manifest = read_manifest(folder)
    return check_file(folder, manifest.entry(manifest.default))


def verify_model_path(path: str | Path) -> Path:
    """A model named by path: checked against its folder's manifest.json when that lists a file
    of this name; returned unchecked when there is no manifest there or it does not list it."""
    path = Path(path)
    if not (path.parent / MANIFEST_NAME).is_file():
        return path
    entry = read_manifest(path.parent).by_file(path.name)
    return path if entry is None else check_file(path.parent, entry)


def manifest_beside(model_path: str | Path) -> Manifest | None:
    """The manifest in a model file's folder, for what it says about the file (temperature,
    the per-row file, /api/info); None when there is none or it cannot be read: a model named
    by path may come without one, and verify_model_path has already checked it where it mattered."""
    folder = Path(model_path).parent
    if not (folder / MANIFEST_NAME).is_file():
        return None
    try:
        return read_manifest(folder)
    except ManifestError:
        return None


def temperature_for(model_path: str | Path, manifest: Manifest | None = None) -> float:
    """The softmax temperature that the manifest beside ``model_path`` (or ``manifest``, already
    read) records for that file (export/calibrate.py); 1.0 when there is no manifest, no entry or
    no valid temperature."""
    manifest = manifest or manifest_beside(model_path)
    entry = manifest.by_file(Path(model_path).name) if manifest is not None else None
    t = entry.temperature if entry is not None else None
    return t if t is not None and 0 < t < float("inf") else 1.0


# ---------------------------------------------------------------- the default-model rule
# One rule, applied by export to the export machine's latencies (the manifest's default) and by
# digits-edge tune to this device's (its own default); entries are manifest entries as dicts.


def accurate_pool(entries: list[dict], tolerance_pp: float) -> tuple[list[dict], dict[str, str]]:
    """The rule's first half: the classifier entries (not the serve page's per-row file) of the
    product architecture (of any, if none is there) within ``tolerance_pp`` of the most accurate
    one's test accuracy; and {name: why} for each other classifier entry."""
    classifiers = [e for e in entries if (e.get("role") or "classifier") == "classifier"]
    pool = [e for e in classifiers if e.get("arch") == PRODUCT_ARCH] or list(classifiers)
    excluded = {
        e["name"]: f"not the product architecture ({e.get('arch')})" for e in classifiers if e not in pool
    }
    if pool:
        best = max(e["test_accuracy"] for e in pool)
        for e in list(pool):
            if (best - e["test_accuracy"]) * 100 > tolerance_pp + 1e-9:
                excluded[e["name"]] = (
                    f"test accuracy {e['test_accuracy']} is more than {tolerance_pp} pp below the best ({best})"
                )
                pool.remove(e)
    return pool, excluded


def fastest_then_smallest(
    entries: list[dict], latency: Callable[[dict], float]
) -> tuple[dict, float, list[dict]]:
    """The rule's second half: (the chosen entry, the fastest latency, the entries tied with it):
    latencies within TIE_BAND of the fastest count as a tie, and a tie goes to the smaller file."""
    fastest = min(latency(e) for e in entries)
    quick = [e for e in entries if latency(e) <= fastest * (1 + TIE_BAND)]
    chosen = min(quick, key=lambda e: (e.get("size_bytes") or 0, latency(e), e["name"]))
    return chosen, fastest, quick


def resolve_model(model: str | Path | None = None) -> Path:
    """An explicit model path, else $DIGITS_MODEL, else the manifest default in <project>/models
    (else in ./models, for a non-editable install whose package folder has no models/)."""
    explicit = model or os.environ.get("DIGITS_MODEL")
    if explicit:
        return verify_model_path(explicit)
    return default_model_path(models_folder())


def models_folder() -> Path:
    """Where the runtime looks for manifest.json when no model is named: <project>/models, else
    ./models (a non-editable install, whose package folder has no models/)."""
    if not (MODELS_DIR / MANIFEST_NAME).is_file() and (Path.cwd() / "models" / MANIFEST_NAME).is_file():
        return Path.cwd() / "models"
    return MODELS_DIR


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        print(default_model_path(argv[0] if argv else None))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
