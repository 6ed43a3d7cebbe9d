"""Frames from a webcam, a video file, a stream URL or a Raspberry Pi camera, always the newest.

A live source (webcam index, URL, ``picamera``) is read by a background thread that
keeps only the latest frame, so a slow reader never works on stale, queued frames.
A video file is read frame by frame and ends at its last frame; a damaged frame in the
middle is skipped and counted (``bad_frames``), and reading goes on with the next frame
OpenCV can decode. When a live source stops delivering frames it is reopened until
``reconnect_seconds`` have passed, then ``CameraError`` says so with the time it waited.
Stream URLs are opened with FFmpeg's open and read timeouts set from
``reconnect_seconds``, in a helper thread, so a server that accepts the connection and
then stays silent neither blocks longer than that nor delays Ctrl-C or ``stop()``.

    python -m edge_runtime camera --source 0 --max-frames 100
"""

from __future__ import annotations

import math
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

    def __post_init__(self):
        if not (isinstance(self.reconnect_seconds, (int, float)) and math.isfinite(self.reconnect_seconds)):
            raise CameraError(f"reconnect_seconds must be a finite number, not {self.reconnect_seconds!r}")
        if self.reconnect_seconds < 0:
            raise CameraError(f"reconnect_seconds must be >= 0, not {self.reconnect_seconds!r}")


MAX_BAD_RUN = 50
"""A video file: this many failed reads in a row mean its end (a damaged stretch is shorter)."""
MIN_TIMEOUT_S = 0.5
"""Shortest FFmpeg open/read timeout for a stream URL (s), even with --reconnect-seconds 0."""


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

    def isOpened(self) -> bool:  # VideoCapture's name
        return True

    def read(self):
        frame = self.cam.capture_array()  # "RGB888" is BGR byte order in Picamera2
        return frame is not None, frame

    def release(self) -> None:
        self.cam.stop()
        self.cam.close()


def open_capture(options: CameraOptions, timeout_s: float | None = None):
    """Open the source once -> an object with read()/release(); CameraError if it does not open.

    A URL goes to FFmpeg with open and read timeouts of ``timeout_s`` (default
    ``reconnect_seconds``): without them FFmpeg waits ~30 s on a silent server."""
    src = options.source
    if src == "picamera":
        return _PiCamera(options.width, options.height)
    try:  # a missing webcam makes OpenCV log a warning per attempt; our error says it once
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass
    if src.isdigit():
        cap = cv2.VideoCapture(int(src))
    elif "://" in src:
        ms = int(1000 * max(MIN_TIMEOUT_S, options.reconnect_seconds if timeout_s is None else timeout_s))
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = cv2.VideoCapture(src, cv2.CAP_FFMPEG, params)
    else:
        cap = cv2.VideoCapture(src)
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
        self.bad_frames = 0
        """Video file: frames that failed to decode and were skipped."""
        self.skipped = 0
        """Live source: frames grabbed but never handed out, because a newer one arrived before
        the reader asked (the reader always gets the newest frame, so a slow reader skips)."""
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
        """Open the source; a live one is retried until reconnect_seconds have passed."""
        started = time.monotonic()
        while True:
            remaining = self.options.reconnect_seconds - (time.monotonic() - started)
            try:
                return self._open_interruptibly(remaining)
            except CameraError as exc:
                if not self.live or self.options.source == "picamera" or self._stop.is_set():
                    raise
                elapsed = time.monotonic() - started
                if elapsed >= self.options.reconnect_seconds:
                    raise CameraError(
                        f"{exc}; gave up after {elapsed:.1f} s (--reconnect-seconds "
                        f"{self.options.reconnect_seconds:g})"
                    ) from exc
            time.sleep(0.2)

    def _open_interruptibly(self, timeout_s: float):
        """open_capture in a helper thread, so that Ctrl-C and stop() are served at once while
        FFmpeg waits on a silent server (a blocking C call defers Python's signal handlers)."""
        box: dict = {}

        def target():
            try:
                box["cap"] = open_capture(self.options, timeout_s)
            except Exception as exc:  # handed to the waiting thread
                box["error"] = exc
            if self._stop.is_set() and "cap" in box:  # nobody is waiting any more
                box["cap"].release()

        helper = threading.Thread(target=target, name="camera-open", daemon=True)
        helper.start()
        try:
            while helper.is_alive():
                helper.join(0.05)  # short waits: KeyboardInterrupt is raised between them
                if self._stop.is_set():
                    raise CameraError(f"stopped while opening camera source {self.options.source!r}")
        except KeyboardInterrupt:
            self._stop.set()  # the helper releases what it opens once FFmpeg gives up
            raise
        if "error" in box:
            raise box["error"]
        return box["cap"]

    def _grab_loop(self) -> None:
        """Live sources: keep only the newest frame; reopen the source when it drops out."""
        cap = self._cap
        last_frame = time.monotonic()
        try:
            while not self._stop.is_set():
                ok, frame = cap.read()  # a silent stream: fails after FFmpeg's read timeout
                if not ok or frame is None:
                    cap.release()
                    try:
                        cap = self._cap = self._reopen(last_frame)
                    except CameraError as exc:
                        self._error = exc
                        break
                    self.reconnects += 1
                    continue
                last_frame = time.monotonic()
                with self._cond:
                    self._frame, self._seq = frame, self._seq + 1
                    self._cond.notify_all()
        finally:
            cap.release()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _reopen(self, last_frame: float):
        """Reopen until ``reconnect_seconds`` after the last frame (at least one attempt)."""
        while not self._stop.is_set():
            remaining = self.options.reconnect_seconds - (time.monotonic() - last_frame)
            try:
                return self._open_interruptibly(remaining)
            except CameraError:
                if time.monotonic() - last_frame >= self.options.reconnect_seconds:
                    break
                time.sleep(0.2)
        raise CameraError(
            f"camera source {self.options.source!r} stopped delivering frames: none for "
            f"{time.monotonic() - last_frame:.1f} s (--reconnect-seconds {self.options.reconnect_seconds:g}); "
            "check the cable/stream or raise --reconnect-seconds"
        )

    def _file_frames(self):
        """A video file's frames; a frame that fails to decode is skipped and counted. FFmpeg
        moves past the bad packet on each failed read, so the next read gets the next good
        frame; MAX_BAD_RUN failures in a row are the end of the file."""
        failed_run = 0
        try:
            while not self._stop.is_set():
                ok, frame = self._cap.read()
                if not ok or frame is None:
                    failed_run += 1
                    if failed_run >= MAX_BAD_RUN:
                        return  # end of the video file (or nothing decodable after it)
                    continue
                self.bad_frames += failed_run  # failures followed by a good frame were damage
                failed_run = 0
                yield frame
        finally:
            self._cap.release()

    def __iter__(self):
        if not self.live:
            yield from self._file_frames()
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
                    self.skipped += self._seq - seen - 1
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
