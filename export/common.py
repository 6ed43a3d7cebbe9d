"""Small pieces export.run and export.stepwise both use (kept apart so neither imports the other)."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path


class ExportError(RuntimeError):
    """Bad input or environment that stops the whole export (one clear line for the user)."""


def versions() -> dict:
    out = {}
    for pkg in ("tensorflow", "tf_keras"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def read_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ExportError(f"unreadable training config: {path} ({exc}); retrain or fix it") from exc
