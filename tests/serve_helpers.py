"""Helpers for the serve tests: start a real ``digits-edge serve`` process on a free loopback
port, talk to it with plain urllib, and write a real video file of rendered MNIST digits."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.contract import PROJECT_ROOT

ROOT = PROJECT_ROOT


class ServeProcess:
    """``python -m edge_runtime serve --port 0 ARGS`` as a child; ``url`` once it answers."""

    def __init__(
        self,
        *args: str,
        env: dict | None = None,
        host: str = "127.0.0.1",
        timeout: float = 30.0,
        token: str | None = None,
    ):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_runtime", "serve", "--host", host, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env or dict(os.environ),
        )
        line = self.proc.stdout.readline()  # "serving on http://HOST:PORT/[?token=...]"
        m = re.search(r"serving on (http://\S+?:\d+)/(\?token=(\S+))?", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"serve did not start: {line!r} {self.proc.stderr.read()[-2000:]}")
        self.url, self.token, self.banner = m.group(1), m.group(3) or token, line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                get(self.url + "/api/health", token=self.token)
                return
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("serve printed its address but /api/health did not answer")

    def stop(self, sig=None) -> int:
        if self.proc.poll() is None:
            self.proc.terminate() if sig is None else self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def request(url: str, data: bytes | None = None, headers: dict | None = None, token: str | None = None):
    """(status, headers, body bytes) of one real HTTP request; HTTP errors are returned, not raised."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=h, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get(url: str, token: str | None = None) -> dict:
    status, _, body = request(url, token=token)
    if status != 200:
        raise OSError(f"{url}: HTTP {status} {body[:200]!r}")
    return json.loads(body)


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, dict]:
    """A multipart/form-data body with one file field (test side: what a browser or curl -F sends)."""
    boundary = "----digits-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def write_video(path: Path, digits: np.ndarray, labels, frames: int = 40, fps: int = 10) -> str:
    """An MJPG .avi of a sheet of rendered MNIST digits (standing in for a camera); its text."""
    from edge_runtime.scenes import render_sheet

    img, text = render_sheet(digits, labels, np.random.default_rng(3), jpeg=False)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (img.shape[1], img.shape[0]))
    assert writer.isOpened(), "OpenCV cannot write MJPG video here"
    for _ in range(frames):
        writer.write(img)
    writer.release()
    return text
