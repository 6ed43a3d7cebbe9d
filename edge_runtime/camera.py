"""Frames from a webcam, a video file, a stream URL or a Raspberry Pi camera, always the newest.

A live source (webcam index, URL, ``picamera``) is read by a background thread that
keeps only the latest frame, so a slow reader never works on stale, queued frames.
A video file is read frame by frame and ends at its last frame. When a live source
stops delivering frames it is reopened until ``reconnect_seconds`` have passed, then
``CameraError`` says so.

    python -m edge_runtime camera --source 0 --max-frames 100
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class CameraError(RuntimeError):
    """The source cannot be opened, or stopped delivering frames for too long."""


@dataclass(frozen=True)
class CameraOptions:
    source: str = "0"
    """Webcam index ("0"), video file, stream URL, or "picamera" (Picamera2 on a Raspberry Pi)."""
    reconnect_seconds: float = 10.0
    """How long (s) to keep reopening a source that stopped delivering frames before giving up."""
    live: bool | None = None
    """Treat the source as live (latest frame only, reconnect on failure); None: all but files."""
    width: int = 640
    """Requested capture width (px) for webcams and the Pi camera."""
    height: int = 480
    """Requested capture height (px)."""


def is_live(options: CameraOptions) -> bool:
    if options.live is not None:
        return options.live
    return not Path(options.source).is_file()


class _PiCamera:
    """cv2.VideoCapture-like wrapper around Picamera2 (imported only when asked for)."""

    def __init__(self, width: int, height: int):
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(
                "--source picamera needs Picamera2: on Raspberry Pi OS run `sudo apt install python3-picamera2` "
                "and create the venv with --system-site-packages"
            ) from exc
        self.cam = Picamera2()
        config = self.cam.create_video_configuration(main={"size": (width, height), "format": "RGB888"})
        self.cam.configure(config)
        self.cam.start()

    def isOpened(self) -> bool:  # noqa: N802 (VideoCapture's name)
        return True

    def read(self):
        frame = self.cam.capture_array()  # "RGB888" is BGR byte order in Picamera2
        return frame is not None, frame

    def release(self) -> None:
        self.cam.stop()
        self.cam.close()


def open_capture(options: CameraOptions):
    """Open the source once -> an object with read()/release(); CameraError if it does not open."""
    src = options.source
    if src == "picamera":
        return _PiCamera(options.width, options.height)
    try:  # a missing webcam makes OpenCV log a warning per attempt; our error says it once
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass
    cap = cv2.VideoCapture(int(src)) if src.isdigit() else cv2.VideoCapture(src)
    if not cap.isOpened():
        cap.release()
        raise CameraError(f"cannot open camera source {src!r} (no such device, file or stream)")
    if src.isdigit():
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, options.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, options.height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return cap


class FrameSource:
    """Iterate over frames (BGR uint8); ``stop()`` ends the iteration from any thread."""

    def __init__(self, options: CameraOptions):
        self.options = options
        self.live = is_live(options)
        self.reconnects = 0
        """How many times the source was reopened after it stopped delivering frames."""
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._error: Exception | None = None
        self._done = False
        self._cap = self._open_with_retry()
        self._thread = None
        if self.live:
            self._thread = threading.Thread(target=self._grab_loop, name="frame-grabber", daemon=True)
            self._thread.start()

    def _open_with_retry(self):
        deadline = time.monotonic() + self.options.reconnect_seconds
        while True:
            try:
                return open_capture(self.options)
            except CameraError as exc:
                if not self.live or self.options.source == "picamera" or self._stop.is_set():
                    raise
                if time.monotonic() >= deadline:
                    raise CameraError(f"{exc}; gave up after {self.options.reconnect_seconds:g} s") from exc
            time.sleep(0.2)

    def _grab_loop(self) -> None:
        """Live sources: keep only the newest frame; reopen the source when it drops out."""
        cap = self._cap
        try:
            while not self._stop.is_set():
                ok, frame = cap.read()
                if not ok or frame is None:
                    cap.release()
                    try:
                        cap = self._cap = self._reopen()
                    except CameraError as exc:
                        self._error = exc
                        break
                    self.reconnects += 1
                    continue
                with self._cond:
                    self._frame, self._seq = frame, self._seq + 1
                    self._cond.notify_all()
        finally:
            cap.release()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _reopen(self):
        deadline = time.monotonic() + self.options.reconnect_seconds
        while not self._stop.is_set():
            try:
                return open_capture(self.options)
            except CameraError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        raise CameraError(
            f"camera source {self.options.source!r} stopped delivering frames and did not come back "
            f"within {self.options.reconnect_seconds:g} s; check the cable/stream or raise --reconnect-seconds"
        )

    def __iter__(self):
        if not self.live:
            try:
                while not self._stop.is_set():
                    ok, frame = self._cap.read()
                    if not ok or frame is None:
                        return  # end of the video file
                    yield frame
            finally:
                self._cap.release()
            return
        seen = 0
        while True:
            with self._cond:
                last = seen  # bound now: the predicate runs inside wait_for, in this iteration
                self._cond.wait_for(
                    lambda last=last: self._seq != last or self._done or self._stop.is_set(), timeout=1.0
                )
                if self._stop.is_set():
                    return
                if self._seq != seen:
                    seen, frame = self._seq, self._frame
                elif self._done:
                    if self._error:
                        raise self._error
                    return
                else:
                    continue
            yield frame

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        elif self._cap is not None and not self.live:
            pass  # released by the iterator
