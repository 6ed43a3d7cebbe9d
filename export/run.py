"""The export job: trained Keras models in runs/ -> verified TFLite files in models/.

For each architecture: train it if runs/<arch>/model.keras is missing, convert its
variants in a child process (``export.convert``; a converter crash fails only the
variant it was converting), verify each file with the edge runtime's classifier,
and ship the ones that keep the Keras model's accuracy (``ship_problems``). Nothing
in the output folder changes until the end: new files wait in a hidden work folder
inside it, then move in under content-addressed names that no live file has, then one
atomic replace of manifest.json switches to the new set, then files that left it are
removed (``export.manifest.commit``): a kill -9 at any point leaves the old set or the
new set. Exports into one folder are serialised by a lock on the folder (flock: the
kernel drops it when its process dies, so a killed export never blocks the next one).

A variant whose cache key (model.keras hash, training config, converter versions,
variant and recipe settings) matches its manifest entry and whose file still has
the recorded hash is reused without converting: a second export is quick.

    python -m export            # see export/__main__.py for the flags
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import tempfile
import time
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from edge_runtime.contract import QUANT_TOLERANCE_PP
from edge_runtime.contract import relative_to_project as rel
from export.calibrate import calibrate_model
from export.common import ExportError, read_config, versions
from export.convert import Variant, default_variants, parse_variant, run_children
from export.manifest import (
    INPUT_CONTRACT,
    build_manifest,
    commit,
    read_manifest,
    remove_unlisted,
    sha256_file,
    sha256_json,
    shipped_name,
)
from export.stepwise import NAME as STEPWISE_NAME
from export.stepwise import export_stepwise
from export.verify import FUSED_LSTM_OP, VerifyOptions, compare_latencies, verify_model
from training.architectures import ARCHITECTURES

EXPORT_VERSION = 2  # bump when conversion or verification changes, so cached files are redone
RECIPE = "TFLiteConverter.from_concrete_functions(tf.function(model), TensorSpec([1, 28, 28], float32))"
# bytes: lstm_fused_int8.tflite is the smallest file a device may need; warn past 32 KB
FUSED_INT8_BUDGET = 32 * 1024
WORK_PREFIX = ".export-"  # hidden work folder inside the output folder: .export-<pid>.tmp


@dataclass(frozen=True)
class ExportOptions:
    runs_dir: Path = Path("runs")
    """Trained runs, one folder per architecture with model.keras + config.json (default runs/)."""
    out_dir: Path = Path("models")
    """Where the .tflite files and manifest.json go (default models/)."""
    archs: tuple[str, ...] = ()
    """Architectures to export (default: every one with a run in runs_dir; lstm if there is none)."""
    variants: tuple[str, ...] = ()
    """Variant names (lstm_fused_int8) or graph_quant (fused_int8) for every arch; default: convert.default_variants."""
    keras: Path | None = None
    """Export this model file instead of runs_dir (development); arch = archs[0] or lstm."""
    mnist: str | None = None
    """mnist.npz (default: $MNIST_PATH, else the Keras cache)."""
    train: bool = True
    """Train an architecture whose run is missing (default yes; no: it is an error)."""
    force: bool = False
    """Convert and verify again even when the manifest entry is up to date (never retrains)."""
    calibration_samples: int = 6000
    """Training images used to calibrate the integer variants (default 6000, fixed seed; 2000 vs 500 gave the unrolled int8 LSTM +0.09 pp, and 6000 vs 2000 took the peephole int8 from 0.21 pp to 0.17 pp under Keras)."""
    seed: int = 0
    """Picks the calibration images (default 0)."""
    test_images: int | None = None
    """Verify on the first N test images (default: all 10,000; fewer only for quick tests)."""
    float_tolerance_pp: float = 0.05
    """Largest test-accuracy loss vs Keras for a float32 file, in percentage points (default 0.05)."""
    quant_tolerance_pp: float = QUANT_TOLERANCE_PP
    """Largest loss for a quantized file (float16, dynamic, int8), in pp (default 0.2)."""
    num_threads: int = 1
    """Interpreter threads during verification and the latency measurement (default 1)."""


@dataclass
class VariantResult:
    name: str
    status: str
    """"shipped" (new file), "cached" (reused), or "failed"."""
    reason: str = ""
    """Why it failed; empty otherwise."""
    entry: dict | None = None
    """Its manifest entry (shipped or cached)."""
    seconds: float = 0.0
    """Conversion + verification wall time."""


@dataclass
class ExportResult:
    out_dir: Path
    manifest: Path | None
    """The manifest written or kept; None if there is none."""
    default: str | None
    variants: list[VariantResult] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    """Files of models that left the manifest, deleted after it was written."""
    seconds: float = 0.0

    @property
    def failed(self) -> list[VariantResult]:
        return [v for v in self.variants if v.status == "failed"]


@dataclass
class Source:
    """One architecture's trained model, as found on disk."""

    arch: str
    keras_path: Path
    config: dict
    variants: list[Variant]
    keras_sha256: str = ""


# ---------------------------------------------------------------- small helpers


def check_writable(out_dir: Path) -> None:
    """Create ``out_dir`` if needed and prove a file can be written and renamed there."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # a name of its own (mkstemp): two exports starting at once, even in one process, each
        # probe their own file before one of them waits for the other's lock
        fd, name = tempfile.mkstemp(prefix=".write-probe-", suffix=".tmp", dir=out_dir)
        os.write(fd, b"ok")
        os.close(fd)
        probe = Path(name)
        os.replace(probe, probe)
        probe.unlink()
    except OSError as exc:
        raise ExportError(
            f"output folder not writable: {out_dir} ({exc.strerror or exc}); "
            "fix its permissions or pass --out DIR"
        ) from exc


def remove_stale_work_dirs(out_dir: Path) -> None:
    """Delete work folders left by exports that were killed (their pid is gone)."""
    for d in out_dir.glob(f"{WORK_PREFIX}*.tmp"):
        m = re.fullmatch(rf"{re.escape(WORK_PREFIX)}(\d+)\.tmp", d.name)
        if not m or not d.is_dir():
            continue
        pid = int(m.group(1))
        try:
            os.kill(pid, 0)
            alive = pid != os.getpid()
        except OSError:
            alive = False
        if not alive:
            shutil.rmtree(d, ignore_errors=True)


def check_keras_file(path: Path) -> None:
    """A .keras file is a zip holding config.json and weights; catch truncation early."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            bad = z.testzip()
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExportError(
            f"corrupt Keras model file: {path} ({exc}); retrain it with "
            f"`python -m training --arch ... --out {path.parent}` or restore it"
        ) from exc
    if bad is not None or "config.json" not in names:
        raise ExportError(
            f"corrupt Keras model file: {path} (damaged member {bad or 'config.json missing'}); "
            "retrain it or restore it"
        )


def data_sha256(config: dict) -> str | None:
    for key in ("data_sha256", "mnist_sha256"):
        if isinstance(config.get(key), str):
            return config[key]
    data = config.get("data")
    if isinstance(data, dict) and isinstance(data.get("sha256"), str):
        return data["sha256"]
    return None


@contextmanager
def export_lock(out_dir: Path, log: Callable[[str], None] = lambda s: None):
    """Hold an exclusive lock on ``out_dir`` for the whole export; wait (saying so) while
    another export holds it. flock on the folder itself: no lock file to go stale, and the
    kernel releases it when the holder exits or is killed."""
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another export into {out_dir} to finish ...")
            fcntl.flock(fd, fcntl.LOCK_EX)  # Ctrl-C still interrupts the wait
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def deferred_interrupts():
    """Hold Ctrl-C/SIGTERM while the output folder is being switched to the new state."""
    caught = []
    handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            handlers[sig] = signal.signal(sig, lambda s, f: caught.append(s))
        except ValueError:  # not the main thread: cannot install handlers
            pass
    try:
        yield
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)
        if caught:
            raise KeyboardInterrupt


# ---------------------------------------------------------------- finding the models


def resolve_variants(options: ExportOptions, arch: str) -> list[Variant]:
    if not options.variants:
        return default_variants(arch)
    chosen = []
    for text in options.variants:
        head = text.split("_")[0]
        if head in ARCHITECTURES:
            if head == arch:
                chosen.append(parse_variant(text))
        else:
            chosen.append(parse_variant(text, arch))
    return chosen


def complete_run(run_dir: Path) -> bool:
    """Training writes model.keras first and metrics.json last: both present = finished run."""
    return (run_dir / "model.keras").is_file() and (run_dir / "metrics.json").is_file()


def find_sources(options: ExportOptions) -> tuple[list[Source], list[str]]:
    """(sources with a trained model, archs that need training). Raises ExportError."""
    for a in options.archs:
        if a not in ARCHITECTURES:
            raise ExportError(
                f"unknown architecture {a!r} in --archs; choose from {', '.join(ARCHITECTURES)}"
            )
    for text in options.variants:  # fail on a typo before any work
        head = text.split("_")[0]
        try:
            parse_variant(text) if head in ARCHITECTURES else parse_variant(text, "lstm")
        except ValueError as exc:
            raise ExportError(str(exc)) from exc
    if options.keras is not None:
        path = Path(options.keras)
        if not path.is_file():
            raise ExportError(f"Keras model not found: {path}; pass the model.keras of a training run")
        arch = options.archs[0] if options.archs else "lstm"
        check_keras_file(path)
        return [Source(arch, path, read_config(path.parent), resolve_variants(options, arch))], []
    runs = Path(options.runs_dir)
    archs = list(options.archs)
    if not archs:
        archs = [a for a in ARCHITECTURES if complete_run(runs / a)] or ["lstm"]
    sources, to_train = [], []
    for arch in archs:
        path = runs / arch / "model.keras"
        variants = resolve_variants(options, arch)
        if not variants:
            continue
        if complete_run(runs / arch):
            check_keras_file(path)
            sources.append(Source(arch, path, read_config(path.parent), variants))
        elif options.train:
            to_train.append(arch)
        else:
            what = "is incomplete (no metrics.json: training unfinished?)" if path.is_file() else "is missing"
            raise ExportError(
                f"no trained model for {arch}: {path} {what}; run `make train` "
                f"(python -m training --arch {arch} --out {runs / arch}) or drop --no-train"
            )
    return sources, to_train


def train_missing(options: ExportOptions, archs: list[str], log: Callable[[str], None]) -> list[Source]:
    try:
        from training.data import MnistError
        from training.train import TrainOptions, train  # imports TensorFlow: only when training
    except ImportError as exc:
        raise ExportError(
            f"cannot train {', '.join(archs)}: training.train is unavailable ({exc}); "
            "install the train extra (pip install -e '.[train]') or put a trained run in --runs"
        ) from exc

    sources = []
    for arch in archs:
        run_dir = Path(options.runs_dir) / arch
        log(f"training {arch} into {run_dir} (no trained model found) ...")
        t = time.perf_counter()
        try:
            train(TrainOptions.shipped(arch, out_dir=str(run_dir), mnist=options.mnist), log=log)
        except MnistError as exc:  # a corrupt MNIST file: one line, exit 2
            raise ExportError(str(exc)) from None
        log(f"trained {arch} in {time.perf_counter() - t:.0f} s")
        path = run_dir / "model.keras"
        if not path.is_file():
            raise ExportError(f"training {arch} did not produce {path}")
        sources.append(Source(arch, path, read_config(run_dir), resolve_variants(options, arch)))
    return sources


def cache_key(source: Source, variant: Variant, options: ExportOptions) -> str:
    return sha256_json(
        {
            "keras_sha256": source.keras_sha256,
            "config": source.config,
            "versions": versions(),
            "variant": variant.name,
            "recipe": RECIPE,
            "export_version": EXPORT_VERSION,
            "calibration_samples": options.calibration_samples,
            "seed": options.seed,
            "test_images": options.test_images,
        }
    )


# ---------------------------------------------------------------- the job


def ship_problems(variant: Variant, ver, keras_accuracy: float, tolerance_pp: float) -> list[str]:
    """Why a converted and verified file must not ship; [] to ship it. The rule: accuracy within
    ``tolerance_pp`` of the Keras model's, repeatable logits (state reset), the fused LSTM op in
    a fused graph, and int8 input and output for a full-integer model."""
    problems = []
    loss_pp = (keras_accuracy - ver.test_accuracy) * 100
    if loss_pp > tolerance_pp + 1e-9:
        problems.append(
            f"accuracy {ver.test_accuracy:.2%} is {loss_pp:.2f} pp below Keras "
            f"{keras_accuracy:.2%} (tolerance {tolerance_pp} pp)"
        )
    if not ver.repeatable:
        problems.append("not repeatable: the same image gave different logits (state not reset?)")
    if variant.graph == "fused" and FUSED_LSTM_OP not in ver.ops:
        problems.append(f"no {FUSED_LSTM_OP} op in the fused graph (ops: {', '.join(ver.ops)})")
    if variant.quant == "int8" and (ver.input["dtype"] != "int8" or ver.output["dtype"] != "int8"):
        problems.append(f"int8 model has {ver.input['dtype']} input / {ver.output['dtype']} output")
    return problems


def run_export(options: ExportOptions, log: Callable[[str], None] = lambda s: None) -> ExportResult:
    """Train what is missing, convert, verify, and update ``options.out_dir``. Raises ExportError
    for bad input; a failing variant is reported in the result instead."""
    t_start = time.perf_counter()
    out_dir = Path(options.out_dir)
    check_writable(out_dir)
    with export_lock(out_dir, log):
        result = _export_locked(options, out_dir, log)
    result.seconds = time.perf_counter() - t_start
    return result


def _export_locked(options: ExportOptions, out_dir: Path, log: Callable[[str], None]) -> ExportResult:
    remove_stale_work_dirs(out_dir)
    previous = read_manifest(out_dir)  # read under the lock: a finished export's set is kept
    if previous is not None:
        remove_unlisted(out_dir, previous)  # orphans of a killed export
    prev_entries = {e["name"]: e for e in (previous or {}).get("models", [])}
    sources, to_train = find_sources(options)
    result = ExportResult(
        out_dir=out_dir,
        manifest=(out_dir / "manifest.json") if previous else None,
        default=(previous or {}).get("default"),
    )
    mnist = MnistSource(options.mnist)  # checked before the expensive part
    if to_train:
        mnist.path()
        sources += train_missing(options, to_train, log)
        result.trained = list(to_train)
    plan, kept = _plan(sources, prev_entries, options, out_dir, result, log)
    work = out_dir / f"{WORK_PREFIX}{os.getpid()}.tmp"
    try:
        new_entries: dict[str, dict] = {}
        if plan:
            data = _load_test(mnist, options)
            work.mkdir(exist_ok=True)
            for src, todo in plan:
                _export_source(src, todo, work, data, options, result, new_entries, log)
        stepwise, why = export_stepwise(out_dir, work, sources, options, log)  # serve's per-row LSTM
        new_entries.update(stepwise)
        if why:  # counted like a failed variant: the exit status says so
            result.variants.append(VariantResult(STEPWISE_NAME, "failed", reason=why))
        final = {**_carried(prev_entries, sources, kept, out_dir), **kept, **new_entries}
        # Unchanged: no new files, and the manifest would read exactly as the one in force (the
        # same entries, so the same files; a new tolerance or a key added since is written again).
        unchanged = (
            not new_entries and build_manifest(list(final.values()), options.quant_tolerance_pp) == previous
        )
        if final and not unchanged:  # else nothing changed, or everything failed: keep the folder
            _switch(out_dir, work, final, new_entries, previous, options, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


class MnistSource:
    """The MNIST path, resolved once when first needed; ExportError if it is missing."""

    def __init__(self, given: str | None):
        self.given, self._path = given, None

    def path(self) -> str:
        from training.data import MnistError, resolve_path

        if self._path is None:
            try:
                self._path = str(resolve_path(self.given, download=False))
            except MnistError as exc:
                raise ExportError(str(exc)) from None
        return self._path


def _plan(sources, prev_entries, options, out_dir, result, log):
    """([(source, variants to convert)], {name: cached entry}): a variant is cached when its
    cache key matches its entry and the entry's file still has the recorded size and hash."""
    plan: list[tuple[Source, list[Variant]]] = []
    kept: dict[str, dict] = {}
    for src in sources:
        src.keras_sha256 = sha256_file(src.keras_path)
        todo = []
        for v in src.variants:
            old = prev_entries.get(v.name)
            f = out_dir / old["file"] if old else None
            if (
                not options.force
                and old
                and old.get("cache_key") == cache_key(src, v, options)
                and f.is_file()
                and f.stat().st_size == old["size_bytes"]
                and sha256_file(f) == old["sha256"]
            ):
                _keep_cached(v, old, options, kept, result, log)
            else:
                todo.append(v)
        if todo:
            plan.append((src, todo))
    return plan, kept


def _keep_cached(v: Variant, old: dict, options, kept: dict, result, log) -> None:
    """A cached file ships only if its recorded verification still passes ``ship_problems`` under
    this run's tolerance (the tolerance is not in the cache key: the conversion does not depend on
    it, so a stricter rule re-judges the recorded figures instead of converting again). One that
    fails now is dropped like a freshly converted file that fails."""
    tol = options.quant_tolerance_pp if v.quantized else options.float_tolerance_pp
    problems = ship_problems(v, SimpleNamespace(**old), old["keras_test_accuracy"], tol)
    if problems:
        why = "; ".join(problems)
        result.variants.append(VariantResult(v.name, "failed", reason=why))
        log(failed_line(v.name, why))
        return
    entry = {**old, "tolerance_pp": tol}
    kept[v.name] = entry
    result.variants.append(VariantResult(v.name, "cached", entry=entry))
    log(variant_line(entry, "cached", 0.0))


def _carried(prev_entries, sources, kept, out_dir) -> dict[str, dict]:
    """Entries of models this run did not touch stay, if their files still match."""
    touched_archs = {s.arch for s in sources}
    requested = {v.name for s in sources for v in s.variants}
    carried = {}
    for name, e in prev_entries.items():
        if name in requested or name in kept:
            continue
        same_model = e.get("arch") not in touched_archs or any(
            s.arch == e.get("arch") and (e.get("keras") or {}).get("sha256") == s.keras_sha256
            for s in sources
        )
        f = out_dir / e["file"]
        if same_model and f.is_file() and sha256_file(f) == e["sha256"]:
            carried[name] = e
    return carried


def _switch(out_dir, work, final, new_entries, previous, options, result) -> None:
    """Give the new files their content-addressed names, then commit the new set."""
    staged = {}
    for e in new_entries.values():
        work_file = work / e["file"]
        e["file"] = shipped_name(e["name"], e["sha256"])
        staged[e["file"]] = work_file
    manifest = build_manifest(list(final.values()), options.quant_tolerance_pp)
    with deferred_interrupts():
        result.removed = commit(out_dir, staged, manifest, previous)
    result.manifest = out_dir / "manifest.json"
    result.default = manifest["default"]


def _load_test(mnist: MnistSource, options: ExportOptions):
    from training.data import MnistError, load_mnist

    try:
        d = load_mnist(mnist.path(), download=False)
    except MnistError as exc:  # e.g. a corrupt file: one line, exit 2
        raise ExportError(str(exc)) from None
    n = options.test_images or len(d.x_test)
    return {"x": d.x_test[:n].astype(np.float32) / 255.0, "y": d.y_test[:n], "sha256": d.sha256}


def make_entry(src: Source, v: Variant, ver, path: Path, ref: dict, data: dict, options, tol: float) -> dict:
    """The manifest entry of a verified file (its "file" is the work name until the switch)."""
    return {
        "name": v.name,
        "file": v.file,
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "arch": v.arch,
        "graph": v.graph,
        "quantization": v.quantization,
        "input": ver.input,
        "output": ver.output,
        "input_contract": INPUT_CONTRACT,
        "ops": ver.ops,
        "test_accuracy": ver.test_accuracy,
        "keras_test_accuracy": ref["accuracy"],
        "agreement": ver.agreement,
        "max_logit_diff": round(ver.max_logit_diff, 6),
        "latency_us_p50": ver.latency_us_p50,
        "tolerance_pp": tol,
        "test_images": ver.images,
        "repeatable": ver.repeatable,
        "training": src.config,
        "data_sha256": data_sha256(src.config) or data["sha256"],
        "keras": {"file": rel(src.keras_path), "sha256": src.keras_sha256},
        "converter": {
            **versions(),
            "recipe": RECIPE,
            "calibration": {"split": "train", "images": options.calibration_samples, "seed": options.seed}
            if v.quant == "int8"
            else None,
        },
        "cache_key": cache_key(src, v, options),
    }


def _export_source(
    src: Source,
    todo: list[Variant],
    work: Path,
    data: dict,
    options: ExportOptions,
    result: ExportResult,
    new_entries: dict,
    log: Callable[[str], None],
) -> None:
    """Convert and verify one architecture's pending variants; record each outcome."""
    trained_on = data_sha256(src.config)
    if trained_on and trained_on != data["sha256"]:
        log(f"warning: {src.arch} was trained on data {trained_on[:12]}, verifying on {data['sha256'][:12]}")
    ref: dict = {}
    started = {"t": time.perf_counter()}

    def on_keras(msg):
        logits = np.load(msg["file"])[: len(data["y"])]
        ref["logits"] = logits
        ref["accuracy"] = float(np.mean(logits.argmax(axis=1) == data["y"]))
        log(
            f"{src.arch}: Keras model {rel(src.keras_path)} test accuracy {ref['accuracy']:.2%} "
            f"on {len(data['y'])} images; converting {len(todo)} variants"
        )

    def record(v, status, entry=None, why=""):
        secs = time.perf_counter() - started["t"]
        result.variants.append(VariantResult(v.name, status, reason=why, entry=entry, seconds=secs))
        log(variant_line(entry, "ok", secs) if entry else failed_line(v.name, why))
        started["t"] = time.perf_counter()

    def on_done(v, msg):
        entry, why = _verify_and_describe(src, v, Path(msg["file"]), ref, data, options)
        if entry is None:
            return record(v, "failed", why=why)
        _warn_size(entry, v, log)
        new_entries[v.name] = entry
        record(v, "shipped", entry=entry)

    run_children(
        src.keras_path,
        src.arch,
        todo,
        work,
        mnist=options.mnist,
        calibration_samples=options.calibration_samples,
        seed=options.seed,
        on_keras=on_keras,
        on_done=on_done,
        on_fail=lambda v, why: record(v, "failed", why=why),
    )
    _measure_latency(
        [e for name, e in new_entries.items() if name in {v.name for v in todo}],
        work,
        data,
        options,
        src,
        log,
    )


def _verify_and_describe(src: Source, v: Variant, path: Path, ref: dict, data: dict, options) -> tuple:
    """(manifest entry, "") for a converted file that passes ``ship_problems``, else (None, why)."""
    try:
        ver = verify_model(
            path,
            data["x"],
            data["y"],
            ref["logits"],  # latency: later, in quiet
            VerifyOptions(num_threads=options.num_threads, latency_runs=0),
        )
    except Exception as exc:  # a file the runtime cannot load is that variant's failure
        return None, f"verification failed: {exc}"
    tol = options.quant_tolerance_pp if v.quantized else options.float_tolerance_pp
    problems = ship_problems(v, ver, ref["accuracy"], tol)
    if problems:
        return None, "; ".join(problems)
    entry = make_entry(src, v, ver, path, ref, data, options, tol)
    entry.update(calibrate_model(path, src.config, options.mnist))  # "temperature", "calibration"
    return entry, ""


def _warn_size(entry: dict, v: Variant, log) -> None:
    if (
        v.arch == "lstm"
        and v.graph == "fused"
        and v.quant == "int8"
        and entry["size_bytes"] > FUSED_INT8_BUDGET
    ):
        log(
            f"warning: {v.file} is {entry['size_bytes']} bytes, over the {FUSED_INT8_BUDGET}-byte budget "
            "for the full-integer fused LSTM (fewer units?)"
        )


def _measure_latency(mine: list[dict], work: Path, data: dict, options, src: Source, log) -> None:
    """Latency once the converter is gone, all new files in turn, so the default rule compares
    numbers taken under the same load."""
    if not mine:
        return
    lat = compare_latencies(
        [work / e["file"] for e in mine], data["x"][0], VerifyOptions(num_threads=options.num_threads)
    )
    for e in mine:
        e["latency_us_p50"] = lat[str(work / e["file"])]
    log(
        f"{src.arch}: latency, 1 thread, us/digit (median of the fastest round): "
        + ", ".join(f"{e['name']} {e['latency_us_p50']:.1f}" for e in mine)
    )


def failed_line(name: str, why: str) -> str:
    """The log line of a variant that does not ship, in ``variant_line``'s columns."""
    return f"{name:<26} FAILED  {why}"


def variant_line(e: dict, status: str, seconds: float) -> str:
    """One Ultralytics-style log line: name, status, size, accuracy, agreement, logit diff, (latency,) time."""
    lat = f"{e['latency_us_p50']:7.1f} us/digit  " if e.get("latency_us_p50") is not None else ""
    return (
        f"{e['name']:<26} {status:<7} {e['size_bytes'] / 1024:7.1f} KB  acc {e['test_accuracy']:.2%}  "
        f"agree {e['agreement']:.2%}  max|dlogit| {e['max_logit_diff']:.3f}  {lat}{seconds:5.1f} s"
    )
