"""Read handwritten digits in photos or camera frames with a TFLite LSTM (no TensorFlow).

    python -m edge_runtime image photo.jpg scans/ 'shots/*.png' --json
    python -m edge_runtime camera --source 0 --save /tmp/frames --max-frames 100
    python -m edge_runtime camera --source picamera          # Raspberry Pi camera (Picamera2)
    python -m edge_runtime doctor                            # check this device
    python -m edge_runtime tune                              # pick this device's fastest model

One line per image or frame (``--json``: one JSON object per line). The model is
``--model``, else $DIGITS_MODEL, else this device's default from ``tune`` (if the models did
not change since), else the default in models/manifest.json; --json's records name it and
where it came from.

Exit status: 0 all inputs read; 1 some input failed (each failure is its own line, with
an ``error`` field under ``--json``), or the camera failed; 2 bad usage (a flag, an
unusable model or manifest, a ``--save`` folder that cannot be written); 130 Ctrl-C
while opening a camera; 141 the reader of our output went away (``| head``), quietly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.contract import MIN_CONFIDENCE


@dataclass(frozen=True)
class RunOptions:
    model: str | None = None
    """TFLite model path; None: $DIGITS_MODEL, else the manifest default in <project>/models."""
    threads: int = 1
    """Interpreter threads."""
    min_confidence: float = MIN_CONFIDENCE
    """Digits whose calibrated confidence is below this print as '?' (edge_runtime.contract says
    how the default was chosen)."""
    json: bool = False
    """One JSON object per line instead of a readable line."""
    save: Path | None = None
    """Folder for annotated copies (boxes, digits, confidences; FPS on frames); None: don't save."""
    show: bool = False
    """Show a live window (needs an OpenCV build with a GUI)."""
    max_frames: int | None = None
    """Camera: stop after this many frames; None: run until the source ends or Ctrl-C."""


def _format(record: dict) -> str:
    if "error" in record:
        return f"{record['source']}: error: {record['error']}"
    where = record["source"] if record["frame"] is None else f"{record['source']}#{record['frame']}"
    confs = " ".join(f"{d['confidence']:.2f}" for d in record["digits"])
    fps = f" {record['fps']:.1f} FPS" if record.get("fps") else ""
    return (
        f"{where}: {record['text'] or '(no digits)'}  [{confs}] {record['timings_ms']['total']:.1f} ms{fps}"
    )


def display_name(path) -> str:
    """A file name as printable text: bytes that are not UTF-8 (Unix file names may hold any)
    show as \\xNN escapes instead of making print() or json.dumps fail."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def prepare_save_dir(folder: Path) -> None:
    """Create the --save folder and prove a file can be written there; ``OSError`` saying why."""
    if folder.exists() and not folder.is_dir():
        raise OSError(f"--save {display_name(folder)} is a file, not a folder; pass a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".digits-write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OSError(
            f"cannot write to --save folder {display_name(folder)} ({exc.strerror or exc}); "
            "fix its permissions or pass another folder"
        ) from exc


class _Display:
    """--show: a live window if this OpenCV build has a GUI, else one clear message."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        if enabled:
            import cv2

            try:
                cv2.namedWindow("digits", cv2.WINDOW_NORMAL)
            except cv2.error:
                print(
                    "warning: --show needs an OpenCV build with a GUI (opencv-python); this one is "
                    "headless, so no window is shown (use --save DIR to see the results)",
                    file=sys.stderr,
                )
                self.enabled = False

    def show(self, image) -> bool:
        """Show a frame; False when the user pressed q or Esc."""
        if not self.enabled:
            return True
        import cv2

        cv2.imshow("digits", image)
        return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)


def make_reader(options: RunOptions, stream_refresh: int = 0, warm_up: bool = True):
    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.manifest import temperature_for
    from edge_runtime.pipeline import DigitReader
    from edge_runtime.tune import resolve_model_source

    path, source = resolve_model_source(options.model)  # --model, $DIGITS_MODEL, tuned, manifest
    if source.startswith("this device"):
        print(f"model: {path.name}, {source}", file=sys.stderr)
    classifier = DigitClassifier(path, num_threads=options.threads, temperature=temperature_for(path))
    reader = DigitReader(classifier, options.min_confidence, stream_refresh=stream_refresh, warm_up=warm_up)
    reader.model_info = {"model": path.name, "model_source": source}  # into every --json record
    return reader


def read_images(paths: list[str], options: RunOptions, reader=None, emit=print) -> int:
    """Read every image; emit one line per image; return the number of inputs that failed."""
    from edge_runtime.annotate import annotate, save_image
    from edge_runtime.classifier import ModelError
    from edge_runtime.imageio import ImageError, expand_inputs, load_image

    # One image (a file, a folder holding one, a glob matching one): its read is the run's only
    # one, and warming up first would only add to it.
    paths = expand_inputs(paths)
    reader = reader or make_reader(options, warm_up=len(paths) > 1)
    display = _Display(options.show)
    failed = 0
    for path in paths:
        record: dict = {"source": display_name(path), "frame": None, **reader.model_info}
        try:
            t0 = time.perf_counter()
            image = load_image(path)
            t1 = time.perf_counter()
            reading = reader.read(image)
            record.update(reading.as_dict())
            record["timings_ms"]["load"] = round((t1 - t0) * 1e3, 3)
            if options.save or display.enabled:
                vis = annotate(image, reading, min_confidence=options.min_confidence)
                if options.save:  # a.jpg and a.webp both kept
                    save_image(options.save / (Path(path).name + ".png"), vis)
                display.show(vis)
        except (ImageError, ModelError, OSError) as exc:
            failed += 1
            record["error"] = f"cannot save: {exc}" if type(exc) is OSError else str(exc)
        emit(json.dumps(record) if options.json else _format(record))
    return failed


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_camera(camera_options, options: RunOptions, reader=None, emit=print, warn=_warn) -> int:
    """Read frames until the source ends, --max-frames, Ctrl-C or SIGTERM; return frames read.
    Damaged frames of a video file are skipped, and ``warn`` says how many."""
    from edge_runtime.annotate import annotate, save_image
    from edge_runtime.camera import FrameSource
    from edge_runtime.classifier import ModelError
    from edge_runtime.pipeline import STREAM_REFRESH

    reader = reader or make_reader(options, STREAM_REFRESH)
    display = _Display(options.show)
    source = FrameSource(camera_options)
    previous = signal.signal(signal.SIGTERM, lambda *_: source.stop())
    n, t_prev, fps = 0, time.perf_counter(), 0.0
    try:
        for frame in source:
            try:
                reading = reader.read(frame)
            except ModelError as exc:  # e.g. NaN logits: this frame's error, as JSON stays valid
                record = {"source": camera_options.source, "frame": n, "error": str(exc)}
                emit(json.dumps(record) if options.json else _format(record))
                n += 1
                if options.max_frames is not None and n >= options.max_frames:
                    break
                continue
            now = time.perf_counter()
            dt, t_prev = now - t_prev, now
            fps = 1.0 / dt if fps == 0.0 else 0.9 * fps + 0.1 / max(dt, 1e-6)
            record = {"source": camera_options.source, "frame": n, **reader.model_info}
            record.update(reading.as_dict(), fps=round(fps, 2))
            emit(json.dumps(record) if options.json else _format(record))
            if options.save or display.enabled:
                vis = annotate(frame, reading, fps=fps, min_confidence=options.min_confidence)
                if options.save:
                    save_image(options.save / f"frame_{n:06d}.jpg", vis)
                if not display.show(vis):
                    break
            n += 1
            if options.max_frames is not None and n >= options.max_frames:
                break
    except KeyboardInterrupt:
        pass
    finally:
        source.stop()
        signal.signal(signal.SIGTERM, previous)
    if source.bad_frames:
        warn(
            f"warning: {camera_options.source}: {source.bad_frames} damaged frames could not be decoded "
            f"and were skipped ({n} frames read)"
        )
    return n


def _number(kind, low: float, low_ok: bool, what: str):
    """An argparse type: a finite ``kind`` above ``low`` (or equal, if ``low_ok``), else a clear error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value) or value < low or (value == low and not low_ok):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


positive_int = _number(int, 1, True, "a whole number of at least 1")
seconds = _number(float, 0.0, True, "a finite number of seconds >= 0")
probability = _number(float, 0.0, True, "a number between 0 and 1")


def _probability(text: str) -> float:
    value = probability(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--model",
        default=None,
        help="TFLite model (default: $DIGITS_MODEL, else models/manifest.json's default)",
    )
    common.add_argument("--threads", type=positive_int, default=1, help="interpreter threads (default: 1)")
    common.add_argument(
        "--min-confidence",
        type=_probability,
        default=RunOptions.min_confidence,
        help=f"below this calibrated confidence a digit shows as '?' (default: {RunOptions.min_confidence})",
    )
    common.add_argument(
        "--json", action="store_true", help="one JSON object per line (default: readable lines)"
    )
    common.add_argument(
        "--save", type=Path, default=None, help="write annotated copies to this folder (default: none)"
    )
    common.add_argument("--show", action="store_true", help="show a live window (needs OpenCV with a GUI)")
    common.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        help="camera: stop after N frames (default: no limit)",
    )
    p = argparse.ArgumentParser(prog="digits-edge", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    img = sub.add_parser("image", parents=[common], help="read image files, folders or globs")
    img.add_argument("paths", nargs="+", help="image files (PNG, JPEG, BMP, WebP...), folders or globs")
    cam = sub.add_parser("camera", parents=[common], help="read a webcam, video file, stream or Pi camera")
    cam.add_argument(
        "--source", default="0", help="webcam index, video file, stream URL or 'picamera' (default: 0)"
    )
    cam.add_argument(
        "--reconnect-seconds",
        type=seconds,
        default=10.0,
        help="give up on a lost camera after this long (default: 10)",
    )
    from edge_runtime.serve.server import add_arguments  # imports no web framework until run

    add_arguments(sub.add_parser("serve", help="serve a live page and an HTTP API (needs the [serve] extra)"))
    sub.add_parser("doctor", add_help=False, help="check this device: versions, models, cameras, heat")
    sub.add_parser("tune", add_help=False, help="time the shipped models here; record the fastest")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly as Unix tools do. Point stdout at
        # /dev/null so that Python's flush at exit does not raise a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("doctor", "tune"):  # device tools with their own flags
        import importlib

        return importlib.import_module(f"edge_runtime.{argv[0]}").main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from edge_runtime.serve.server import main_from_args

        return main_from_args(args)
    options = RunOptions(
        args.model, args.threads, args.min_confidence, args.json, args.save, args.show, args.max_frames
    )
    from edge_runtime.classifier import ModelError
    from edge_runtime.pipeline import STREAM_REFRESH

    try:
        if options.save is not None:
            prepare_save_dir(options.save)
        # camera frames show one scene: the ink polarity is reused (edge_runtime.pipeline)
        reader = make_reader(options, STREAM_REFRESH if args.command == "camera" else 0)
    except (ModelError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = lambda line: print(line, flush=True)  # noqa: E731 (a line per frame must appear at once)
    if args.command == "image":
        failed = read_images(args.paths, options, reader, emit=out)
        return 1 if failed else 0
    from edge_runtime.camera import CameraError, CameraOptions

    try:
        n = run_camera(
            CameraOptions(source=args.source, reconnect_seconds=args.reconnect_seconds),
            options,
            reader,
            emit=out,
        )
    except KeyboardInterrupt:  # while the source was being opened, before the first frame
        print("error: interrupted before the camera delivered a frame", file=sys.stderr)
        return 130
    except (CameraError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if n == 0:
        print(
            f"error: camera source {args.source!r} delivered no frames (an empty or unreadable video?)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
