"""Find the shipped model: models/manifest.json names the default .tflite file.

Order: an explicit path, then the ``DIGITS_MODEL`` environment variable, then the
manifest's default in ``<project>/models`` (the folder next to edge_runtime/).

    python -m edge_runtime.manifest   # print the default model path
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from edge_runtime.classifier import ModelError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
"""<project>/models: where make export writes the .tflite files and manifest.json."""


def read_manifest(models_dir: str | Path | None = None) -> dict:
    """The parsed models/manifest.json; ``ModelError`` saying what to do if it is missing or bad."""
    path = Path(models_dir or MODELS_DIR) / "manifest.json"
    if not path.is_file():
        raise ModelError(f"no model manifest at {path}; run make export or pass --model PATH.tflite")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"unreadable model manifest {path}: {exc}; run make export again") from exc
    if not isinstance(manifest, dict) or "models" not in manifest:
        raise ModelError(f"{path} has no 'models' list; run make export again")
    return manifest


def default_model_path(models_dir: str | Path | None = None) -> Path:
    """Path of the manifest's default model in ``models_dir`` (default <project>/models)."""
    folder = Path(models_dir or MODELS_DIR)
    manifest = read_manifest(folder)
    name = manifest.get("default")
    for entry in manifest["models"]:
        if entry.get("name") == name:
            return folder / entry["file"]
    raise ModelError(
        f"{folder / 'manifest.json'}: default model {name!r} is not in its 'models' list; run make export"
    )


def temperature_for(model_path: str | Path) -> float:
    """The softmax temperature that the manifest beside ``model_path`` records for that file
    (export/calibrate.py); 1.0 when there is no manifest, no entry or no valid temperature."""
    path = Path(model_path)
    try:
        entries = json.loads((path.parent / "manifest.json").read_text())["models"]
        t = next(float(e.get("temperature", 1.0)) for e in entries if e.get("file") == path.name)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, StopIteration):
        return 1.0
    return t if 0 < t < float("inf") else 1.0


def resolve_model(model: str | Path | None = None) -> Path:
    """An explicit model path, else $DIGITS_MODEL, else the manifest default in <project>/models
    (else in ./models, for a non-editable install whose package folder has no models/)."""
    if model:
        return Path(model)
    env = os.environ.get("DIGITS_MODEL")
    if env:
        return Path(env)
    if not (MODELS_DIR / "manifest.json").is_file() and (Path.cwd() / "models" / "manifest.json").is_file():
        return default_model_path(Path.cwd() / "models")
    return default_model_path()


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
