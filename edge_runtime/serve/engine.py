"""The work behind ``digits-edge serve``, free of any web framework: a bounded pool of inference
threads, the camera loop, the newest record and frame, and the figures /api/health reports.

LiteRT interpreters are not thread-safe, so every thread that reads digits owns its reader:
each worker thread builds its own DigitReader (and per-row model) and the camera loop has
its own. Work waits in a bounded queue; a full queue raises ``Busy`` at once instead of
growing memory (the HTTP layer answers 503).
"""

from __future__ import annotations

import collections
import concurrent.futures
import queue
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.classifier import load_interpreter_class, softmax
from edge_runtime.manifest import Manifest


class Busy(RuntimeError):
    """Every worker is busy and the queue is full: try again shortly."""


# ---------------------------------------------------------------- the per-row model


class StepwiseModel:
    """models/lstm_stepwise.tflite: (28, 28) input in [0, 1] -> (28, 10) probabilities after each row.

    The same LSTM weights as the shipped model, exported with the output of every time step
    (export/stepwise.py verifies its last step against the shipped LSTM). One per thread.
    ``temperature``: the served model's calibration (the manifest's), so the last row's
    probabilities are on the same scale as the reading's confidences."""

    def __init__(self, path: str | Path, temperature: float = 1.0):
        self.path = Path(path)
        self.temperature = temperature
        self.interpreter = load_interpreter_class()(model_path=str(self.path), num_threads=1)
        self.interpreter.allocate_tensors()
        inp, out = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
        if tuple(inp["shape"]) != (1, 28, 28) or tuple(out["shape"]) != (1, 28, 10):
            raise ValueError(
                f"{self.path}: not a per-row model (input {inp['shape']}, output {out['shape']})"
            )
        self._in, self._out = inp["index"], out["index"]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(28, 28) floats in [0, 1], white digit on black -> (28, 10) softmax after each row."""
        it = self.interpreter
        it.reset_all_variables()  # the fused LSTM keeps its state across invoke() calls
        it.set_tensor(self._in, np.asarray(x, np.float32).reshape(1, 28, 28))
        it.invoke()
        return softmax(it.get_tensor(self._out)[0], self.temperature)


def find_stepwise_model(model_path: Path, manifest: Manifest | None) -> Path | None:
    """The ``role: stepwise`` file that ``manifest`` (the typed manifest beside the model, or
    None) lists, when it is there beside the model; else None."""
    for e in manifest.models if manifest is not None else ():
        if e.role == "stepwise" and (model_path.parent / e.file).is_file():
            return model_path.parent / e.file
    return None


# ---------------------------------------------------------------- bounded worker pool


@dataclass
class Worker:
    """What one inference thread owns."""

    reader: object
    stepwise: StepwiseModel | None


class WorkerPool:
    """``workers`` threads, each with its own reader, fed from a queue of ``queue_size`` jobs."""

    def __init__(self, make_worker: Callable[[], Worker], workers: int = 1, queue_size: int = 4):
        self._jobs: queue.Queue = queue.Queue(maxsize=queue_size)
        self._threads = []
        self.rejected = 0
        """Jobs refused because the queue was full."""
        ready = []
        for i in range(workers):
            ok = threading.Event()
            t = threading.Thread(target=self._run, args=(make_worker, ok), name=f"reader-{i}", daemon=True)
            t.start()
            ready.append(ok)
            self._threads.append(t)
        for ok in ready:
            ok.wait()

    def _run(self, make_worker: Callable[[], Worker], ready: threading.Event) -> None:
        try:
            worker = make_worker()
        finally:
            ready.set()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(worker))
            except BaseException as exc:  # handed to the request that asked
                future.set_exception(exc)

    def submit(self, fn: Callable[[Worker], object]) -> concurrent.futures.Future:
        """Queue ``fn(worker)``; ``Busy`` at once if the queue is full."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            self._jobs.put_nowait((fn, future))
        except queue.Full:
            self.rejected += 1
            raise Busy("the server is busy: every worker is reading and the queue is full; retry") from None
        return future

    @property
    def queued(self) -> int:
        return self._jobs.qsize()

    def close(self) -> None:
        for _ in self._threads:
            try:
                self._jobs.put(None, timeout=1.0)
            except queue.Full:
                break
        for t in self._threads:
            t.join(timeout=2.0)


# ---------------------------------------------------------------- statistics


class StageTimes:
    """Milliseconds per stage over the last ``window`` readings; p50 on demand. Thread-safe."""

    def __init__(self, window: int = 200):
        self._lock = threading.Lock()
        self._ms: dict[str, collections.deque] = {}
        self.window = window

    def add(self, timings_ms: dict[str, float]) -> None:
        with self._lock:
            for k, v in timings_ms.items():
                self._ms.setdefault(k, collections.deque(maxlen=self.window)).append(float(v))

    def p50(self) -> dict[str, float]:
        with self._lock:
            return {k: round(statistics.median(v), 3) for k, v in self._ms.items() if v}


def cpu_temperature_c() -> float | None:
    """SoC temperature from sysfs (Raspberry Pi and most Linux boards); None where there is none."""
    try:
        return round(int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def throttled() -> str | None:
    """Raspberry Pi firmware's throttling bits (hex, "0x0" = never throttled); None elsewhere."""
    for p in (
        "/sys/devices/platform/soc/soc:firmware/get_throttled",
        "/sys/devices/platform/soc/firmware/get_throttled",
    ):
        try:
            return hex(int(Path(p).read_text().strip(), 16))
        except (OSError, ValueError):
            continue
    return None


# ---------------------------------------------------------------- the camera loop


def detail(reading, classifier) -> dict:
    """What the page shows beyond the --json record: each digit's 28x28 input as the model saw it
    (flat, 0-255 ints) and its ten probabilities. ``classifier`` must belong to the calling thread."""
    x = reading.inputs if reading.inputs is not None else np.zeros((0, 28, 28), np.float32)
    probs = classifier.probabilities(x) if len(x) else np.zeros((0, 10), np.float32)
    return {
        "inputs": [np.round(d * 255).astype(np.uint8).ravel().tolist() for d in x],
        "probabilities": [[round(float(p), 4) for p in row] for row in probs],
    }


class CameraLoop:
    """Reads ``FrameSource`` frames in a thread with its own reader; keeps the newest record and
    annotated JPEG, counts frames and calls ``publish(record, detail)`` for each frame."""

    def __init__(
        self,
        source: str,
        make_reader: Callable[[], object],
        publish: Callable[[dict, dict], None],
        reconnect_seconds: float = 10.0,
        loop_video: bool = False,
        min_confidence: float = 0.5,
        jpeg_quality: int = 80,
        on_failure: Callable[[str], None] | None = None,
    ):
        self.source = source
        self.state = "starting"
        """starting, live, reconnecting, ended (a video file's end), failed (see ``error``), stopped."""
        self.error: str | None = None
        self.frames_read = 0
        self.frames_dropped = 0
        self.fps = 0.0
        self.stages = StageTimes()
        self.latest: dict | None = None
        self.latest_detail: dict | None = None
        self.latest_jpeg: bytes | None = None
        self._make_reader = make_reader
        self._publish = publish
        self._on_failure = on_failure
        self._reconnect = reconnect_seconds
        self._loop_video = loop_video
        self._min_conf = min_confidence
        self._jpeg_quality = jpeg_quality
        self._stop = threading.Event()
        self._last_frame = time.monotonic()
        self._source_obj = None
        self._thread = threading.Thread(target=self._run, name="camera-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        src = self._source_obj
        if src is not None:
            src.stop()
        self._thread.join(timeout=3.0)
        if self.state in ("starting", "live", "reconnecting"):
            self.state = "stopped"

    def _run(self) -> None:
        from edge_runtime.annotate import annotate
        from edge_runtime.camera import CameraError, CameraOptions, FrameSource

        reader = self._make_reader()
        options = CameraOptions(source=self.source, reconnect_seconds=self._reconnect)
        pace = video_frame_interval(self.source)  # a file plays at its own speed, not as fast as possible
        t_prev = time.perf_counter()
        try:
            while not self._stop.is_set():
                source = self._source_obj = FrameSource(options)
                if self._stop.is_set():
                    source.stop()
                    break
                skipped_before = 0
                for frame in source:
                    if self._stop.is_set():
                        break
                    self.state, self._last_frame = "live", time.monotonic()
                    self.frames_dropped += source.skipped - skipped_before  # a live source counts them
                    skipped_before = source.skipped
                    reading = reader.read(frame)
                    now = time.perf_counter()
                    dt, t_prev = now - t_prev, now
                    self.fps = (
                        1.0 / max(dt, 1e-6) if self.fps == 0.0 else 0.9 * self.fps + 0.1 / max(dt, 1e-6)
                    )
                    record = {
                        "source": self.source,
                        "frame": self.frames_read,
                        **reader.model_info,
                        **reading.as_dict(),
                        "fps": round(self.fps, 2),
                    }
                    vis = annotate(frame, reading, fps=self.fps, min_confidence=self._min_conf)
                    ok, jpg = cv2.imencode(".jpg", vis, [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality])
                    info = detail(reading, reader.classifier)
                    self.latest, self.latest_detail = record, info
                    if ok:
                        self.latest_jpeg = jpg.tobytes()
                    self.frames_read += 1
                    self.stages.add(reading.timings_ms)
                    self._publish(record, info)
                    if pace:
                        self._stop.wait(max(0.0, pace - (time.perf_counter() - now)))
                if not (self._loop_video and not source.live) or self._stop.is_set():
                    break
            if not self._stop.is_set():
                self.state = "ended"
        except CameraError as exc:
            self.state, self.error = "failed", str(exc)
        except Exception as exc:  # reported like a lost camera, never a silent dead thread
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
        if self.state == "failed" and self._on_failure is not None:
            self._on_failure(self.error)

    def health(self) -> dict:
        state = self.state
        if state == "live" and getattr(self._source_obj, "live", False):
            # A live source silent for 2 s is being reopened by FrameSource (bounded by --reconnect-seconds).
            if time.monotonic() - self._last_frame > 2.0:
                state = "reconnecting"
        return {
            "source": self.source,
            "state": state,
            "error": self.error,
            "frames_read": self.frames_read,
            "frames_dropped": self.frames_dropped,
            "reconnects": getattr(self._source_obj, "reconnects", 0),
            "fps": round(self.fps, 2),
            "ms_p50": self.stages.p50(),
        }


def video_frame_interval(source: str) -> float | None:
    """Seconds between frames of a video file (its own FPS; 25 if unknown); None for live sources."""
    if not Path(source).is_file():
        return None
    cap = cv2.VideoCapture(source)
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    cap.release()
    return 1.0 / fps if 1.0 <= fps <= 240.0 else 1.0 / 25.0
