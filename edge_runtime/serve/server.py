"""``digits-edge serve``: read digits live and show them in a browser, with an HTTP API.

    python -m edge_runtime serve                          # upload and drawing only, http://127.0.0.1:8000/
    python -m edge_runtime serve --source 0               # webcam 0, live view on the page
    python -m edge_runtime serve --source clip.mp4 --loop # a video file, played at its speed, looped
    python -m edge_runtime serve --host 0.0.0.0 --source picamera   # on a Pi: token printed once

Loopback only unless ``--host`` says otherwise; bound to any other address, every request needs
the token (``--token``, else $DIGITS_SERVE_TOKEN, else one generated and printed once). Needs
the ``[serve]`` extra (``pip install -e ".[serve]"``): Starlette on uvicorn, chosen over
aiohttp and Flask+waitress for the lowest start-up CPU and memory measured on the build machine
(see the README). ``image`` and ``camera`` never import it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass

from edge_runtime.contract import MIN_CONFIDENCE

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
"""The only binds that need no token: the machine's own default loopback address."""
TOKEN_ENV = "DIGITS_SERVE_TOKEN"


@dataclass(frozen=True)
class ServeOptions:
    model: str | None = None
    """TFLite model path; None: $DIGITS_MODEL, else the manifest default in <project>/models."""
    threads: int = 1
    """Interpreter threads per reader."""
    min_confidence: float = MIN_CONFIDENCE
    """Digits below this calibrated confidence read as '?', as in image and camera (per upload:
    ?min_confidence=)."""
    source: str | None = None
    """Camera index, video file, stream URL or 'picamera'; None: uploads and drawing only."""
    reconnect_seconds: float = 10.0
    """Give up on a lost live source after this long (s)."""
    loop: bool = False
    """Restart a video file at its end (a demo that never ends) instead of ending the live view."""
    host: str = "127.0.0.1"
    """Address to bind; anything but 127.0.0.1 / ::1 / localhost requires the token."""
    port: int = 8000
    """TCP port (0: any free port, printed at start)."""
    token: str | None = None
    """Required token; None: $DIGITS_SERVE_TOKEN, else generated when bound beyond loopback."""
    workers: int = 1
    """Inference threads for uploads and drawings, each with its own interpreter."""
    queue_size: int = 4
    """Uploads that may wait for a worker; beyond that the server answers 503."""
    max_upload_bytes: int = 10_000_000
    """Largest upload in bytes (413 above)."""
    max_pixels: int = 24_000_000
    """Largest image in pixels, width x height (413 above)."""


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS


def resolve_token(options: ServeOptions) -> tuple[str | None, bool]:
    """(token or None, whether it was generated here)."""
    token = options.token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(options.host):
        return secrets.token_urlsafe(18), True
    return token, False


class Server:
    """The engine (worker pool, camera loop, hub) and what /api/info and /api/health report."""

    def __init__(self, options: ServeOptions):
        from edge_runtime.classifier import DigitClassifier
        from edge_runtime.manifest import manifest_beside, temperature_for
        from edge_runtime.pipeline import STREAM_REFRESH, DigitReader
        from edge_runtime.serve.app import Hub
        from edge_runtime.serve.engine import (
            CameraLoop,
            StageTimes,
            StepwiseModel,
            Worker,
            WorkerPool,
            find_stepwise_model,
        )
        from edge_runtime.tune import resolve_model_source

        self.options = options
        # --model, $DIGITS_MODEL, this device's tuned default, the manifest's: as image and camera
        self.model_path, self.model_source = resolve_model_source(options.model)
        self.manifest = manifest_beside(self.model_path)  # read once: what it says of the served file
        temperature = temperature_for(self.model_path, self.manifest)  # its calibration, as the CLI's
        DigitClassifier(self.model_path)  # fail now, with the model's own error, not in a thread
        self.stepwise_path = find_stepwise_model(self.model_path, self.manifest)
        self.started = time.monotonic()
        self.uploads = 0
        self.upload_stages = StageTimes()
        self.hub = Hub()
        self.uvicorn = None
        self.exit_status = 0

        def make_reader(stream_refresh: int = 0):
            clf = DigitClassifier(self.model_path, num_threads=options.threads, temperature=temperature)
            reader = DigitReader(clf, options.min_confidence, stream_refresh=stream_refresh)
            reader.model_info = {"model": self.model_path.name, "model_source": self.model_source}
            return reader  # records name the model as the CLI's --json lines do

        def make_worker():
            step = StepwiseModel(self.stepwise_path, temperature) if self.stepwise_path else None
            return Worker(make_reader(), step)

        self.pool = WorkerPool(make_worker, options.workers, options.queue_size)
        self.camera = (
            CameraLoop(
                options.source,
                lambda: make_reader(STREAM_REFRESH),  # frames of one scene: polarity reused
                self.hub.publish,
                reconnect_seconds=options.reconnect_seconds,
                loop_video=options.loop,
                min_confidence=options.min_confidence,
                on_failure=self.camera_failed,
            )
            if options.source is not None
            else None
        )

    def camera_failed(self, message: str) -> None:
        """The camera is gone for good (after --reconnect-seconds): stop with exit status 1, as
        ``camera`` does, so a service manager restarts it (the unit has Restart=on-failure)."""
        print(f"error: {message}", file=sys.stderr, flush=True)
        self.exit_status = 1
        if self.uvicorn is not None:
            self.uvicorn.should_exit = True

    @property
    def stopping(self) -> bool:
        """True once uvicorn was asked to exit (SIGTERM, Ctrl-C): streams end so it can."""
        return bool(self.uvicorn is not None and self.uvicorn.should_exit)

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        import asyncio

        self.hub.bind(asyncio.get_running_loop())
        if self.camera is not None:
            self.camera.start()
        try:
            yield
        finally:
            if self.camera is not None:
                await asyncio.to_thread(self.camera.stop)
            await asyncio.to_thread(self.pool.close)

    def info(self) -> dict:
        from edge_runtime.serve.app import versions

        found = self.manifest.by_file(self.model_path.name) if self.manifest is not None else None
        entry = asdict(found) if found is not None else None  # --model may have no manifest beside it
        opts = asdict(self.options)
        opts["token"] = "(set)" if opts["token"] else None
        return {
            "model": {
                "name": entry["name"] if entry else self.model_path.stem,
                "file": str(self.model_path),
                "source": self.model_source,
            },
            "manifest_entry": entry,
            "stepwise_model": str(self.stepwise_path) if self.stepwise_path else None,
            "versions": versions(),
            "source": self.options.source,
            "options": opts,
        }

    def health(self) -> dict:
        from edge_runtime.serve.engine import cpu_temperature_c, throttled

        return {
            "status": "ok",
            "uptime_s": round(time.monotonic() - self.started, 3),
            "camera": self.camera.health() if self.camera is not None else None,
            "uploads": self.uploads,
            "upload_ms_p50": self.upload_stages.p50(),
            "queued": self.pool.queued,
            "rejected_busy": self.pool.rejected,
            "cpu_temperature_c": cpu_temperature_c(),
            "throttled": throttled(),
        }


def run(options: ServeOptions, log=print) -> int:
    """Serve until SIGTERM or Ctrl-C; return the exit status."""
    import uvicorn

    from edge_runtime.serve.app import TokenGate, create_app

    token, generated = resolve_token(options)
    server = Server(options)
    app = TokenGate(create_app(server), token)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        lifespan="on",
    )
    server.uvicorn = userver = uvicorn.Server(config)

    host = f"[{options.host}]" if ":" in options.host else options.host
    orig_startup = userver.startup

    async def startup(sockets=None):
        await orig_startup(sockets)
        port = options.port
        for srv in getattr(userver, "servers", []):
            for sock in srv.sockets:
                port = sock.getsockname()[1]
        url = f"http://{host}:{port}/"
        if token and generated:
            log(f"serving on {url}?token={token}  (token generated; shown once: keep it)", flush=True)
        elif token:
            log(f"serving on {url}  (token required)", flush=True)
        else:
            log(f"serving on {url}", flush=True)

    userver.startup = startup
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was installed before it: make that a no-op so a requested stop exits 0 (not -15 or a
    # KeyboardInterrupt traceback), which is what systemd and the shell expect of a clean stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    userver.run()
    return server.exit_status if userver.started else 1


# ---------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The serve subcommand's options (registered by edge_runtime.__main__)."""
    d = ServeOptions()
    p.add_argument(
        "--model", default=None, help="TFLite model (default: $DIGITS_MODEL, else the manifest's default)"
    )
    p.add_argument("--threads", type=int, default=d.threads, help="interpreter threads (default: 1)")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=d.min_confidence,
        help=f"below this calibrated confidence a digit reads '?' (default: {d.min_confidence})",
    )
    p.add_argument(
        "--source",
        default=None,
        help="webcam index, video file, stream URL or 'picamera' (default: none, upload only)",
    )
    p.add_argument(
        "--reconnect-seconds",
        type=float,
        default=d.reconnect_seconds,
        help="give up on a lost camera after this long (default: 10)",
    )
    p.add_argument(
        "--loop", action="store_true", help="restart a video file at its end (default: stop the live view)"
    )
    p.add_argument(
        "--host", default=d.host, help="address to bind (default: 127.0.0.1; others need the token)"
    )
    p.add_argument("--port", type=int, default=d.port, help="TCP port (default: 8000; 0 picks a free one)")
    p.add_argument(
        "--token",
        default=None,
        help=f"required token (default: ${TOKEN_ENV}, else generated beyond loopback)",
    )
    p.add_argument(
        "--workers", type=int, default=d.workers, help="inference threads for uploads (default: 1)"
    )
    p.add_argument(
        "--queue-size",
        type=int,
        default=d.queue_size,
        help="uploads that may wait; more get 503 (default: 4)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=d.max_upload_bytes / 1e6,
        help="largest upload, MB (default: 10)",
    )
    p.add_argument(
        "--max-megapixels",
        type=float,
        default=d.max_pixels / 1e6,
        help="largest image, megapixels (default: 24)",
    )


def options_from_args(a: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        model=a.model,
        threads=a.threads,
        min_confidence=a.min_confidence,
        source=a.source,
        reconnect_seconds=a.reconnect_seconds,
        loop=a.loop,
        host=a.host,
        port=a.port,
        token=a.token,
        workers=a.workers,
        queue_size=a.queue_size,
        max_upload_bytes=int(a.max_upload_mb * 1e6),
        max_pixels=int(a.max_megapixels * 1e6),
    )


def main_from_args(a: argparse.Namespace) -> int:
    """Entry for ``digits-edge serve``: one clear line and exit 2 for a missing extra or model."""
    from edge_runtime.classifier import ModelError

    options = options_from_args(a)
    problems = [
        msg
        for bad, msg in (
            (options.workers < 1, f"--workers must be at least 1, got {options.workers}"),
            (options.queue_size < 1, f"--queue-size must be at least 1, got {options.queue_size}"),
            (not 0 <= options.port <= 65535, f"--port must be 0-65535, got {options.port}"),
            (options.max_upload_bytes < 1000, f"--max-upload-mb is too small: {a.max_upload_mb}"),
        )
        if bad
    ]
    if problems:
        print(f"error: {problems[0]}", file=sys.stderr)
        return 2
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(
            f'error: serve needs the [serve] extra ({exc.name} is missing): pip install -e ".[serve]"',
            file=sys.stderr,
        )
        return 2
    try:
        return run(options)
    except (ModelError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot serve on {options.host}:{options.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="digits-edge serve", description=__doc__.splitlines()[0])
    add_arguments(p)
    return main_from_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
