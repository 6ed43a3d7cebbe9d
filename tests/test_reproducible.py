"""The README's claim "retraining gives bit-identical weights", tested.

Two dry-run trainings (the default recipe with its augmentation and deterministic ops,
on 1000 images for one epoch) in separate processes, as a user would run them twice;
then every weight of the two saved models is compared bit for bit. Separate processes
also keep TensorFlow's process-wide determinism switch out of the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edge_runtime.contract import PROJECT_ROOT


def _dry_run(out) -> None:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "--dry-run",
            "--train-limit",
            "1000",
            "--val-size",
            "1000",
            "--out",
            str(out),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_retraining_gives_bit_identical_weights(tmp_path):
    if not os.environ.get("MNIST_PATH"):
        pytest.skip("MNIST_PATH is not set (point it at mnist.npz)")
    from training.models import load_keras

    _dry_run(tmp_path / "a")
    _dry_run(tmp_path / "b")
    a, b = (load_keras(tmp_path / run).get_weights() for run in ("a", "b"))
    assert len(a) == len(b) > 0
    for wa, wb in zip(a, b, strict=True):
        assert wa.dtype == wb.dtype and np.array_equal(wa, wb)  # exact, not approximately equal
