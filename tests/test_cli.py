"""The digits-edge CLI in a subprocess, with TensorFlow made unimportable, on real files."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.contract import PROJECT_ROOT

ROOT = PROJECT_ROOT


@pytest.fixture(scope="module")
def no_tf_env(tmp_path_factory, model_path):
    """Environment whose PYTHONPATH shadows tensorflow/keras/tf_keras with packages that raise."""
    shim = tmp_path_factory.mktemp("no_tf")
    for name in ("tensorflow", "keras", "tf_keras"):
        (shim / name).mkdir()
        (shim / name / "__init__.py").write_text(
            f"raise ImportError('{name} must not be imported by edge_runtime')\n"
        )
    env = dict(os.environ, PYTHONPATH=f"{shim}{os.pathsep}{ROOT}", DIGITS_MODEL=str(model_path))
    return env


def run(args, env, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def test_seed_image_reads_9_without_tensorflow(no_tf_env):
    seed = os.environ.get("DIGITS_SEED_IMAGE")
    if not seed:
        pytest.skip("DIGITS_SEED_IMAGE is not set")
    t0 = time.perf_counter()
    out = run(["image", seed, "--json"], no_tf_env)
    elapsed = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["text"] == "9" and record["source"] == seed and record["frame"] is None
    assert elapsed < 10  # the bar is 1.5 s on an idle machine; this one is shared
    # The shim really works: importing tensorflow under it fails.
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], env=no_tf_env, capture_output=True)
    assert probe.returncode != 0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, clean_digits):
    from edge_runtime.scenes import render_sheet

    d = tmp_path_factory.mktemp("inputs")
    x, y = clean_digits
    img, text = render_sheet(x[:4], y[:4], np.random.default_rng(3), jpeg=False)
    cv2.imwrite(str(d / "good.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    grey16 = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    cv2.imwrite(str(d / "sixteen.png"), grey16)
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    cv2.imwrite(str(d / "alpha.png"), rgba)
    cv2.imwrite(str(d / "good.webp"), img)
    data = (d / "good.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (d / "empty.png").write_bytes(b"")
    (d / "text.png").write_text("not an image\n")
    return d, text


def test_batch_with_bad_inputs(no_tf_env, inputs, tmp_path):
    d, text = inputs
    names = [
        "good.jpg",
        "sixteen.png",
        "alpha.png",
        "good.webp",
        "truncated.jpg",
        "empty.png",
        "text.png",
        "missing.png",
    ]
    out = run(["image", *[str(d / n) for n in names], "--json", "--save", str(tmp_path / "ann")], no_tf_env)
    assert out.returncode == 1  # some inputs failed
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["source"]).name for r in records] == names
    by = {Path(r["source"]).name: r for r in records}
    for good in names[:4]:
        assert by[good]["text"] == text, (good, by[good])
        assert all(len(dg["box"]) == 4 and 0 <= dg["confidence"] <= 1 for dg in by[good]["digits"])
    assert "truncated" in by["truncated.jpg"]["error"]
    assert "empty" in by["empty.png"]["error"]
    assert "not a readable image" in by["text.png"]["error"]
    assert "no such file" in by["missing.png"]["error"]
    assert len(list((tmp_path / "ann").glob("*.png"))) == 4


def test_folder_glob_and_readable_output(no_tf_env, inputs):
    d, text = inputs
    out = run(["image", str(d / "good.*")], no_tf_env)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 2 and all(text in line for line in lines)
    out = run(["image", str(d), "--json"], no_tf_env)
    assert len(out.stdout.splitlines()) == 7  # every image-named file in the folder, bad ones included


def test_missing_model_is_one_clear_line(no_tf_env, inputs):
    d, _ = inputs
    out = run(["image", str(d / "good.jpg"), "--model", str(d / "nope.tflite")], no_tf_env)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "make export" in out.stderr
    (d / "junk.tflite").write_bytes(b"junk")
    out = run(["image", str(d / "good.jpg"), "--model", str(d / "junk.tflite")], no_tf_env)
    assert out.returncode == 2 and "cannot load" in out.stderr
