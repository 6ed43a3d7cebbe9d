"""Read handwritten digits in photos or camera frames with a TFLite LSTM (no TensorFlow).

    python -m edge_runtime image photo.jpg scans/ 'shots/*.png' --json
    python -m edge_runtime camera --source 0 --save /tmp/frames --max-frames 100
    python -m edge_runtime camera --source picamera          # Raspberry Pi camera (Picamera2)
    python -m edge_runtime doctor                            # check this device
    python -m edge_runtime tune                              # pick this device's fastest model

One line per image or frame (``--json``: one JSON object per line). The exit status is
non-zero if any input failed. The model is ``--model``, else $DIGITS_MODEL, else this
device's default from ``tune`` (if the models did not change since), else the default in
models/manifest.json; --json's records name it and where it came from.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunOptions:
    model: str | None = None
    """TFLite model path; None: $DIGITS_MODEL, else the manifest default in <project>/models."""
    threads: int = 1
    """Interpreter threads."""
    min_confidence: float = 0.5
    """Digits whose softmax confidence is below this print as '?'."""
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


def make_reader(options: RunOptions):
    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.pipeline import DigitReader
    from edge_runtime.tune import resolve_model_source

    path, source = resolve_model_source(options.model)  # --model, $DIGITS_MODEL, tuned, manifest
    if source.startswith("this device"):
        print(f"model: {path.name}, {source}", file=sys.stderr)
    reader = DigitReader(DigitClassifier(path, num_threads=options.threads), options.min_confidence)
    reader.model_info = {"model": path.name, "model_source": source}  # into every --json record
    return reader


def read_images(paths: list[str], options: RunOptions, reader=None, emit=print) -> int:
    """Read every image; emit one line per image; return the number of inputs that failed."""
    import cv2

    from edge_runtime.annotate import annotate
    from edge_runtime.imageio import ImageError, expand_inputs, load_image

    reader = reader or make_reader(options)
    display = _Display(options.show)
    failed = 0
    for path in expand_inputs(paths):
        record: dict = {"source": path, "frame": None, **getattr(reader, "model_info", {})}
        try:
            t0 = time.perf_counter()
            image = load_image(path)
            t1 = time.perf_counter()
            reading = reader.read(image)
            record.update(reading.as_dict())
            record["timings_ms"]["load"] = round((t1 - t0) * 1e3, 3)
            if options.save or display.enabled:
                vis = annotate(image, reading, min_confidence=options.min_confidence)
                if options.save:
                    options.save.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(
                        str(options.save / (Path(path).name + ".png")), vis
                    )  # a.jpg and a.webp both kept
                display.show(vis)
        except (ImageError, OSError) as exc:
            failed += 1
            record["error"] = str(exc)
        emit(json.dumps(record) if options.json else _format(record))
    return failed


def run_camera(camera_options, options: RunOptions, reader=None, emit=print) -> int:
    """Read frames until the source ends, --max-frames, Ctrl-C or SIGTERM; return frames read."""
    import cv2

    from edge_runtime.annotate import annotate
    from edge_runtime.camera import FrameSource

    reader = reader or make_reader(options)
    display = _Display(options.show)
    source = FrameSource(camera_options)
    previous = signal.signal(signal.SIGTERM, lambda *_: source.stop())
    n, t_prev, fps = 0, time.perf_counter(), 0.0
    try:
        for frame in source:
            reading = reader.read(frame)
            now = time.perf_counter()
            dt, t_prev = now - t_prev, now
            fps = 1.0 / dt if fps == 0.0 else 0.9 * fps + 0.1 / max(dt, 1e-6)
            record = {"source": camera_options.source, "frame": n, **getattr(reader, "model_info", {})}
            record.update(reading.as_dict(), fps=round(fps, 2))
            emit(json.dumps(record) if options.json else _format(record))
            if options.save or display.enabled:
                vis = annotate(frame, reading, fps=fps, min_confidence=options.min_confidence)
                if options.save:
                    options.save.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(options.save / f"frame_{n:06d}.jpg"), vis)
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
    return n


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--model",
        default=None,
        help="TFLite model (default: $DIGITS_MODEL, else models/manifest.json's default)",
    )
    common.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    common.add_argument(
        "--min-confidence", type=float, default=0.5, help="below this a digit shows as '?' (default: 0.5)"
    )
    common.add_argument(
        "--json", action="store_true", help="one JSON object per line (default: readable lines)"
    )
    common.add_argument(
        "--save", type=Path, default=None, help="write annotated copies to this folder (default: none)"
    )
    common.add_argument("--show", action="store_true", help="show a live window (needs OpenCV with a GUI)")
    common.add_argument(
        "--max-frames", type=int, default=None, help="camera: stop after N frames (default: no limit)"
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
        type=float,
        default=10.0,
        help="give up on a lost camera after this long (default: 10)",
    )
    sub.add_parser("doctor", add_help=False, help="check this device: versions, models, cameras, heat")
    sub.add_parser("tune", add_help=False, help="time the shipped models here; record the fastest")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("doctor", "tune"):  # device tools with their own flags
        import importlib

        return importlib.import_module(f"edge_runtime.{argv[0]}").main(argv[1:])
    args = build_parser().parse_args(argv)
    options = RunOptions(
        args.model, args.threads, args.min_confidence, args.json, args.save, args.show, args.max_frames
    )
    from edge_runtime.classifier import ModelError

    try:
        reader = make_reader(options)
    except (ModelError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = lambda line: print(line, flush=True)  # noqa: E731 (a line per frame must appear at once)
    if args.command == "image":
        failed = read_images(args.paths, options, reader, emit=out)
        return 1 if failed else 0
    from edge_runtime.camera import CameraError, CameraOptions

    try:
        run_camera(
            CameraOptions(source=args.source, reconnect_seconds=args.reconnect_seconds),
            options,
            reader,
            emit=out,
        )
    except CameraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
