"""digits-edge serve: a real server process on a free loopback port, real HTTP with urllib.

Real photos ($DIGITS_PHOTOS_DIR, $DIGITS_SEED_IMAGE), a real video file of rendered MNIST
digits as the camera, corrupt and oversized uploads, the token beyond loopback, ``..``
paths, a burst that fills the queue, clients that drop MJPEG and SSE streams mid-way,
SIGTERM, and ``image``/``camera`` running with the web framework made unimportable.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette", reason="the [serve] extra is not installed")
pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")

from serve_helpers import ROOT, ServeProcess, get, multipart, request, write_video  # noqa: E402
from test_cli import run as run_edge  # noqa: E402  (python -m edge_runtime, as the CLI tests run it)

PHOTOS = os.environ.get("DIGITS_PHOTOS_DIR")
SEED = os.environ.get("DIGITS_SEED_IMAGE")
MAX_UPLOAD_MB = 2
MAX_MEGAPIXELS = 4


@pytest.fixture(scope="module")
def video(tmp_path_factory, clean_digits):
    x, y = clean_digits
    path = tmp_path_factory.mktemp("serve_video") / "desk.avi"
    return path, write_video(path, x[20:25], y[20:25])


@pytest.fixture(scope="module")
def server(video, model_path):
    """One worker, a queue of 2, small caps; the video file as a looping camera."""
    env = dict(os.environ, DIGITS_MODEL=str(model_path))
    env.pop("DIGITS_SERVE_TOKEN", None)
    srv = ServeProcess(
        "--source",
        str(video[0]),
        "--loop",
        "--workers",
        "1",
        "--queue-size",
        "2",
        "--max-upload-mb",
        str(MAX_UPLOAD_MB),
        "--max-megapixels",
        str(MAX_MEGAPIXELS),
        env=env,
    )
    yield srv
    assert srv.stop() == 0, srv.proc.stderr.read()[-2000:]


def post_image(srv, data: bytes, name="photo.jpg", query=""):
    body, headers = multipart("image", name, data)
    status, _, raw = request(f"{srv.url}/api/read{query}", body, headers, token=srv.token)
    return status, json.loads(raw)


def cli_record(path: str, model_path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "image", path, "--json", "--model", str(model_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    return json.loads(out.stdout.splitlines()[0])


# ---------------------------------------------------------------- reading uploads


@pytest.mark.skipif(not SEED, reason="DIGITS_SEED_IMAGE is not set")
def test_seed_image_reads_9_as_multipart_and_raw_body(server):
    data = Path(SEED).read_bytes()
    status, record = post_image(server, data, "seed_9.jpg")
    assert status == 200 and record["text"] == "9", record
    assert record["source"] == "seed_9.jpg" and record["frame"] is None
    status, _, raw = request(f"{server.url}/api/read", data, {"Content-Type": "image/jpeg"})
    assert status == 200 and json.loads(raw)["text"] == "9"


@pytest.mark.skipif(not PHOTOS, reason="DIGITS_PHOTOS_DIR is not set")
def test_photos_give_the_same_record_as_the_cli(server, model_path):
    photos = sorted(
        p for p in Path(PHOTOS).iterdir() if p.suffix.lower() in (".jpg", ".png", ".bmp", ".jpeg")
    )
    assert photos
    for photo in photos[:: max(1, len(photos) // 6)]:  # six of them: the CLI run per photo is the slow part
        status, record = post_image(server, photo.read_bytes(), photo.name)
        assert status == 200, record
        cli = cli_record(str(photo), model_path)
        assert set(record) == set(cli), (set(record), set(cli))
        assert record["text"] == cli["text"] and record["digits"] == cli["digits"], photo.name
        assert set(record["timings_ms"]) == set(cli["timings_ms"])


def test_detail_gives_inputs_and_probabilities_and_steps_end_on_the_answer(server, clean_digits):
    from edge_runtime.scenes import render_sheet

    x, y = clean_digits
    img, text = render_sheet(x[:3], y[:3], np.random.default_rng(5))
    ok, png = cv2.imencode(".png", img)
    status, record = post_image(server, png.tobytes(), "sheet.png", "?detail=1")
    assert status == 200 and record["text"] == text
    inputs, probs = record["detail"]["inputs"], record["detail"]["probabilities"]
    assert len(inputs) == len(probs) == 3 and len(inputs[0]) == 784 and len(probs[0]) == 10
    body = json.dumps({"input": inputs[0]}).encode()
    status, _, raw = request(f"{server.url}/api/steps", body, {"Content-Type": "application/json"})
    steps = json.loads(raw)
    assert status == 200 and len(steps["probabilities"]) == 28
    assert steps["label"] == record["digits"][0]["label"] == int(text[0])
    assert 1 <= steps["settled_at_row"] <= 28


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        (b"", "empty file"),
        (b"this is not an image at all" * 10, "not a readable image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "0x0 pixels: no image"),  # header read, says nothing
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x00\x00\x00\x00",
            "truncated or corrupt",
        ),
    ],
)
def test_bad_uploads_are_400_with_a_message(server, data, expect):
    status, record = post_image(server, data, "bad.png")
    assert status == 400 and expect in record["error"], record


def test_truncated_jpeg_is_400(server, clean_digits):
    from edge_runtime.scenes import render_sheet

    img, _ = render_sheet(clean_digits[0][:2], clean_digits[1][:2], np.random.default_rng(1))
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    status, record = post_image(server, jpg[: len(jpg) // 2], "cut.jpg")
    assert status == 400 and "truncated" in record["error"], record


def test_multipart_without_image_field_is_400(server):
    body, headers = multipart("file", "x.png", b"123")
    status, _, raw = request(f"{server.url}/api/read", body, headers)
    assert status == 400 and "'image'" in json.loads(raw)["error"]


def post_refusable(srv, body: bytes, headers: dict) -> tuple[int, dict]:
    """POST that may be answered (and closed) before the body is all sent, as a 413 is."""
    u = urlsplit(srv.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    conn.putrequest("POST", "/api/read")
    for k, v in {**headers, "Content-Length": str(len(body))}.items():
        conn.putheader(k, v)
    conn.endheaders()
    try:
        conn.send(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered early and closed: the answer is still there to read
    r = conn.getresponse()
    out = r.status, json.loads(r.read())
    conn.close()
    return out


def test_oversized_uploads_are_413_bytes_and_pixels(server):
    body, headers = multipart("image", "big.jpg", os.urandom(MAX_UPLOAD_MB * 1_000_000 + 10))
    status, record = post_refusable(server, body, headers)
    assert status == 413 and "too large" in record["error"] and "limit" in record["error"], record
    wide = np.full((2100, 2100), 255, np.uint8)  # 4.4 MP: over the 4 MP cap, tiny as a PNG
    status, record = post_image(server, cv2.imencode(".png", wide)[1].tobytes(), "wide.png")
    assert status == 413 and "2100x2100" in record["error"], record


def test_bad_steps_body_is_400(server):
    status, _, raw = request(
        f"{server.url}/api/steps", b'{"input": [1, 2]}', {"Content-Type": "application/json"}
    )
    assert status == 400 and "784" in json.loads(raw)["error"]
    status, _, raw = request(f"{server.url}/api/steps", b"{not json", {"Content-Type": "application/json"})
    assert status == 400


# ---------------------------------------------------------------- static files and the page


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/../../README.md",
        "/static/%2e%2e/server.py",
        "/static/..%2fapp.py",
    ],
)
def test_dot_dot_paths_do_not_escape_the_static_folder(server, path):
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", path)  # sent as is: http.client does not normalise ".."
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 404, (path, r.status)
    assert b"[project]" not in body and b"import" not in body


def test_page_and_its_files_are_served_with_nothing_from_elsewhere(server):
    status, _, html = request(server.url + "/")
    assert status == 200 and b"digits-edge" in html
    for asset in ("/static/app.js", "/static/style.css"):
        status, _, body = request(server.url + asset)
        assert status == 200 and body
        assert b"http://" not in body and b"https://" not in body, asset
    assert b"http://" not in html and b"https://" not in html


# ---------------------------------------------------------------- camera, push and streams


def test_latest_info_health_and_metrics(server, video):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, _, raw = request(server.url + "/api/latest")
        if status == 200:
            break
        time.sleep(0.1)
    latest = json.loads(raw)
    assert status == 200 and latest["text"] == video[1] and latest["source"] == str(video[0])
    assert {"source", "frame", "model", "model_source", "text", "digits", "timings_ms", "fps"} == set(latest)
    assert latest["model"] and latest["model_source"]  # where the model came from, as in the CLI
    info = get(server.url + "/api/info")
    assert (
        info["manifest_entry"]["sha256"] and info["versions"]["starlette"] and info["source"] == str(video[0])
    )
    assert info["model"]["source"] == latest["model_source"]
    assert Path(info["stepwise_model"]).name.startswith("lstm_stepwise")  # content-addressed after export
    health = get(server.url + "/api/health")
    assert health["status"] == "ok" and health["camera"]["state"] == "live"
    assert health["camera"]["frames_read"] > 0 and "find" in health["camera"]["ms_p50"]
    status, headers, text = request(server.url + "/metrics")
    assert status == 200 and b"digits_frames_read_total" in text and b"digits_up 1" in text


def read_sse_events(url: str, n: int, timeout: float = 20) -> list[dict]:
    """Open /api/events, read n records, then drop the connection mid-stream."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("GET", "/api/events")
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream")
    events = []
    while len(events) < n:
        line = r.fp.readline()
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
    conn.sock.close()  # a client that goes away without a word
    conn.close()
    return events


def test_sse_pushes_each_frame_and_survives_clients_that_drop(server, video):
    first = read_sse_events(server.url, 3)
    assert [e["frame"] for e in first] == sorted({e["frame"] for e in first})
    assert all(e["text"] == video[1] for e in first)
    for _ in range(3):
        read_sse_events(server.url, 1)
    later = read_sse_events(server.url, 2)
    assert later[0]["frame"] > first[-1]["frame"]
    assert get(server.url + "/api/health")["camera"]["state"] == "live"


def test_mjpeg_stream_and_frame_and_clients_that_drop(server):
    status, headers, jpg = request(server.url + "/api/frame.jpg")
    assert status == 200 and cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR) is not None
    u = urlsplit(server.url)
    for _ in range(3):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
        conn.request("GET", "/api/stream.mjpg")
        r = conn.getresponse()
        assert r.getheader("Content-Type").startswith("multipart/x-mixed-replace")
        chunk = r.fp.read(4096)
        assert b"--frame" in chunk and b"image/jpeg" in chunk
        conn.sock.close()  # mid-frame
        conn.close()
    before = get(server.url + "/api/health")["camera"]["frames_read"]
    time.sleep(0.5)
    assert get(server.url + "/api/health")["camera"]["frames_read"] > before  # the camera loop goes on


def test_burst_fills_the_queue_503_then_recovers(server, clean_digits):
    from edge_runtime.scenes import render_sheet

    x, y = clean_digits
    img, text = render_sheet(x[:10], y[:10], np.random.default_rng(8), size=(960, 1280), rows=2)
    data = cv2.imencode(".png", img)[1].tobytes()
    statuses: list[int] = []
    errors: list[str] = []

    def client():
        status, record = post_image(server, data, "burst.png")
        statuses.append(status)
        if status == 503:
            errors.append(record["error"])

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses.count(503) > 0, statuses  # one worker, two waiting: most of 16 at once are refused
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 503}, statuses
    assert all("busy" in e for e in errors)
    status, record = post_image(server, data, "after.png")
    assert status == 200 and record["text"] == text
    assert get(server.url + "/api/health")["rejected_busy"] >= statuses.count(503)


# ---------------------------------------------------------------- token, signals, imports


def test_beyond_loopback_every_request_needs_the_token(model_path, tmp_path):
    env = dict(os.environ, DIGITS_MODEL=str(model_path))
    env.pop("DIGITS_SERVE_TOKEN", None)
    srv = ServeProcess(env=env, host="127.0.0.2")  # beyond 127.0.0.1, still only this machine
    try:
        assert srv.token and "token generated" in srv.banner
        for path in ("/", "/api/health", "/api/info", "/static/app.js", "/metrics"):
            status, _, raw = request(srv.url + path)
            assert status == 401 and "token" in json.loads(raw)["error"], path
        status, _, _ = request(srv.url + "/api/health", headers={"Authorization": "Bearer wrong"})
        assert status == 401
        assert request(srv.url + "/api/health", token=srv.token)[0] == 200
        status, headers, _ = request(f"{srv.url}/?token={srv.token}")
        cookie = headers.get("set-cookie") or headers.get("Set-Cookie")
        assert status == 200 and cookie and "HttpOnly" in cookie
        status, _, _ = request(srv.url + "/api/info", headers={"Cookie": cookie.split(";")[0]})
        assert status == 200
        if SEED:
            status, _, raw = request(srv.url + "/api/read", Path(SEED).read_bytes(), token=srv.token)
            assert status == 200 and json.loads(raw)["text"] == "9"
    finally:
        assert srv.stop() == 0
    env["DIGITS_SERVE_TOKEN"] = "from-the-environment"
    srv = ServeProcess(env=env, host="127.0.0.2", token="from-the-environment")
    try:
        assert "token required" in srv.banner and "from-the-environment" not in srv.banner
        assert request(srv.url + "/api/health", token="from-the-environment")[0] == 200
        assert request(srv.url + "/api/health")[0] == 401
    finally:
        srv.stop()


def test_sigterm_stops_cleanly_with_a_stream_open(video, model_path):
    srv = ServeProcess(
        "--source", str(video[0]), "--loop", env=dict(os.environ, DIGITS_MODEL=str(model_path))
    )
    try:
        u = urlsplit(srv.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
        conn.request("GET", "/api/events")
        r = conn.getresponse()
        assert r.status == 200
        t0 = time.monotonic()
        assert srv.stop(signal.SIGTERM) == 0
        assert time.monotonic() - t0 < 8
        r.read()  # the stream ended (not hung)
        conn.close()
        assert "Traceback" not in srv.proc.stderr.read()
    finally:
        srv.stop()


def test_a_camera_gone_for_good_stops_serve_with_one_error_line(model_path, tmp_path):
    env = dict(os.environ, DIGITS_MODEL=str(model_path))
    missing = str(tmp_path / "no-such-camera.avi")  # not a file: a live source that never opens
    srv = ServeProcess("--source", missing, "--reconnect-seconds", "2", env=env)
    try:
        assert srv.proc.wait(timeout=20) == 1
        err = srv.proc.stderr.read()
        assert "error: cannot open camera source" in err and "gave up after 2.0 s" in err, err
        assert "Traceback" not in err
    finally:
        srv.stop()


def test_image_and_camera_do_not_import_the_web_framework(tmp_path, model_path, video):
    shim = tmp_path / "no_web"
    for name in ("starlette", "uvicorn", "multipart", "python_multipart"):
        (shim / name).mkdir(parents=True)
        (shim / name / "__init__.py").write_text(f"raise ImportError('{name} must not be imported')\n")
    env = dict(os.environ, PYTHONPATH=f"{shim}{os.pathsep}{ROOT}", DIGITS_MODEL=str(model_path))
    run = lambda *args: run_edge(list(args), env)  # noqa: E731

    cam = run("camera", "--source", str(video[0]), "--max-frames", "2", "--json")
    assert cam.returncode == 0 and json.loads(cam.stdout.splitlines()[0])["text"] == video[1], cam.stderr
    if SEED:
        img = run("image", SEED, "--json")
        assert img.returncode == 0 and json.loads(img.stdout)["text"] == "9", img.stderr
    srv = run("serve", "--port", "0")
    assert srv.returncode == 2 and "[serve] extra" in srv.stderr and srv.stderr.count("\n") == 1, srv.stderr


def test_systemd_unit_runs_serve_with_options_the_parser_accepts():
    from edge_runtime.__main__ import build_parser

    unit = (ROOT / "edge_runtime" / "deploy" / "digits-edge.service").read_text()
    lines = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert lines["Restart"] == "on-failure" and lines["User"] != "root"
    assert lines["StandardOutput"] == "journal" and "ExecStartPre" in lines  # waits for the camera
    env = dict(kv.split("=", 1) for kv in lines["Environment"].split())
    argv = lines["ExecStart"].split()
    argv = [env.get(a[2:-1], a) if a.startswith("${") else a for a in argv]
    assert argv[1:4] == ["-m", "edge_runtime", "serve"]
    args = build_parser().parse_args(argv[3:])
    assert args.command == "serve" and args.source == "picamera" and args.host == "0.0.0.0"


def test_a_network_camera_that_stalls_shows_reconnecting_then_stops_serve(model_path):
    """A real MJPEG-over-HTTP camera sends 20 frames in a burst and then nothing: /api/health
    counts every frame as read or skipped, says ``reconnecting`` while FrameSource reopens the
    stream, and serve exits 1 once --reconnect-seconds is spent."""
    from tests.mjpeg_server import StallingMjpegServer

    env = dict(os.environ, DIGITS_MODEL=str(model_path))
    with StallingMjpegServer(frames=20) as camera:
        srv = ServeProcess("--source", camera.url, "--reconnect-seconds", "6", env=env)
        try:
            states, cam = [], {}
            deadline = time.monotonic() + 30
            while srv.proc.poll() is None and time.monotonic() < deadline:
                try:
                    cam = get(srv.url + "/api/health")["camera"]
                except OSError:
                    break  # it is stopping
                states.append(cam["state"])
                time.sleep(0.2)
            assert srv.proc.wait(timeout=30) == 1
            err = srv.proc.stderr.read()
        finally:
            srv.stop()
    assert "live" in states and "reconnecting" in states, states
    assert states.index("live") < states.index("reconnecting")
    assert cam["frames_read"] >= 1 and cam["frames_read"] + cam["frames_dropped"] == 20, cam
    assert "error:" in err and "Traceback" not in err, err
