"""The HTTP side of ``digits-edge serve``: a Starlette app (run by uvicorn) over the engine.

Routes (JSON unless said otherwise; every record is the object ``--json`` prints per line):
    GET  /                    the page (static HTML + JS + CSS from ./static, nothing fetched online)
    POST /api/read            an image (multipart field ``image`` or the raw body) -> its record
    POST /api/steps           {"input": 784 ints 0-255} -> probabilities after each of the 28 rows
    GET  /api/latest          the last camera frame's record (404 if none yet)
    GET  /api/events          Server-Sent Events: one ``data:`` line per camera frame's record
    GET  /api/frame.jpg       the last annotated frame; /api/stream.mjpg the same as MJPEG
    GET  /api/info            model, manifest entry, versions, source, options
    GET  /api/health          status, uptime, camera state and counts, ms per stage, temperature
    GET  /metrics             /api/health in Prometheus' text format

Push is SSE rather than WebSocket: the data flows one way (device -> page), the browser's
EventSource reconnects by itself, it is plain HTTP (the token cookie, proxies and curl work
as for any request) and uvicorn needs no extra WebSocket library for it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import platform
import time
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge_runtime.imageio import ImageError, decode_image, header_size
from edge_runtime.serve.engine import Busy, detail

STATIC_DIR = Path(__file__).resolve().parent / "static"
TOKEN_COOKIE = "digits_token"
MJPEG_BOUNDARY = "frame"
HEARTBEAT_S = 15.0
"""SSE comment sent when no frame came for this long, so proxies and clients keep the stream."""


class Hub:
    """Fan-out of camera records to SSE clients and of new frames to MJPEG clients.

    Called from the camera thread via ``publish``; each client has a small queue that drops
    its oldest item when full, so a slow client never holds memory or the camera loop."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[asyncio.Queue] = set()
        self.frame_seq = 0
        self.frame_event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.frame_event = loop, asyncio.Event()

    def publish(self, record: dict, info: dict) -> None:
        if self.loop is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self._deliver, record, info)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    def _deliver(self, record: dict, info: dict) -> None:
        self.frame_seq += 1
        for q in list(self.clients):
            if q.full():
                q.get_nowait()
            q.put_nowait((record, info))
        event, self.frame_event = self.frame_event, asyncio.Event()
        event.set()  # wakes every MJPEG client waiting for this frame


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# ---------------------------------------------------------------- token


class TokenGate:
    """ASGI middleware: with a token set, every request needs it as ``Authorization: Bearer``,
    ``?token=`` or the cookie the page gets when it is first opened with ``?token=``
    (EventSource, <img> and MJPEG cannot send headers; the cookie carries it for them)."""

    def __init__(self, app, token: str | None):
        self.app, self.token = app, token

    def _ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if self.token is None or scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        bearer = headers.get("authorization", "")
        bearer = bearer[7:] if bearer.lower().startswith("bearer ") else None
        cookies = dict(
            c.strip().split("=", 1) for c in headers.get("cookie", "").split(";") if "=" in c
        )  # cookie values here are token_urlsafe: no quoting to undo
        if self._ok(bearer) or self._ok(cookies.get(TOKEN_COOKIE)):
            return await self.app(scope, receive, send)
        if self._ok(query):

            async def send_with_cookie(message):
                if message["type"] == "http.response.start":
                    cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    message = {**message, "headers": [*message["headers"], (b"set-cookie", cookie.encode())]}
                await send(message)

            return await self.app(scope, receive, send_with_cookie)
        response = error(
            401,
            "missing or wrong token: this server is bound beyond loopback; open the page as /?token=TOKEN "
            "or send 'Authorization: Bearer TOKEN'",
        )
        await response(scope, receive, send)


# ---------------------------------------------------------------- uploads


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413-worthy ValueError as soon as it passes ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise OverflowError(f"upload too large: {int(length)} bytes, limit {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise OverflowError(f"upload too large: over {limit} bytes (limit)")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_bytes(request: Request, limit: int) -> tuple[bytes, str]:
    """(image bytes, name) from multipart field ``image`` or the raw body."""
    body = await read_body(request, limit)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        form = await Request(request.scope, replay).form(max_files=1, max_fields=8, max_part_size=limit)
        try:
            item = form.get("image")
            if not isinstance(item, UploadFile):
                raise ValueError("multipart upload has no file field named 'image'")
            return await item.read(), item.filename or "upload"
        finally:
            await form.close()
    return body, "upload"


def decode_upload(data: bytes, name: str, max_pixels: int):
    """bytes -> image; OverflowError (413) over the pixel cap, ImageError (400) if unreadable."""
    size = header_size(data)
    if size and size[0] * size[1] > max_pixels:
        raise OverflowError(
            f"{name}: image too large ({size[0]}x{size[1]} pixels, limit {max_pixels} pixels); downscale it"
        )
    image = decode_image(data, name, max_pixels=max_pixels)
    # libjpeg decodes a truncated JPEG into a partly grey image: check its end marker, as load_image does.
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
        raise ImageError(f"{name}: truncated JPEG (no end-of-image marker)")
    return image


# ---------------------------------------------------------------- the app


def create_app(server) -> Starlette:
    """``server``: an edge_runtime.serve.server.Server (engine, options, info).

    Longer than our usual 60 lines on purpose: each route is a short closure over ``server``,
    and the API reads top to bottom as one table of routes, the way Starlette apps are written."""
    options = server.options
    hub = server.hub

    async def page(request: Request):
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def api_read(request: Request):
        try:
            data, name = await upload_bytes(request, options.max_upload_bytes)
            min_conf = float(request.query_params.get("min_confidence", options.min_confidence))
        except OverflowError as exc:
            return error(413, str(exc))
        except ValueError as exc:
            return error(400, str(exc))
        with_detail = request.query_params.get("detail") == "1"

        def job(worker):  # in a worker thread: decoding is CPU work too, kept off the event loop
            t0 = time.perf_counter()
            image = decode_upload(data, name, options.max_pixels)
            load_ms = (time.perf_counter() - t0) * 1e3
            reading = worker.reader.read(image)
            record = {"source": name, "frame": None, **worker.reader.model_info}
            record.update(reading.as_dict())
            # The reader's threshold is the server's --min-confidence; a per-request one re-labels.
            record["text"] = "".join(
                str(d.label) if d.confidence >= min_conf else "?" for d in reading.digits
            )
            record["timings_ms"]["load"] = round(load_ms, 3)
            if with_detail:
                record["detail"] = detail(reading, worker.reader.classifier)
            server.upload_stages.add(reading.timings_ms)
            return record

        try:
            record = await asyncio.wrap_future(server.pool.submit(job))
        except Busy as exc:
            return error(503, str(exc))
        except OverflowError as exc:
            return error(413, str(exc))
        except ImageError as exc:
            return error(400, str(exc))
        server.uploads += 1
        return JSONResponse(record)

    async def api_steps(request: Request):
        if server.stepwise_path is None:
            return error(404, "no per-row model (models/lstm_stepwise.tflite); run python -m export.stepwise")
        try:
            body = json.loads(await read_body(request, 64_000))
            values = body["input"]
            if not isinstance(values, list) or len(values) != 784:
                raise ValueError("'input' must be a list of 784 numbers (28x28, 0-255, white digit on black)")
            import numpy as np

            x = np.asarray(values, np.float32).reshape(28, 28) / 255.0
            if not np.isfinite(x).all():
                raise ValueError("'input' has values that are not finite numbers")
        except OverflowError as exc:
            return error(413, str(exc))
        except (ValueError, KeyError, TypeError) as exc:
            return error(400, f"bad /api/steps body: {exc}")

        def job(worker):
            return worker.stepwise.probabilities(np.clip(x, 0.0, 1.0))

        try:
            probs = await asyncio.wrap_future(server.pool.submit(job))
        except Busy as exc:
            return error(503, str(exc))
        labels = probs.argmax(1)
        settled = next((t for t in range(28) if (labels[t:] == labels[-1]).all()), 27)
        return JSONResponse(
            {
                "probabilities": [[round(float(p), 4) for p in row] for row in probs],
                "label_after_row": [int(k) for k in labels],
                "label": int(labels[-1]),
                "settled_at_row": settled + 1,
            }
        )

    async def api_latest(request: Request):
        cam = server.camera
        if cam is None:
            return error(404, "no camera source: start serve with --source to get frames")
        if cam.latest is None:
            return error(404, f"no frame read yet (camera {cam.health()['state']})")
        record = dict(cam.latest)
        if request.query_params.get("detail") == "1":
            record["detail"] = cam.latest_detail
        return JSONResponse(record)

    async def api_events(request: Request):
        if server.camera is None:
            return error(404, "no camera source: start serve with --source to get events")
        with_detail = request.query_params.get("detail") == "1"
        q: asyncio.Queue = asyncio.Queue(maxsize=4)
        hub.clients.add(q)

        async def stream():
            try:
                yield b"retry: 2000\n\n"
                while not server.stopping:
                    try:
                        record, info = await asyncio.wait_for(q.get(), timeout=1.0)
                    except asyncio.TimeoutError:
                        if time.monotonic() - last[0] > HEARTBEAT_S:
                            last[0] = time.monotonic()
                            yield b": keep-alive\n\n"
                        continue
                    last[0] = time.monotonic()
                    payload = {**record, "detail": info} if with_detail else record
                    yield f"data: {json.dumps(payload)}\n\n".encode()
            finally:
                hub.clients.discard(q)

        last = [time.monotonic()]
        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def api_frame(request: Request):
        cam = server.camera
        if cam is None or cam.latest_jpeg is None:
            return error(404, "no frame yet" if cam else "no camera source: start serve with --source")
        return Response(cam.latest_jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def api_stream(request: Request):
        cam = server.camera
        if cam is None:
            return error(404, "no camera source: start serve with --source to get a stream")

        async def frames():
            sent = None
            while not server.stopping:
                jpg = cam.latest_jpeg
                if jpg is not None and jpg is not sent:
                    sent = jpg
                    head = f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                    yield head.encode() + jpg + b"\r\n"
                try:
                    await asyncio.wait_for(hub.frame_event.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass

        return StreamingResponse(
            frames(),
            media_type=f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
            headers={"Cache-Control": "no-store"},
        )

    async def api_info(request: Request):
        return JSONResponse(server.info())

    async def api_health(request: Request):
        return JSONResponse(server.health())

    async def metrics(request: Request):
        return PlainTextResponse(prometheus(server.health()), media_type="text/plain; version=0.0.4")

    routes = [
        Route("/", page),
        Route("/api/read", api_read, methods=["POST"]),
        Route("/api/steps", api_steps, methods=["POST"]),
        Route("/api/latest", api_latest),
        Route("/api/events", api_events),
        Route("/api/frame.jpg", api_frame),
        Route("/api/stream.mjpg", api_stream),
        Route("/api/info", api_info),
        Route("/api/health", api_health),
        Route("/metrics", metrics),
        # StaticFiles refuses paths that resolve outside its folder ("..", symlinks out): 404.
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]

    async def not_found(request: Request, exc):
        return error(404, f"no such page or endpoint: {request.url.path}")

    async def wrong_method(request: Request, exc):
        return error(405, f"{request.method} is not allowed on {request.url.path}")

    app = Starlette(
        routes=routes, exception_handlers={404: not_found, 405: wrong_method}, lifespan=server.lifespan
    )
    return app


def prometheus(health: dict) -> str:
    """The health figures in Prometheus' text exposition format (a few gauges and counters;
    written out here because the format is a handful of lines and the client library would be
    one more dependency on the device)."""
    cam = health.get("camera") or {}
    lines = [
        "# HELP digits_up 1 while the server runs.",
        "# TYPE digits_up gauge",
        "digits_up 1",
        "# TYPE digits_uptime_seconds gauge",
        f"digits_uptime_seconds {health['uptime_s']}",
        "# TYPE digits_uploads_total counter",
        f"digits_uploads_total {health['uploads']}",
        "# TYPE digits_rejected_total counter",
        f"digits_rejected_total {health['rejected_busy']}",
        "# TYPE digits_queue_length gauge",
        f"digits_queue_length {health['queued']}",
    ]
    if cam:
        lines += [
            "# TYPE digits_camera_live gauge",
            f"digits_camera_live {1 if cam['state'] == 'live' else 0}",
            "# TYPE digits_frames_read_total counter",
            f"digits_frames_read_total {cam['frames_read']}",
            "# TYPE digits_frames_dropped_total counter",
            f"digits_frames_dropped_total {cam['frames_dropped']}",
            "# TYPE digits_fps gauge",
            f"digits_fps {cam['fps']}",
            "# TYPE digits_stage_ms_p50 gauge",
        ]
        lines += [f'digits_stage_ms_p50{{stage="{k}"}} {v}' for k, v in cam["ms_p50"].items()]
    if health.get("cpu_temperature_c") is not None:
        lines += [
            "# TYPE digits_cpu_temperature_celsius gauge",
            f"digits_cpu_temperature_celsius {health['cpu_temperature_c']}",
        ]
    return "\n".join(lines) + "\n"


def versions() -> dict:
    import importlib.metadata

    import cv2
    import numpy

    out = {"python": platform.python_version(), "numpy": numpy.__version__, "opencv": cv2.__version__}
    for pkg in ("ai-edge-litert", "starlette", "uvicorn"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out
