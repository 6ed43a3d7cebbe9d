"""A real MJPEG-over-HTTP server on loopback that stands in for a network camera which stalls:
the first connection gets ``frames`` JPEG frames and then silence (the connection stays open),
every later connection only silence."""

from __future__ import annotations

import socket
import threading

import cv2
import numpy as np


class StallingMjpegServer:
    def __init__(self, frames: int = 20, image: np.ndarray | None = None):
        image = np.full((120, 160, 3), 200, np.uint8) if image is None else image
        ok, jpg = cv2.imencode(".jpg", image)
        assert ok
        self.part = (
            b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
            + jpg.tobytes()
            + b"\r\n"
        )
        self.frames = frames
        self.conns: list[socket.socket] = []
        self._srv = socket.socket()
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(8)
        self.url = f"http://127.0.0.1:{self._srv.getsockname()[1]}/"

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self._srv.accept()
            except OSError:
                return
            self.conns.append(c)
            if len(self.conns) == 1:
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=f\r\n\r\n")
                c.sendall(self.part * self.frames)

    def __enter__(self) -> StallingMjpegServer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._srv.close()
        for c in self.conns:
            c.close()
