"""What the benchmark ran on: CPU model, cores, OS, Python and library versions, date.

Versions come from the installed package metadata, so nothing heavy (TensorFlow)
is imported just to print its version; this module is safe in ``--edge-only`` mode.

    python -m benchmarks.sysinfo        # print this machine's record as JSON
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from importlib import metadata

# Distribution names whose versions the report records (missing ones are "not installed").
PACKAGES = (
    "numpy",
    "ai-edge-litert",
    "tflite-runtime",
    "opencv-python-headless",
    "opencv-python",
    "tensorflow",
    "tensorflow-cpu",
    "tf-keras",
    "onnx",
    "onnxruntime",
    "tf2onnx",
    "matplotlib",
)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux; a Pi reports 'Model' or 'Hardware')."""
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        return platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware", "cpu model", "processor"):
        if fields.get(key) and not fields[key].isdigit():
            return fields[key]
    return platform.processor() or platform.machine()


def cores() -> dict:
    """Logical cores, and how many this process may use (affinity/cgroup-limited)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"logical": os.cpu_count(), "usable": usable}


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: a busy machine makes timings noisy."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine() -> dict:
    """Everything the report states about where and when it ran."""
    return {
        "cpu": cpu_model(),
        "cores": cores(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "versions": versions(),
        "load_average_at_start": load_average(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


if __name__ == "__main__":
    print(json.dumps(machine(), indent=2))
