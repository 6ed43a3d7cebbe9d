"""Start-up time and memory of the edge program, as a user runs it.

Runs ``python -m edge_runtime image IMAGE --json --model MODEL`` in fresh processes and
records the wall time from launch to exit (interpreter start, imports, model load,
decode, find, normalize, classify, output) and the process's peak resident memory.

    python -m benchmarks.startup_bench models/lstm_unrolled_dynamic.tflite photo.jpg
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# Runs the edge program's own main() and then reports this process's peak RSS on
# the last stderr line, so nothing but the edge program and this shim is in the
# measured process. VmHWM, not ru_maxrss: after fork+exec ru_maxrss still holds
# the (large) benchmark parent's peak.
SHIM = (
    "import runpy, sys\n"
    "sys.argv = ['edge_runtime'] + sys.argv[1:]\n"
    "code = 0\n"
    "try:\n"
    "    runpy.run_module('edge_runtime', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code or 0\n"
    "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
    "print('peak_rss_kib', hwm[0] if hwm else -1, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def measure_startup(model: Path, image: Path, runs: int = 5, cwd: Path | None = None) -> dict:
    """Median/min/max wall ms and max peak RSS over ``runs`` fresh launches; the text read."""
    walls, peaks, text = [], [], None
    cmd = [sys.executable, "-c", SHIM, "image", str(image), "--json", "--model", str(model)]
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)
        walls.append((time.perf_counter() - t0) * 1e3)
        peak_lines = [line for line in proc.stderr.splitlines() if line.startswith("peak_rss_kib ")]
        if proc.returncode != 0 or not peak_lines:
            raise RuntimeError(
                f"edge program failed on {image} (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
            )
        peaks.append(int(peak_lines[-1].split()[1]) / 1024)  # -1 KiB: no /proc (not Linux)
        text = json.loads(proc.stdout.strip().splitlines()[-1]).get("text")
    return {
        "image": str(image),
        "model": str(model),
        "runs": runs,
        "wall_ms_median": float(np.median(walls)),
        "wall_ms_min": float(min(walls)),
        "wall_ms_max": float(max(walls)),
        "peak_rss_mb": float(max(peaks)),
        "text": text,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m benchmarks.startup_bench MODEL.tflite IMAGE", file=sys.stderr)
        return 2
    print(json.dumps(measure_startup(Path(argv[0]), Path(argv[1])), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
