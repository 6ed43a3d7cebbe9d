"""Per-stage CPU profile of the edge pipeline (find, normalize, classify) on three frame sets,
for this code and, side by side from the same run, for an older commit of it.

Sets (decode excluded: frames are decoded once, before timing); the first three are issue 11's,
at 640x480:
- ``rendered``: the benchmark's camera-like frames (``edge_runtime.scenes.render_sheet``, 10 MNIST
  test digits in two rows, JPEG-encoded and decoded back, as ``pipeline_bench`` makes them);
- ``plain``: flat grey paper with sensor noise and 10 MNIST test digits in two rows, nothing else;
- ``photos``: the labelled dev photos in ``$DIGITS_PHOTOS_DIR`` fitted into 640x480 (when set);
- ``negatives``: the same photos' negatives (light writing on a dark ground; the polarity votes
  are least sure of these, and an unsure polarity can cost two searches);
- ``large``: rendered frames as above at ``LARGE_SIZES``, the sizes of HD webcams, the Pi
  camera's full frame and phone photos.

Timing: one thread (OpenCV and LiteRT), CPU time of the calling thread (``time.thread_time``,
so other processes on a shared machine do not count), every frame read ``reps`` times after a
warm-up, the frame's figure the median of its reads in the fastest of several rounds (separate
processes; see ``summarise``), and apart its median over the rounds, what one process typically
gets; the tables give p50, p95 and max over frames. The warm-up reads
every frame of the set once: the figures are what a frame costs a running reader, without what
a process pays once (a library's first-call set-up; the classifier's interpreter for each batch
size, ~5 ms each, made on first use until 2026-12-07 and since then by the reader before its
first frame). Until 2026-11-28 only a set's first frame was read first, and the first frame to
need a new batch size paid for it in one of its timed reads; the start-up benchmark times
single-image runs, first calls included.
The stages are the reader's own ``timings_ms`` split, taken with the thread's CPU clock
(``edge_runtime.pipeline`` times its stages with ``time.perf_counter``; the worker points that
module's ``time`` at a CPU clock), so old and new code are timed the same way.

The previous code runs from a ``git worktree`` of ``--baseline REF`` in a temporary folder, in a
child process whose ``PYTHONPATH`` points there, on the same frame files and the same model.
This module imports only numpy, OpenCV and ``edge_runtime`` (in the worker), so it stands alone.

    python -m benchmarks.finder_profile --baseline main --out /tmp/finder_profile.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

READER_STAGES = ("find", "normalize", "classify", "total")
"""The reader's own stages (``Reading.timings_ms``)."""
WARM_UP = "every frame read once before"
"""What ``profile_folder`` does before its timed reads; the README's row says so only for a
report that records it."""
STAGES = (*READER_STAGES, "classify_warm")
"""... and ``classify_warm``: the same digits classified again at once, the model's graph still
in the CPU's caches (not part of ``total``)."""
STAGE_NAMES = {"classify_warm": "classify again, warm"}
SETS = ("rendered", "plain", "photos", "negatives", "large")
BAR_SETS = SETS[:3]
"""The sets issue 11's bars are set on (640x480 frames)."""
FINDER_BARS_MS = (3.0, 6.0, 10.0)
"""Issue 11's bars for find + normalise + classify on each of ``BAR_SETS``: median, p95, worst frame."""
FRAME = (480, 640)  # (height, width) px
LARGE_SIZES = ((720, 1280), (1080, 1920), (1944, 2592), (3024, 4032))
"""(height, width) of the ``large`` set's frames: 720p and 1080p webcams, the Raspberry Pi camera
v1's full 5 MP frame, a 12 MP phone photo (two frames each)."""


@dataclass(frozen=True)
class ProfileOptions:
    frames: int = 20
    """Frames in each synthetic set (rendered, plain)."""
    reps: int = 2
    """Timed reads of every frame per round (after one warm-up read of every frame of the set)."""
    seed: int = 0
    """Seed for choosing MNIST digits and rendering frames."""
    photos_dir: Path | None = None
    """Labelled photos (labels.json beside them); None skips the photos set."""
    model: Path | None = None
    """TFLite model both codes read with; None: the shipped default (models/manifest.json)."""
    baseline: str | None = None
    """Git ref of the previous code to profile beside this one; None profiles this code only."""
    rounds: int = 6
    """Alternating rounds of this code and the baseline (each frame read ``reps`` times a round)."""


# ---- frames -------------------------------------------------------------------------------


def plain_frame(
    digits: np.ndarray,
    rng: np.random.Generator,
    side: int = 60,
    paper: float = 200.0,
    ink: float = 40.0,
    noise: float = 3.0,
) -> np.ndarray:
    """10 MNIST digits (n, 28, 28) in two rows on flat grey paper with sensor noise -> BGR uint8.
    ``side``: px per digit's 28x28 field (60: a 20 px MNIST digit becomes ~43 px tall; the
    rendered frames' are 40-70 px); ``paper`` and ``ink`` grey levels; ``noise`` its sd."""
    h, w = FRAME
    img = np.full((h, w), paper, np.float32)
    per_row = int(np.ceil(len(digits) / 2))
    for k, d in enumerate(digits):
        r, c = divmod(k, per_row)
        x = int(40 + c * (w - 80) / per_row + ((w - 80) / per_row - side) / 2)
        y = int(h / 2 - side - 20 + r * (side + 40))
        draw_digit(img, d, y, x, side, ink)
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    grey = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def draw_digit(img: np.ndarray, digit: np.ndarray, top: int, left: int, side: int, ink: float = 40.0) -> None:
    """Write one MNIST digit (28x28 uint8), its field scaled to ``side`` px, onto float32 paper
    ``img`` in place at (top, left): its strokes (x1.3, so that their core is solid) blend the
    paper towards the ``ink`` grey level."""
    a = np.clip(cv2_resize(digit, side) * 1.3, 0, 1)
    patch = img[top : top + side, left : left + side]
    patch[:] = patch * (1 - a) + ink * a


def cv2_resize(digit: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.resize(digit, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0


def fit_frame(image: np.ndarray) -> np.ndarray:
    """A photo scaled to fit 640x480 (portrait: 480x640), aspect ratio kept."""
    import cv2

    h, w = image.shape[:2]
    H, W = FRAME if w >= h else FRAME[::-1]
    s = min(W / w, H / h)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def write_sets(folder: Path, options: ProfileOptions) -> dict[str, list[dict]]:
    """Render the frame sets into ``folder`` as PNG (lossless, so both codes read the same pixels);
    -> {set: [{"file", "label"}]}, also written to ``folder/sets.json``."""
    import cv2

    mnist = os.environ.get("MNIST_PATH")
    if not mnist:
        raise FileNotFoundError("MNIST_PATH is not set (point it at mnist.npz)")
    with np.load(mnist) as data:
        x, y = data["x_test"], data["y_test"]
    sets: dict[str, list[dict]] = {s: [] for s in SETS}
    for i in range(options.frames):
        rng = np.random.default_rng([options.seed, i])
        pick = rng.choice(len(x), 10, replace=False)
        img, text = camera_frame(x[pick], y[pick], rng, FRAME)
        sets["rendered"].append(_save(folder, f"rendered_{i:03d}.png", img, text))
        plain = plain_frame(x[pick], rng)
        sets["plain"].append(_save(folder, f"plain_{i:03d}.png", plain, "".join(map(str, y[pick]))))
    for i, size in enumerate(s for s in LARGE_SIZES for _ in range(2)):
        rng = np.random.default_rng([options.seed, 1000 + i])
        pick = rng.choice(len(x), 10, replace=False)
        img, text = camera_frame(x[pick], y[pick], rng, size)
        sets["large"].append(_save(folder, f"large_{i:03d}.png", img, text))
    if options.photos_dir is not None:
        labels = json.loads((Path(options.photos_dir) / "labels.json").read_text())
        for name, entry in sorted(labels.items()):
            img = cv2.imread(str(Path(options.photos_dir) / name), cv2.IMREAD_COLOR)
            if img is not None:
                fitted = fit_frame(img)
                sets["photos"].append(_save(folder, f"photo_{name}.png", fitted, entry["digits"]))
                sets["negatives"].append(_save(folder, f"negative_{name}.png", 255 - fitted, entry["digits"]))
    (folder / "sets.json").write_text(json.dumps(sets))
    return sets


def camera_frame(digits: np.ndarray, labels, rng: np.random.Generator, size: tuple[int, int]):
    """A rendered scene of ``size`` (h, w) with the digits in two rows, JPEG-encoded at quality 85
    and decoded back, as a webcam's frames are -> (BGR uint8 image, text)."""
    import cv2

    from edge_runtime.scenes import render_sheet

    img, text = render_sheet(digits, labels, rng, size=size, rows=2, jpeg=False)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return cv2.imdecode(buf, 1), text


def _save(folder: Path, name: str, image: np.ndarray, label) -> dict:
    import cv2

    if not cv2.imwrite(str(folder / name), image):
        raise OSError(f"could not write {folder / name}")
    return {"file": name, "label": str(label)}


# ---- the worker: runs inside whichever code is on the path --------------------------------


def _percentiles(values: list[float]) -> dict:
    v = np.asarray(values, float)
    if v.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {"p50": float(np.median(v)), "p95": float(np.percentile(v, 95)), "max": float(v.max())}


def profile_folder(folder: Path, model: Path, reps: int) -> dict:
    """Profile the importable ``edge_runtime`` on the frames in ``folder`` (see ``write_sets``)."""
    import cv2

    import edge_runtime.pipeline as pipeline
    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.evaluate import edit_distance  # in the old code too (since the first release)

    cv2.setNumThreads(1)
    # The reader times its stages with time.perf_counter: give it the thread's CPU clock.
    pipeline.time = types.SimpleNamespace(perf_counter=time.thread_time)
    reader = pipeline.DigitReader(DigitClassifier(model, num_threads=1), min_confidence=0.0)
    cv2.setNumThreads(1)  # (older readers set it themselves; this keeps one thread either way)
    sets = json.loads((folder / "sets.json").read_text())
    out: dict = {"code": str(Path(pipeline.__file__).resolve().parent), "sets": {}}
    for name, items in sets.items():
        if not items:
            continue
        # Warm-up: what a process does once (module docstring, Timing). These first reads are
        # also the set's single pass, each frame read once right after it is decoded, as a run
        # over a folder or a camera reads it (``single_pass``): the decoder has just used the
        # CPU's caches (decoding each frame just before its read, not all of them first, put
        # the dev photos' p95 at 5.7 against 4.9 ms on 2026-12-07).
        images, first = [], []
        for it in items:
            images.append(cv2.imread(str(folder / it["file"]), cv2.IMREAD_COLOR))
            first.append(float(reader.read(images[-1]).timings_ms["total"]))
        reads: dict[str, list[list[float]]] = {s: [] for s in STAGES}  # per frame, per read
        correct = total = exact = 0
        for img, it in zip(images, items):
            runs = [reader.read(img) for _ in range(reps)]
            for s in READER_STAGES:
                reads[s].append([float(r.timings_ms[s]) for r in runs])
            reads["classify_warm"].append([_classify_again(reader, r) for r in runs])
            label, text = it["label"], runs[0].text
            correct += max(0, len(label) - edit_distance(text, label))
            total += len(label)
            exact += text == label
        out["sets"][name] = {
            "frames": len(items),
            "frame_files": [it["file"] for it in items],
            "frame_digits": [len(it["label"]) for it in items],  # what each frame holds
            "reads_ms": reads,
            "first_read_ms": first,
            "digits_correct": correct,
            "digits_total": total,
            "images_exact": exact,
        }
    return out


def _classify_again(reader, reading) -> float:
    """CPU ms of classifying ``reading``'s digits once more, right after the read: the model's
    cost when its graph and weights are still in the CPU's caches (in the read, the finder and
    the normaliser have just pushed them out)."""
    if len(reading.inputs) == 0:
        return 0.0
    t = time.thread_time()
    reader.classifier.probabilities(reading.inputs)
    return (time.thread_time() - t) * 1e3


# ---- the driver: this code, and the baseline in a worktree --------------------------------


def run_worker(code_root: Path, script: str | Path, args: list[str]) -> dict:
    """``python SCRIPT --worker ARGS`` with ``code_root``'s ``edge_runtime`` on the path (one
    thread) -> the JSON it prints. The worker side of this module and of readings_check."""
    env = dict(os.environ, PYTHONPATH=str(code_root), OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(script).resolve()), "--worker", *args]
    done = subprocess.run(cmd, env=env, cwd=code_root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).stem} worker in {code_root} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def _run_worker(code_root: Path, folder: Path, model: Path, reps: int, stream: Path | None = None) -> dict:
    args = [str(folder), str(model), str(reps)] + (["--stream", str(stream)] if stream is not None else [])
    return run_worker(code_root, __file__, args)


@contextmanager
def baseline_worktree(ref: str, tmp: str | Path) -> Iterator[tuple[Path, str]]:
    """(a git worktree of ``ref`` in ``tmp``, its commit), removed on the way out."""
    root = Path(__file__).resolve().parent.parent
    commit = _git(root, "rev-parse", ref)
    path = Path(tmp) / "baseline"
    _git(root, "worktree", "add", "--detach", str(path), commit)
    try:
        yield path, commit
    finally:
        _git(root, "worktree", "remove", "--force", str(path))


def _default_model() -> Path:
    from edge_runtime.manifest import default_model_path

    return Path(default_model_path()).resolve()


def run_profile(options: ProfileOptions) -> dict:
    """-> {"options", "model", "new": profile, "old": profile (with a baseline), "baseline":
    {"ref", "commit"}, "stream": camera-mode figures}. With a baseline, the two codes run in
    alternating rounds (new, old, old, new, ...) so that a busy machine's drift hits both alike;
    each frame's figure is its fastest round's (``summarise``)."""
    root = Path(__file__).resolve().parent.parent
    model = Path(options.model).resolve() if options.model else _default_model()
    result: dict = {"options": {k: str(v) for k, v in asdict(options).items()}, "model": str(model)}
    result["warm_up"] = WARM_UP  # (reports made before it was done have no such field)
    with tempfile.TemporaryDirectory(prefix="finder_profile_") as tmp:
        folder = Path(tmp) / "frames"
        folder.mkdir()
        sets = write_sets(folder, options)
        codes = {"new": root}
        with baseline_worktree(options.baseline, tmp) if options.baseline else nullcontext() as old:
            if old is not None:
                codes["old"], commit = old
                result["baseline"] = {"ref": options.baseline, "commit": commit}
            rounds: dict[str, list[dict]] = {k: [] for k in codes}
            for r in range(options.rounds):
                # Each code goes first in every other round: a worker's place in the round
                # (the machine's state after the other one) must not favour either code.
                for key, code in list(codes.items())[:: 1 if r % 2 == 0 else -1]:
                    rounds[key].append(_run_worker(code, folder, model, options.reps))
            for key, runs in rounds.items():
                result[key] = summarise(runs)
        video = write_video(folder / "stream.avi", folder, sets)
        result["stream"] = _run_worker(root, folder, model, options.reps, stream=video)
    return result


def measure_finder_profile(context) -> dict:
    """The report's section (benchmarks.sections): the shipped default model, the run's photos,
    fewer frames in a quick run, the earlier code beside this one when ``--baseline`` names it."""
    o = context.options
    options = ProfileOptions(
        frames=4 if o.quick else 20,
        reps=1 if o.quick else 2,
        rounds=1 if o.quick else 6,
        photos_dir=o.pipeline.photos_dir,
        baseline=o.baseline,
    )
    data = run_profile(options)
    root = Path(__file__).resolve().parent.parent
    data["model"] = os.path.relpath(data["model"], root)  # report.json keeps no machine's paths
    for key in ("new", "old", "stream"):
        if isinstance(data.get(key), dict) and "code" in data[key]:
            data[key]["code"] = "baseline" if key == "old" else "this code"
    data["options"] = {k: v for k, v in data["options"].items() if k not in ("photos_dir", "model")}
    return data


def summarise(runs: list[dict]) -> dict:
    """Worker results of several rounds -> per set: p50 / p95 / max over frames, per stage, of
    each frame's fastest round (the round whose median read of the frame took least in total;
    all stages from that round), and the first round's accuracy.

    Why the fastest round: each round is a new process, and on a shared VM a process's speed
    varied by up to 30% from one to the next, in two modes. Identical code run as both sides
    (six rounds each) came out up to 26% apart by the median over the rounds, and within 6% by
    the fastest round.

    What a process typically sees is kept too: ``typical_ms``, p50 / p95 / max over frames of
    each frame's median total over the rounds (``frame_typical_ms``). On the same VM on
    2026-12-07 single processes read the plain frames at 3.1 to 5.3 ms median, where the
    fastest rounds gave 2.9: the fastest round is the code's cost, the typical one what a
    user of such a machine gets."""
    out = {"code": runs[0]["code"], "sets": {}}
    for name, first in runs[0]["sets"].items():
        best, typical = [], []
        for i in range(first["frames"]):
            rounds = [
                {s: float(np.median(run["sets"][name]["reads_ms"][s][i])) for s in STAGES} for run in runs
            ]
            best.append(min(rounds, key=lambda r: r["total"]))
            typical.append(float(np.median([r["total"] for r in rounds])))
        stage_ms = {s: _percentiles([b[s] for b in best]) for s in STAGES}
        keep = {k: v for k, v in first.items() if k not in ("reads_ms", "first_read_ms")}
        out["sets"][name] = {
            **keep,
            "stage_ms": stage_ms,
            "frame_total_ms": [b["total"] for b in best],
            "typical_ms": _percentiles(typical),
            "frame_typical_ms": typical,
        }
        if all("first_read_ms" in run["sets"][name] for run in runs):
            out["sets"][name].update(single_pass(run["sets"][name]["first_read_ms"] for run in runs))
    return out


def single_pass(rounds) -> dict:
    """Each round's first reads of a set's frames (one read each, after the sets before it) ->
    {"single_pass_ms": p50 / p95 / max of each, the median over the rounds; "single_pass_rounds":
    each round's}. What one run over a folder of such images gets: no frame is read twice, so a
    frame's own first-read costs count, and each statistic rests on one read per frame."""
    per_round = [_percentiles(list(first)) for first in rounds]
    typical = {k: float(np.median([r[k] for r in per_round])) for k in ("p50", "p95", "max")}
    return {"single_pass_ms": typical, "single_pass_rounds": per_round}


def write_video(path: Path, folder: Path, sets: dict[str, list[dict]], frames: int = 30) -> Path:
    """A real video file (MJPG in AVI, written by OpenCV) standing in for a camera: each of the
    first rendered frame, the first plain frame (small digits: the closer look) and the first
    two photos held for ``frames`` frames, shaking by a few pixels and with fresh sensor noise
    on each frame."""
    import cv2

    sources = [sets["rendered"][0], sets["plain"][0]] + sets["photos"][:2]
    size = (FRAME[1], FRAME[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, size)
    rng = np.random.default_rng(0)
    for item in sources:
        still = cv2.imread(str(folder / item["file"]), cv2.IMREAD_COLOR)
        canvas = np.full((FRAME[0], FRAME[1], 3), 128, np.uint8)
        canvas[: still.shape[0], : still.shape[1]] = still[: FRAME[0], : FRAME[1]]
        for _ in range(frames):
            dx, dy = rng.uniform(-3, 3, 2)
            shifted = cv2.warpAffine(
                canvas, np.float32([[1, 0, dx], [0, 1, dy]]), size, borderMode=cv2.BORDER_REFLECT
            )
            noisy = np.clip(shifted + rng.normal(0, 2.0, shifted.shape), 0, 255).astype(np.uint8)
            writer.write(noisy)
    writer.release()
    return path


def profile_stream(video: Path, model: Path, reps: int, refresh: int = 15) -> dict:
    """CPU ms per frame of a video read frame by frame from scratch and in stream mode
    (``DigitReader(stream_refresh=refresh)``), and how many frames read differently."""
    import cv2

    import edge_runtime.pipeline as pipeline
    from edge_runtime.classifier import DigitClassifier

    cv2.setNumThreads(1)
    pipeline.time = types.SimpleNamespace(perf_counter=time.thread_time)
    classifier = DigitClassifier(model, num_threads=1)
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    out: dict = {"frames": len(frames), "refresh": refresh, "modes": {}}
    warm = pipeline.DigitReader(classifier, min_confidence=0.0)
    for f in frames:  # warm-up, as ``profile_folder``'s
        warm.read(f)
    texts = {}
    for mode, n in (("every frame", 0), (f"stream, refresh {refresh}", refresh)):
        totals = []
        for _ in range(reps):
            reader = pipeline.DigitReader(classifier, min_confidence=0.0, stream_refresh=n)
            reads = [reader.read(f) for f in frames]
            totals.append([r.timings_ms["total"] for r in reads])
        per_frame = list(np.median(np.array(totals), axis=0))
        out["modes"][mode] = _percentiles(per_frame)
        texts[mode] = [r.text for r in reads]
    a, b = texts.values()
    out["frames_read_differently"] = sum(x != y for x, y in zip(a, b))
    return out


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


# ---- the report -----------------------------------------------------------------------------


def render_finder_profile(data: dict) -> str:
    """Markdown: per set and stage, p50 / p95 / max CPU ms, previous code beside this code."""
    if not data or "new" not in data:
        return ""
    old = data.get("old")
    lines = [
        "## Finder profile (CPU ms per frame, one thread)",
        "",
        "Frames of 640x480, except `large`: rendered frames of "
        + ", ".join(f"{w}x{h}" for h, w in LARGE_SIZES)
        + ", two each. Each frame's median read in the fastest of the rounds (each round a new process: "
        "process speed varies here by up to 30%), every frame of a set read once before (what a "
        "process pays once, such as a library's first-call set-up or, in older code, the "
        "classifier's interpreter for a new batch size, stays out); "
        "p50 / p95 / max over the frames of a set. "
        "`classify again, warm`: the same digits classified once more right after the read, the "
        "model's graph still in the CPU's caches (not part of the total; in the read, finding and "
        "normalising have just pushed it out). "
        + (f"Previous: `{data['baseline']['ref']}` ({data['baseline']['commit'][:10]})." if old else ""),
        "",
        "| set | stage | " + ("previous p50 / p95 / max | " if old else "") + "p50 / p95 / max |",
        "| --- | --- | " + ("--- | " if old else "") + "--- |",
    ]

    def cell(entry: dict | None, stage: str) -> str:
        if not entry:
            return "-"
        return triple(entry["stage_ms"][stage])

    for name, entry in data["new"]["sets"].items():
        prev = old["sets"].get(name) if old else None
        for stage in STAGES:
            if stage not in entry["stage_ms"] or (prev and stage not in prev["stage_ms"]):
                continue  # (a report made before the stage was measured)
            row = f"| {name} ({entry['frames']}) | {STAGE_NAMES.get(stage, stage)} | "
            lines.append(row + (f"{cell(prev, stage)} | " if old else "") + f"{cell(entry, stage)} |")
    lines += typical_table(data)
    lines += single_pass_table(data)
    lines += slow_frames(data["new"])
    lines += ["", "| set | " + ("previous digits | " if old else "") + "digits read |", "| --- | --- |"]
    if old:
        lines[-1] += " --- |"

    def acc(entry: dict | None) -> str:
        if not entry:
            return "-"
        return (
            f"{entry['digits_correct']}/{entry['digits_total']} "
            f"({100 * entry['digits_correct'] / max(1, entry['digits_total']):.1f}%), "
            f"{entry['images_exact']}/{entry['frames']} images"
        )

    for name, entry in data["new"]["sets"].items():
        prev = old["sets"].get(name) if old else None
        lines.append(f"| {name} | " + (f"{acc(prev)} | " if old else "") + f"{acc(entry)} |")
    stream = data.get("stream")
    if stream:
        lines += [
            "",
            f"Camera mode on a {stream['frames']}-frame video (OpenCV MJPG file; a rendered frame, "
            "a plain one and two photos, each held and shaking; every frame read once before): total "
            "CPU ms per frame, p50 / p95 / max; "
            f"{stream['frames_read_differently']} frames read differently.",
            "",
            "| mode | total p50 / p95 / max |",
            "| --- | --- |",
        ]
        for mode, s in stream["modes"].items():
            lines.append(f"| {mode} | {triple(s)} |")
    return "\n".join(lines) + "\n"


def triple(s: dict) -> str:
    """p50 / p95 / max ms as the report's tables write them: "1.90 / 2.21 / 2.54"."""
    return f"{s['p50']:.2f} / {s['p95']:.2f} / {s['max']:.2f}"


def typical_table(data: dict) -> list[str]:
    """Markdown lines: per set, the total as a typical process saw it (``summarise``), previous
    code beside this code; none for a report made before it was kept."""
    rounds = data.get("options", {}).get("rounds", "the")
    intro = (
        f"The total as a typical process reads it: each frame's median over the {rounds} rounds instead "
        "of its fastest (the same reads; on this shared VM a process runs in a fast or a slow mode, "
        "so this is noisier and is what one run of the program gets)."
    )
    return _totals_table(data, "typical_ms", intro, "total p50 / p95 / max")


def single_pass_table(data: dict) -> list[str]:
    """Markdown lines: per set, one read of each frame (``single_pass``), previous code beside
    this code, and this code's p95 in its fastest and slowest round; none for a report made
    before it was kept."""
    intro = (
        "A single pass, as one run over a folder reads it: each frame read once, right after it is "
        "decoded (the warm-up read above: the sets are read in the order of the tables, so a set's "
        "frames follow the sets before it; a reader reads its own warm-up pages when it is made, "
        "since 2026-12-07, and in older code the first rendered frame is the process's first read); "
        "p50 / p95 / max over the set in each round, the median of each over the rounds; and this "
        "code's p95 in its fastest and its slowest round."
    )

    def by_round(entry: dict) -> str:
        p95s = [r["p95"] for r in entry["single_pass_rounds"]]
        return f"{min(p95s):.2f} - {max(p95s):.2f}"

    return _totals_table(data, "single_pass_ms", intro, "p50 / p95 / max", ("p95 by round", by_round))


def _totals_table(data: dict, field: str, intro: str, header: str, extra=None) -> list[str]:
    """Markdown lines: ``intro``, then per set that has ``field`` (p50 / p95 / max ms) the
    previous code's (when the report has it) and this code's, and an ``extra`` (column name,
    entry -> text) column for this code; none when no set has it (an older report)."""
    old = data.get("old")
    sets = {k: v for k, v in data["new"]["sets"].items() if field in v}
    if not sets:
        return []
    title = (
        ("previous " + header + " | " if old else "") + header + " |" + (f" {extra[0]} |" if extra else "")
    )
    lines = [
        "",
        intro,
        "",
        "| set | " + title,
        "| --- | " + ("--- | " if old else "") + "--- |" + (" --- |" if extra else ""),
    ]

    def cell(entry: dict | None) -> str:
        return triple(entry[field]) if entry and field in entry else "-"

    for name, entry in sets.items():
        prev = old["sets"].get(name) if old else None
        row = f"| {name} ({entry['frames']}) | " + (f"{cell(prev)} | " if old else "") + f"{cell(entry)} |"
        lines.append(row + (f" {extra[1](entry)} |" if extra else ""))
    return lines


def slow_frames(summary: dict, bar_ms: float = FINDER_BARS_MS[1], most: int = 6) -> list[str]:
    """Markdown lines: per bar set, the frames of this code above ``bar_ms`` in total, slowest
    first, each with how many digits it holds (the bars are set for a frame of 10 digits; the
    photos hold 1 to 34), so that what sets a set's p95 and max is in the report."""
    parts = []
    for name in BAR_SETS:
        entry = summary["sets"].get(name)
        if not entry or not {"frame_total_ms", "frame_files", "frame_digits"} <= entry.keys():
            continue  # (a report made before the frames were kept)
        totals, files, digits = entry["frame_total_ms"], entry["frame_files"], entry["frame_digits"]
        slow = sorted((t, f, d) for t, f, d in zip(totals, files, digits) if t > bar_ms)[::-1]
        if not slow:
            parts.append(f"{name}: none")
            continue
        listed = ", ".join(f"{Path(f).stem} ({d} digits) {t:.1f}" for t, f, d in slow[:most])
        more = f", and {len(slow) - most} more" if len(slow) > most else ""
        parts.append(f"{name}: {len(slow)} of {len(totals)}: {listed}{more}")
    if not parts:
        return []
    return [
        "",
        f"Frames above {bar_ms:g} ms in total (this code; ms, slowest first): " + "; ".join(parts) + ".",
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        folder, model, reps = argv[1:4]
        if argv[4:5] == ["--stream"]:
            print(json.dumps(profile_stream(Path(argv[5]), Path(model), int(reps))))
        else:
            print(json.dumps(profile_folder(Path(folder), Path(model), int(reps))))
        return 0
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.finder_profile", description=__doc__.splitlines()[0]
    )
    p.add_argument("--baseline", help="git ref of the previous code to profile beside this one")
    p.add_argument("--frames", type=int, default=20, help="frames per synthetic set (default: 20)")
    d = ProfileOptions()
    p.add_argument(
        "--reps", type=int, default=d.reps, help=f"timed reads per frame and round (default: {d.reps})"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=d.rounds,
        help=f"alternating rounds of new and old; each frame's figure is its fastest round's (default: {d.rounds})",
    )
    p.add_argument("--model", type=Path, help="TFLite model (default: the shipped default)")
    p.add_argument("--out", type=Path, help="write the JSON here (default: print the markdown only)")
    a = p.parse_args(argv)
    photos = os.environ.get("DIGITS_PHOTOS_DIR")
    options = ProfileOptions(
        frames=a.frames,
        reps=a.reps,
        rounds=a.rounds,
        photos_dir=Path(photos) if photos else None,
        model=a.model,
        baseline=a.baseline,
    )
    data = run_profile(options)
    if a.out:
        a.out.write_text(json.dumps(data, indent=1))
    print(render_finder_profile(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
