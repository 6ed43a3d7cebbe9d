"""Benchmark ``digits-edge serve`` over loopback: throughput and latency under concurrent clients,
against the CLI on the same photos; memory over a long run; start-up and memory with a video.

    python -m benchmarks.serve_bench                  # full run (a few minutes), markdown on stdout
    python -m benchmarks.serve_bench --quick          # a smoke run (under a minute)
    python -m benchmarks.serve_bench --json-out /tmp/serve.json

Photos come from --photos or $DIGITS_PHOTOS_DIR. Every server is a real ``python -m
edge_runtime serve`` child on a free loopback port, every request real HTTP (http.client,
keep-alive, one connection per client thread). ``run_serve_bench`` returns a dict for
report.json; ``render_serve(data)`` turns it into the report's markdown section. The small
timing and summary helpers are this module's own, so it stands alone.

Bars (from issue 8): zero errors; server images/s >= 80% of the CLI's on the same photos; RSS
after 10,000 requests within 10 MB of RSS after 100; with a video source /api/health answers
within 2 s of launch and RSS stays under 200 MB.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_runtime.contract import PROJECT_ROOT

ROOT = PROJECT_ROOT
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
BARS = {"throughput_ratio": 0.80, "rss_growth_mb": 10.0, "health_s": 2.0, "video_rss_mb": 200.0}


@dataclass(frozen=True)
class ServeBenchOptions:
    photos: Path | None = None
    """Folder of photos to post (default: $DIGITS_PHOTOS_DIR)."""
    clients: int = 4
    """Concurrent client threads, each with one request in flight."""
    seconds: float = 20.0
    """How long the clients post photos (s)."""
    workers: int = 1
    """Server inference threads (1: the same single reader as the CLI it is compared with)."""
    soak_requests: int = 10_000
    """Requests of the memory run; RSS is read after 100 and after this many."""
    video_seconds: float = 10.0
    """How long the video-source server runs while its memory is sampled (s)."""
    model: str | None = None
    """Model file (default: the manifest's default)."""


QUICK = ServeBenchOptions(clients=2, seconds=4.0, soak_requests=1_000, video_seconds=3.0)


# ---------------------------------------------------------------- small helpers of its own


def percentiles(values_ms: list[float]) -> dict:
    """p50/p90/p99/mean/max of a list of milliseconds (rounded to 0.01 ms)."""
    if not values_ms:
        return {"n": 0}
    a = np.asarray(values_ms, np.float64)
    q = np.percentile(a, [50, 90, 99])
    return {
        "n": len(a),
        "p50": round(float(q[0]), 2),
        "p90": round(float(q[1]), 2),
        "p99": round(float(q[2]), 2),
        "mean": round(float(a.mean()), 2),
        "max": round(float(a.max()), 2),
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc; psutil elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used (Linux /proc), a figure the machine's load does not
    inflate as it does wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 3)
    except (OSError, ValueError, IndexError):
        return None


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


class Server:
    """A ``python -m edge_runtime serve --port 0`` child; ``port`` once it printed its address."""

    def __init__(self, *args: str, model: str | None = None):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("DIGITS_SERVE_TOKEN", None)
        cmd = [sys.executable, "-m", "edge_runtime", "serve", "--port", "0", *args]
        cmd += ["--model", model] if model else []
        self.t_launch = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.proc.stdout.readline()
        m = re.search(r"http://[^:]+:(\d+)/", line)
        if not m:
            self.stop()
            raise RuntimeError(f"serve did not start: {line!r}")
        self.port = int(m.group(1))

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def post_loop(port: int, bodies: list[bytes], stop_at: float, max_requests: int | None, out: dict) -> None:
    """One client: post bodies round-robin until ``stop_at`` or ``max_requests``; record ms and errors."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    while time.perf_counter() < stop_at and (max_requests is None or i < max_requests):
        body = bodies[i % len(bodies)]
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/api/read", body, {"Content-Type": "application/octet-stream"})
            r = conn.getresponse()
            payload = r.read()
            ok = r.status == 200 and b'"text"' in payload
        except (OSError, http.client.HTTPException) as exc:
            ok, payload = False, str(exc).encode()
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out["ms"].append((time.perf_counter() - t0) * 1e3)
        if not ok:
            out["errors"].append(payload[:200].decode(errors="replace"))
        i += 1
    conn.close()


def run_clients(port: int, bodies: list[bytes], clients: int, seconds: float, max_requests=None) -> dict:
    results = [{"ms": [], "errors": []} for _ in range(clients)]
    stop_at = time.perf_counter() + seconds
    per_client = None if max_requests is None else -(-max_requests // clients)
    threads = [
        threading.Thread(
            target=post_loop, args=(port, bodies[k:] + bodies[:k], stop_at, per_client, results[k])
        )
        for k in range(clients)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = [v for r in results for v in r["ms"]]
    errors = [e for r in results for e in r["errors"]]
    return {
        "requests": len(ms),
        "seconds": round(wall, 2),
        "errors": len(errors),
        "first_errors": errors[:3],
        "ms": ms,
    }


# ---------------------------------------------------------------- the measurements


def photo_files(options: ServeBenchOptions) -> list[Path]:
    folder = options.photos or (
        Path(os.environ["DIGITS_PHOTOS_DIR"]) if os.environ.get("DIGITS_PHOTOS_DIR") else None
    )
    if folder is None or not folder.is_dir():
        raise SystemExit("error: no photos: pass --photos DIR or set DIGITS_PHOTOS_DIR")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"error: no photos in {folder}")
    return files


def cli_images_per_second(files: list[Path], rounds: int, model: str | None) -> dict:
    """The CLI's steady rate: ``image`` on the photos ``rounds`` times in one process, timed from its
    first output line to its last (start-up excluded, as the server's is)."""
    cmd = [sys.executable, "-m", "edge_runtime", "image", *[str(f) for f in files] * rounds, "--json"]
    cmd += ["--model", model] if model else []
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stamps = []
    for _line in proc.stdout:
        stamps.append(time.perf_counter())
    proc.wait()
    if len(stamps) < 2:
        raise RuntimeError("the CLI printed fewer than two lines")
    return {"images": len(stamps), "images_per_s": round((len(stamps) - 1) / (stamps[-1] - stamps[0]), 2)}


def throughput(options: ServeBenchOptions, bodies: list[bytes]) -> dict:
    srv = Server(
        "--workers", str(options.workers), "--queue-size", str(2 * options.clients), model=options.model
    )
    try:
        run_clients(srv.port, bodies, 1, 60.0, max_requests=len(bodies))  # warm-up: each photo once
        r = run_clients(srv.port, bodies, options.clients, options.seconds)
    finally:
        srv.stop()
    lat = percentiles(r.pop("ms"))
    return {**r, "requests_per_s": round(r["requests"] / r["seconds"], 2), "latency_ms": lat}


def memory_soak(options: ServeBenchOptions, body: bytes) -> dict:
    srv = Server("--workers", "1", "--queue-size", "8", model=options.model)
    try:
        first = run_clients(srv.port, [body], 2, 600.0, max_requests=100)
        rss_100 = rss_mb(srv.proc.pid)
        rest = run_clients(srv.port, [body], 2, 3600.0, max_requests=options.soak_requests - 100)
        rss_n = rss_mb(srv.proc.pid)
    finally:
        srv.stop()
    return {
        "requests": first["requests"] + rest["requests"],
        "errors": first["errors"] + rest["errors"],
        "rss_mb_after_100": rss_100,
        "rss_mb_after_all": rss_n,
        "growth_mb": round(rss_n - rss_100, 1),
        "latency_ms": percentiles(first["ms"] + rest["ms"]),
    }


def write_video(path: Path, photo: Path, frames: int = 100) -> None:
    """A 640x480 MJPG video of one photo (the camera stand-in)."""
    import cv2

    from edge_runtime.imageio import load_image

    img = load_image(photo)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img
    img = cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for _ in range(frames):
        writer.write(img)
    writer.release()


def video_source(options: ServeBenchOptions, photo: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "camera.avi"
        write_video(video, photo)
        srv = Server("--source", str(video), "--loop", model=options.model)
        try:
            health_s = health_cpu_s = None
            while time.perf_counter() - srv.t_launch < 30:
                try:
                    if srv.get("/api/health")[0] == 200:
                        health_s = round(time.perf_counter() - srv.t_launch, 3)
                        health_cpu_s = cpu_seconds(srv.proc.pid)
                        break
                except OSError:
                    time.sleep(0.01)
            rss, end = [], time.perf_counter() + options.video_seconds
            while time.perf_counter() < end:
                rss.append(rss_mb(srv.proc.pid))
                time.sleep(0.25)
            health = json.loads(srv.get("/api/health")[1])
        finally:
            srv.stop()
    cam = health.get("camera") or {}
    return {
        "health_s": health_s,
        "health_cpu_s": health_cpu_s,
        "rss_mb_max": max(rss) if rss else None,
        "rss_mb_last": rss[-1] if rss else None,
        "frames_read": cam.get("frames_read"),
        "fps": cam.get("fps"),
        "ms_p50": cam.get("ms_p50"),
        "state": cam.get("state"),
    }


def run_serve_bench(options: ServeBenchOptions, log=lambda s: None) -> dict:
    """All four measurements -> a dict for report.json."""
    files = photo_files(options)
    bodies = [f.read_bytes() for f in files]
    load = load_average()
    log(
        f"serve bench: {len(files)} photos, {options.clients} clients x {options.seconds:g} s, {options.workers} worker(s)"
    )
    thr = throughput(options, bodies)
    log(
        f"  server: {thr['requests_per_s']} req/s, p50 {thr['latency_ms'].get('p50')} ms, errors {thr['errors']}"
    )
    cli = cli_images_per_second(files, rounds=max(2, round(options.seconds / 4)), model=options.model)
    log(f"  CLI: {cli['images_per_s']} images/s")
    # The soak posts a small image (a photo scaled to 320 px wide) so 10,000 requests take about a minute.
    import cv2

    from edge_runtime.imageio import load_image

    img = load_image(files[0])
    small = cv2.resize(
        img, (320, max(1, round(img.shape[0] * 320 / img.shape[1]))), interpolation=cv2.INTER_AREA
    )
    soak = memory_soak(options, cv2.imencode(".png", small)[1].tobytes())
    log(
        f"  memory: {soak['rss_mb_after_100']} MB after 100, {soak['rss_mb_after_all']} MB after {soak['requests']}"
    )
    vid = video_source(options, files[0])
    log(f"  video source: /api/health after {vid['health_s']} s, max RSS {vid['rss_mb_max']} MB")
    ratio = round(thr["requests_per_s"] / cli["images_per_s"], 3) if cli["images_per_s"] else None
    return {
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        "photos": len(files),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_before": load,
            "load_after": load_average(),
        },
        "throughput": thr,
        "cli": cli,
        "throughput_ratio": ratio,
        "memory": soak,
        "video": vid,
        "bars": {
            "zero_errors": thr["errors"] == 0 and soak["errors"] == 0,
            "throughput_ratio": ratio is not None and ratio >= BARS["throughput_ratio"],
            "rss_growth": abs(soak["growth_mb"]) <= BARS["rss_growth_mb"],
            "health_within_2s": vid["health_s"] is not None and vid["health_s"] <= BARS["health_s"],
            "video_rss_under_200mb": vid["rss_mb_max"] is not None
            and vid["rss_mb_max"] < BARS["video_rss_mb"],
        },
    }


def measure_serve(context) -> dict:
    """The report's section (benchmarks.sections): the full measurement on the run's photos;
    skipped (with a note) in a quick run, with --no-serve, or without the [serve] extra."""
    import importlib.util

    o = context.options
    if not o.serve:
        raise RuntimeError("left out (--quick or --no-serve)")
    if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("uvicorn") is None:
        raise RuntimeError("the [serve] extra is not installed (pip install -e '.[serve]')")
    if o.pipeline.photos_dir is None:
        raise RuntimeError("no photos to post (set DIGITS_PHOTOS_DIR)")
    data = run_serve_bench(ServeBenchOptions(photos=Path(o.pipeline.photos_dir)))
    data["options"]["photos"] = None  # report.json keeps no machine's paths
    return data


def render_serve(data: dict) -> str:
    """The report's markdown section for ``run_serve_bench``'s dict."""
    o, t, c, m, v, b = (
        data["options"],
        data["throughput"],
        data["cli"],
        data["memory"],
        data["video"],
        data["bars"],
    )
    ok = lambda passed: "pass" if passed else "**miss**"  # noqa: E731
    lat = t["latency_ms"]
    load = data["machine"].get("load_before")
    lines = [
        "## digits-edge serve over loopback",
        "",
        f"{o['clients']} concurrent clients posting {data['photos']} photos (raw body, keep-alive) for "
        f"{o['seconds']:g} s to a server with {o['workers']} inference worker(s)"
        + (f"; load average {load:.1f} before the run" if load is not None else "")
        + ". Shared machines are noisy: compare ratios, not absolute figures.",
        "",
        "| measure | value | bar | |",
        "| --- | --- | --- | --- |",
        f"| requests per second | {t['requests_per_s']} ({t['requests']} in {t['seconds']} s) | | |",
        f"| latency p50 / p90 / p99 | {lat.get('p50')} / {lat.get('p90')} / {lat.get('p99')} ms | | |",
        f"| errors | {t['errors']} (+{m['errors']} in the memory run) | 0 | {ok(b['zero_errors'])} |",
        f"| CLI on the same photos | {c['images_per_s']} images/s | | |",
        f"| server / CLI throughput | {data['throughput_ratio']:.0%} | >= 80% | {ok(b['throughput_ratio'])} |",
        f"| RSS after 100 / {m['requests']} requests | {m['rss_mb_after_100']} / {m['rss_mb_after_all']} MB "
        f"({m['growth_mb']:+.1f} MB) | within 10 MB | {ok(b['rss_growth'])} |",
        f"| `serve --source VIDEO`: /api/health answers after | {v['health_s']} s (CPU used by then: "
        f"{v.get('health_cpu_s')} s) | <= 2 s | {ok(b['health_within_2s'])} |",
        f"| `serve --source VIDEO`: max RSS | {v['rss_mb_max']} MB | < 200 MB | {ok(b['video_rss_under_200mb'])} |",
        f"| video frames read, FPS (file paced at 25 FPS) | {v['frames_read']}, {v['fps']} | | |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.serve_bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 clients, 4 s, 1,000-request memory run"
    )
    p.add_argument("--photos", type=Path, default=None, help="photo folder (default: $DIGITS_PHOTOS_DIR)")
    p.add_argument("--clients", type=int, default=None, help="concurrent clients (default: 4; quick: 2)")
    p.add_argument("--seconds", type=float, default=None, help="client run length, s (default: 20; quick: 4)")
    p.add_argument("--workers", type=int, default=1, help="server inference threads (default: 1)")
    p.add_argument(
        "--soak-requests", type=int, default=None, help="memory run length (default: 10000; quick: 1000)"
    )
    p.add_argument("--model", default=None, help="model file (default: the manifest's default)")
    p.add_argument(
        "--json-out", type=Path, default=None, help="also write the results as JSON here (default: none)"
    )
    a = p.parse_args(argv)
    base = QUICK if a.quick else ServeBenchOptions()
    options = ServeBenchOptions(
        photos=a.photos,
        clients=a.clients or base.clients,
        seconds=a.seconds or base.seconds,
        workers=a.workers,
        soak_requests=a.soak_requests or base.soak_requests,
        video_seconds=base.video_seconds,
        model=a.model,
    )
    data = run_serve_bench(options, log=lambda s: print(s, file=sys.stderr, flush=True))
    if a.json_out:
        a.json_out.write_text(json.dumps(data, indent=2) + "\n")
    print(render_serve(data))
    return 0 if all(data["bars"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
