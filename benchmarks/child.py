"""One measurement child per model: the process protocol, both sides.

The parent writes the test inputs once (``inputs.npz``: (n, 28, 28) float32 in
[0, 1] and labels), then :func:`run_child` starts ``python -m benchmarks.child
SPEC.json`` per model, so load time and memory peaks belong to that model alone.
The child picks the runtime module by ``spec["kind"]``, runs it and writes a JSON
summary plus an ``.npz`` of raw latencies and predictions.

Only the parent imports this module; the child runs it as ``__main__`` (nothing
imports it back, so it is never loaded twice in one process).

    python -m benchmarks.child SPEC.json     # what the parent runs per model
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.harness import ChildSpec, TimingOptions, current_rss_mb, peak_rss_mb
from benchmarks.keras_bench import measure_keras
from benchmarks.onnx_bench import measure_onnx
from benchmarks.tflite_bench import measure_tflite
from edge_runtime.contract import PROJECT_ROOT

CHILD_TIMEOUT_S = 900
MEASURE = {"tflite": measure_tflite, "onnx": measure_onnx, "keras": measure_keras}
"""Runtime module per spec kind; each measure(spec, x, y, timing) -> (summary, samples)."""


class ChildError(RuntimeError):
    """A measurement child failed; the message carries the tail of its stderr."""


# ---------------------------------------------------------------- child side


def run_spec(spec: ChildSpec) -> dict:
    """Measure one model as ``spec`` says; write its JSON and samples; return the JSON."""
    with np.load(spec["inputs"]) as data:
        x, y = data["x"], data["y"]
    timing = TimingOptions.from_json(spec["timing"])
    base_rss = current_rss_mb()  # Python, numpy and the inputs; no runtime imported yet
    measure = MEASURE.get(spec["kind"])
    if measure is None:
        raise ValueError(f"unknown model kind {spec['kind']!r}; expected one of {', '.join(MEASURE)}")
    result, samples = measure(spec, x, y, timing)
    result.setdefault("peak_rss_mb", peak_rss_mb())
    result["model_rss_mb"] = result.pop("loaded_rss_mb") - base_rss
    result["tensorflow_imported"] = "tensorflow" in sys.modules
    np.savez_compressed(spec["samples"], **samples)
    Path(spec["result"]).write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(
            "usage: python -m benchmarks.child SPEC.json (started by python -m benchmarks)", file=sys.stderr
        )
        return 2
    run_spec(json.loads(Path(argv[0]).read_text()))
    return 0


# ---------------------------------------------------------------- parent side


def run_child(spec: ChildSpec, workdir: Path, tag: str) -> tuple[dict, dict]:
    """Run ``spec`` in a fresh Python process; return (summary, samples). Raises ChildError."""
    spec = ChildSpec(spec)
    spec.setdefault("result", str(workdir / f"{tag}.json"))
    spec.setdefault("samples", str(workdir / f"{tag}.npz"))
    spec_path = workdir / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", str(spec_path)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise ChildError(f"{tag}: measurement child exited with {proc.returncode}:\n{tail}")
    summary = json.loads(Path(spec["result"]).read_text())
    with np.load(spec["samples"]) as data:
        samples = {k: data[k] for k in data.files}
    return summary, samples


if __name__ == "__main__":
    sys.exit(main())
