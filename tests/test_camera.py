"""The camera loop on a video file written with cv2.VideoWriter (stands in for a webcam)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.camera import CameraError, CameraOptions, FrameSource
from edge_runtime.contract import PROJECT_ROOT

ROOT = PROJECT_ROOT
FRAMES = 6


@pytest.fixture(scope="module")
def video(tmp_path_factory, clean_digits):
    from edge_runtime.scenes import render_sheet

    x, y = clean_digits
    path = tmp_path_factory.mktemp("video") / "desk.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    assert writer.isOpened()
    img, text = render_sheet(x[10:14], y[10:14], np.random.default_rng(11), jpeg=False)
    for _ in range(FRAMES):
        writer.write(img)
    writer.release()
    return path, text


def test_video_file_ends_cleanly(video):
    path, _ = video
    frames = list(FrameSource(CameraOptions(source=str(path))))
    assert len(frames) == FRAMES and frames[0].shape == (480, 640, 3)


def read_live(path, pause: float, until) -> tuple[FrameSource, int]:
    """Read the video file as a live source, ``pause`` s per frame, until ``until(source, frames
    read)``; -> (the stopped source, frames read)."""
    src = FrameSource(CameraOptions(source=str(path), live=True, reconnect_seconds=2))
    got = 0
    for _ in src:
        got += 1
        time.sleep(pause)
        if until(src, got):
            break
    src.stop()
    return src, got


def test_live_source_reconnects_after_dropping_out(video):
    # As a "live" source the file drops out at its end; the grabber reopens it and goes on.
    src, got = read_live(video[0], 0.01, lambda src, got: src.reconnects >= 2)
    assert src.reconnects >= 2 and got >= 1


def test_live_source_counts_the_frames_a_slow_reader_skips(video):
    # The grabber keeps only the newest frame; a reader slower than the source skips, and counts it.
    src, got = read_live(video[0], 0.3, lambda src, got: got == 3)  # far slower than a 6-frame file
    assert got == 3 and src.skipped >= 1


def test_missing_source_gives_up_after_bounded_wait(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(CameraError, match="cannot open"):
        FrameSource(CameraOptions(source=str(tmp_path / "nocam.avi"), live=True, reconnect_seconds=0.6))
    assert time.perf_counter() - t0 < 3


def test_picamera_without_picamera2_is_a_clear_error():
    try:
        import picamera2  # noqa: F401

        pytest.skip("Picamera2 is installed here")
    except ImportError:
        pass
    with pytest.raises(CameraError, match="python3-picamera2"):
        FrameSource(CameraOptions(source="picamera"))


def _cli(args, model_path, **kw):
    env = dict(os.environ, DIGITS_MODEL=str(model_path), PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "edge_runtime", "camera", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        **kw,
    )


def test_cli_reads_frames_and_saves_with_fps(video, model_path, tmp_path):
    path, text = video
    p = _cli(["--source", str(path), "--json", "--max-frames", "3", "--save", str(tmp_path)], model_path)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert all(r["source"] == str(path) and r["text"] == text and "fps" in r for r in records)
    assert len(list(tmp_path.glob("frame_*.jpg"))) == 3
    p = _cli(["--source", str(path)], model_path)  # to the end of the file
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0 and len(out.splitlines()) == FRAMES


def test_cli_stops_on_sigterm(model_path, tmp_path):
    long_video = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(long_video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    frame = np.full((240, 320, 3), 200, np.uint8)
    cv2.putText(frame, "42", (100, 160), cv2.FONT_HERSHEY_SIMPLEX, 3, (20, 20, 20), 8)
    for _ in range(3000):
        writer.write(frame)
    writer.release()
    p = _cli(["--source", str(long_video)], model_path)
    p.stdout.readline()  # running: the first frame was read
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert len(out.splitlines()) + 1 < 3000  # stopped early, cleanly


def test_unopenable_source_exits_nonzero_with_message(model_path, tmp_path):
    p = _cli(["--source", str(tmp_path / "none.avi"), "--reconnect-seconds", "0.5"], model_path)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1 and "cannot open camera source" in err


# ---------------------------------------------------------------- hostile sources (issue 10)


def _numbered_video(path: Path, n: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(n):
        frame = np.full((120, 160, 3), 200, np.uint8)
        cv2.putText(frame, str(i % 10), (50, 90), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (20, 20, 20), 6)
        writer.write(frame)
    writer.release()


def _damage_frames(path: Path, frames: tuple[int, ...]) -> None:
    """Overwrite the JPEG data of these frames of an MJPG AVI with junk (containers intact)."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    for k in frames:
        end = starts[k + 1] - 8  # up to the next frame's chunk header
        data[starts[k] : end] = b"\xab" * (end - starts[k])
    path.write_bytes(bytes(data))


def test_damaged_frames_in_the_middle_are_skipped_and_counted(tmp_path, model_path):
    path = tmp_path / "damaged.avi"
    _numbered_video(path, 30)
    _damage_frames(path, (10, 11, 12, 20))
    src = FrameSource(CameraOptions(source=str(path)))
    frames = list(src)
    assert len(frames) == 26 and src.bad_frames == 4  # every decodable frame, the rest counted
    p = _cli(["--source", str(path)], model_path)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and len(out.splitlines()) == 26, err
    assert "4 damaged frames" in err


def test_zero_frame_video_is_an_error(tmp_path, model_path):
    path = tmp_path / "empty.avi"
    _numbered_video(path, 0)
    p = _cli(["--source", str(path)], model_path)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1 and out == "" and "error:" in err and "Traceback" not in err, err


@pytest.fixture
def silent_server():
    """A real local TCP server that accepts connections and never sends a byte."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns, stop = [], threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/stream.mjpg", conns
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def test_silent_stream_honours_reconnect_seconds_and_says_how_long(silent_server):
    import re

    url, conns = silent_server
    t0 = time.monotonic()
    with pytest.raises(CameraError) as info:
        FrameSource(CameraOptions(source=url, reconnect_seconds=2))
    waited = time.monotonic() - t0
    assert conns, "the server never saw a connection"
    said = float(re.search(r"gave up after ([\d.]+) s", str(info.value)).group(1))
    assert 2.0 <= said <= waited + 0.1  # the message tells the real elapsed time
    assert waited < 15  # FFmpeg's default wait on a silent server is ~30 s per attempt


def test_ctrl_c_while_waiting_for_a_silent_stream_exits_at_once(silent_server, model_path):
    url, conns = silent_server
    p = _cli(["--source", url, "--reconnect-seconds", "120"], model_path)
    deadline = time.monotonic() + 60
    while not conns and time.monotonic() < deadline:  # FFmpeg is now waiting on the server
        time.sleep(0.05)
    assert conns
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)  # without the helper thread: up to 120 s
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, err


def test_reconnect_seconds_must_be_finite_and_not_negative():
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(CameraError, match="reconnect_seconds"):
            CameraOptions(reconnect_seconds=bad)


def test_stream_that_stalls_after_some_frames_gives_up_in_bounded_time():
    """A real MJPEG-over-HTTP server: 20 frames on the first connection, then silence (the
    connection stays open), and silence on every reconnection."""
    import re

    from tests.mjpeg_server import StallingMjpegServer

    with StallingMjpegServer(frames=20) as server:
        src = FrameSource(CameraOptions(source=server.url, reconnect_seconds=2))
        got, t_last = 0, time.monotonic()
        with pytest.raises(CameraError) as info:
            for _ in src:
                got, t_last = got + 1, time.monotonic()
        waited = time.monotonic() - t_last
        conns = server.conns
    assert got >= 1 and len(conns) >= 2  # frames were read, then it tried to reconnect
    said = float(re.search(r"none for ([\d.]+) s", str(info.value)).group(1))
    assert 2.0 <= said <= waited + 0.1 and waited < 15  # honoured, and the message tells the truth
