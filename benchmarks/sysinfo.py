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


def _cpuinfo(text: str | None = None) -> dict[str, str] | None:
    """/proc/cpuinfo's first value of each field, keys lower-cased (None where it cannot be read)."""
    if text is None:
        try:
            text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
        except OSError:
            return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux; a Pi reports 'Model' or 'Hardware')."""
    fields = _cpuinfo()
    if fields is None:
        return platform.processor() or platform.machine()
    for key in ("model name", "model", "hardware", "cpu model", "processor"):
        if fields.get(key) and not fields[key].isdigit():
            return fields[key]
    return platform.processor() or platform.machine()


VECTOR_FLAGS = ("avx512f", "avx512_vnni", "avx_vnni", "avx2", "fma", "asimd", "asimddp", "sve")
"""/proc/cpuinfo flags that decide which kernels XNNPACK and OpenCV pick (x86 and arm64)."""


def cpu_id(text: str | None = None) -> dict:
    """Which CPU this is beyond its name: x86 family / model / stepping or an arm64 core's
    implementer and part number, and its vector extensions (``VECTOR_FLAGS``). ``text``: a
    /proc/cpuinfo to read instead of this machine's. Two reports both saying "AMD EPYC" timed
    the default model's digit at 32 and at 78 us a day apart; these fields say whether such
    runs had the same CPU."""
    fields = _cpuinfo(text)
    if fields is None:
        return {}
    keys = ("cpu family", "model", "stepping", "cpu implementer", "cpu part")
    out: dict = {k: fields[k] for k in keys if k in fields}
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    out["vector"] = [f for f in VECTOR_FLAGS if f in flags]
    return out


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
        "cpu_id": cpu_id(),
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
