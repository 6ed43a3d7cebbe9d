"""digits-edge on hostile or unlucky input (issue 10): every case a clear line and an exit code.

Each test runs the real CLI in a subprocess on real files, with the real model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.contract import PROJECT_ROOT

ROOT = PROJECT_ROOT


@pytest.fixture(scope="module")
def env(model_path):
    return dict(os.environ, PYTHONPATH=str(ROOT), DIGITS_MODEL=str(model_path))


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    img = np.full((120, 100), 255, np.uint8)
    cv2.putText(img, "7", (20, 100), cv2.FONT_HERSHEY_SIMPLEX, 3, 0, 10)
    path = tmp_path_factory.mktemp("img") / "seven.png"
    cv2.imwrite(str(path), img)
    return path


def run(args, env, timeout=120, **kw):
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime", *args],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        **kw,
    )


def test_save_with_a_non_utf8_file_name_writes_the_copy(env, digit_png, tmp_path):
    src = os.fsencode(tmp_path) + b"/\xff\xfe-digit.png"  # not valid UTF-8: cv2.imwrite segfaulted
    Path(os.fsdecode(src)).write_bytes(digit_png.read_bytes())
    out = run([b"image", src, b"--json", b"--save", os.fsencode(tmp_path / "ann")], env)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["source"].endswith("\\xff\\xfe-digit.png") and "error" not in record
    saved = os.listdir(os.fsencode(tmp_path / "ann"))
    assert saved == [b"\xff\xfe-digit.png.png"]
    assert cv2.imdecode(np.fromfile(os.fsencode(tmp_path / "ann") + b"/" + saved[0], np.uint8), 1) is not None
    plain = run([b"image", src], env)  # readable lines print the name too
    assert plain.returncode == 0 and b"\\xff\\xfe-digit.png" in plain.stdout


def test_output_piped_into_head_ends_quietly(env, digit_png):
    cmd = f"{sys.executable} -m edge_runtime image {' '.join([str(digit_png)] * 40)} | head -n 1"
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert len(out.stdout.splitlines()) == 1
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr
    assert out.returncode in (0, 141)  # 141 = 128 + SIGPIPE when the reader left before the end


def test_folder_without_images_is_an_error(env, tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    out = run(["image", str(tmp_path)], env)
    assert out.returncode == 1 and b"folder has no images" in out.stdout


def test_save_onto_a_file_is_an_error_before_any_work(env, digit_png, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    for cmd in (["image", str(digit_png)], ["camera", "--source", str(tmp_path / "none.avi")]):
        out = run([*cmd, "--save", str(target)], env)
        assert out.returncode == 2 and b"is a file, not a folder" in out.stderr, out.stderr
        assert b"Traceback" not in out.stderr


def test_save_into_an_unwritable_folder_is_an_error(env, digit_png, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        (folder / "probe").write_bytes(b"")
        folder = Path("/sys/kernel")  # root ignores the mode bits; sysfs refuses new files to everyone
    except OSError:
        pass
    out = run(["image", str(digit_png), "--save", str(folder)], env)
    assert out.returncode == 2 and b"cannot write to --save folder" in out.stderr, out.stderr


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--max-frames", "0"], b"--max-frames"),
        (["--max-frames", "-3"], b"--max-frames"),
        (["--reconnect-seconds", "nan"], b"--reconnect-seconds"),
        (["--reconnect-seconds", "-1"], b"--reconnect-seconds"),
        (["--reconnect-seconds", "inf"], b"--reconnect-seconds"),
        (["--threads", "0"], b"--threads"),
        (["--min-confidence", "nan"], b"--min-confidence"),
        (["--min-confidence", "2"], b"--min-confidence"),
    ],
)
def test_bad_flag_values_are_rejected_by_the_parser(env, flags, message):
    out = run(["camera", "--source", "none.avi", *flags], env, timeout=60)
    assert out.returncode == 2 and message in out.stderr and b"Traceback" not in out.stderr, out.stderr
