"""Instructions per frame read, counted by valgrind's callgrind: the finder profile's frames read
by this code and by an earlier commit, with the machine's speed left out of the figures.

Why: on the shared VM the finder profile runs on, the same code reads the same frames up to 30%
faster or slower from one process to the next, and from one day to the next by more
(``benchmarks.finder_profile``). The number of instructions a read executes does not move with
the machine: a repeated run gives the same count for every frame, bit for bit; a run over other
frames before it (another ``--frames``) moves a frame's count by less than 0.1% (measured: at
most 0.07% over 70 frames; the heap's state differs). It is not a time (a cache miss costs
hundreds of cycles and counts as one instruction, a page fault and the kernel's work count as
nothing), but the ratio of two codes' counts on the same frames is a measure of how much work
each does that no other process can disturb.

How: a worker reads every frame of the profile's sets once (the warm-up, as the profile's
own), then each again between two calls of ``MARKER``, a C library function nothing in a read
calls; callgrind (``--dump-before=MARKER``) writes the instructions executed since its last dump
at every call, so each dump after the first holds one read. The reader, OpenCV, LiteRT and
OpenBLAS run one thread each. Valgrind's virtual CPU offers AVX2 but not AVX-512, so
libraries that pick their kernels by the CPU run their AVX2 ones here.

    python -m benchmarks.instructions --baseline 2275ad9 --out /tmp/instructions.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

MARKER = "getpgrp"
"""The C library function whose calls (``os.getpgrp``) separate the counted reads. Nothing in a
read calls it; the worker checks that the dumps number its calls plus one."""
VALGRIND = "valgrind"


@dataclass(frozen=True)
class CountOptions:
    frames: int = 20
    """Frames in each synthetic set (rendered, plain), as the finder profile's."""
    seed: int = 0
    """Seed for choosing MNIST digits and rendering frames."""
    photos_dir: Path | None = None
    """Labelled photos (labels.json beside them); None skips the photos and negatives."""
    model: Path | None = None
    """TFLite model both codes read with; None: the shipped default (models/manifest.json)."""
    baseline: str | None = None
    """Git ref of the previous code to count beside this one; None counts this code only."""


# ---- the worker: runs under callgrind, inside whichever code is on the path -------------------


def read_marked(folder: Path, model: Path) -> dict:
    """Read every frame in ``folder`` (``finder_profile.write_sets``) once, then once more between
    two ``MARKER`` calls -> {"code", "order": [[set, file], ...] in the order they were read}."""
    import cv2

    import edge_runtime.pipeline as pipeline
    from edge_runtime.classifier import DigitClassifier

    cv2.setNumThreads(1)
    reader = pipeline.DigitReader(DigitClassifier(model, num_threads=1), min_confidence=0.0)
    cv2.setNumThreads(1)  # (older readers set it themselves; this keeps one thread either way)
    sets = json.loads((folder / "sets.json").read_text())
    frames = [
        (name, it["file"], cv2.imread(str(folder / it["file"]), cv2.IMREAD_COLOR))
        for name, items in sets.items()
        for it in items
    ]
    for _, _, image in frames:  # the warm-up, as finder_profile's
        reader.read(image)
    mark = getattr(os, MARKER)
    for _, _, image in frames:
        mark()
        reader.read(image)
    mark()
    return {
        "code": str(Path(pipeline.__file__).resolve().parent),
        "order": [[name, file] for name, file, _ in frames],
    }


# ---- the driver ---------------------------------------------------------------------------


def valgrind() -> str:
    """The valgrind executable, or a RuntimeError that says how to install it."""
    found = shutil.which(VALGRIND)
    if found is None:
        raise RuntimeError(
            "valgrind not found: install it (Debian: apt-get install valgrind, or make setup-valgrind)"
        )
    return found


def count_code(code_root: Path, folder: Path, model: Path, out_dir: Path) -> dict:
    """Instructions of each counted read by the ``edge_runtime`` in ``code_root`` -> {"code",
    "sets": {set: {"frame_files", "instructions": [one count per frame]}}}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        PYTHONPATH=str(code_root),
        PYTHONHASHSEED="0",  # the same dict and set layouts in every run
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",  # (numpy's idle BLAS threads would add their spinning)
    )
    cmd = [
        valgrind(),
        "--tool=callgrind",
        f"--dump-before={MARKER}",
        "--dump-instr=no",
        f"--callgrind-out-file={out_dir / 'cg.out'}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(folder),
        str(model),
    ]
    done = subprocess.run(cmd, env=env, cwd=code_root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"instruction count in {code_root} failed: {done.stderr.strip()[-2000:]}")
    worker = json.loads(done.stdout)
    counts = dump_totals(out_dir / "cg.out")
    order = worker["order"]
    # Dump 1 holds the start-up and warm-up; dumps 2 .. n+1 one read each (the last file, with
    # no number, what came after the last marker).
    if len(counts) != len(order) + 1:
        raise RuntimeError(
            f"callgrind wrote {len(counts)} numbered dumps for {len(order)} reads: something else "
            f"called {MARKER}() during a read; the counts cannot be told apart"
        )
    sets: dict[str, dict] = {}
    for (name, file), n in zip(order, counts[1:]):
        entry = sets.setdefault(name, {"frame_files": [], "instructions": []})
        entry["frame_files"].append(file)
        entry["instructions"].append(n)
    return {"code": worker["code"], "sets": sets}


def dump_totals(base: Path) -> list[int]:
    """The instruction totals of callgrind's numbered dumps ``base.1``, ``base.2``, ... in order."""
    numbered = sorted(
        (int(p.name.rsplit(".", 1)[1]), p)
        for p in base.parent.glob(base.name + ".*")
        if p.suffix[1:].isdigit()
    )
    totals = []
    for _, path in numbered:
        text = path.read_text(errors="replace")
        found = re.search(r"^totals:\s*(\d+)", text, re.MULTILINE) or re.search(
            r"^summary:\s*(\d+)", text, re.MULTILINE
        )
        if found is None:
            raise RuntimeError(f"no totals in callgrind's dump {path}")
        totals.append(int(found.group(1)))
    return totals


def run_counts(options: CountOptions) -> dict:
    """-> {"options", "model", "valgrind", "new": counts, "old": counts (with a baseline),
    "baseline": {"ref", "commit"}}; each counts as ``count_code`` gives them."""
    # (Imported here: the worker runs this file with the measured code's folder first on the
    # path, whose ``benchmarks`` may be older than this one and lack these.)
    from benchmarks.finder_profile import (
        ProfileOptions,
        _default_model,
        _percentiles,
        baseline_worktree,
        write_sets,
    )

    root = Path(__file__).resolve().parent.parent
    model = Path(options.model).resolve() if options.model else _default_model()
    version = subprocess.run([valgrind(), "--version"], capture_output=True, text=True).stdout.strip()
    result: dict = {
        "options": {k: str(getattr(options, k)) for k in ("frames", "seed", "baseline")},
        "model": str(model),
        "valgrind": version,
    }
    profile = ProfileOptions(frames=options.frames, seed=options.seed, photos_dir=options.photos_dir)
    with tempfile.TemporaryDirectory(prefix="instructions_") as tmp:
        folder = Path(tmp) / "frames"
        folder.mkdir()
        write_sets(folder, profile)
        result["new"] = count_code(root, folder, model, Path(tmp) / "new")
        with baseline_worktree(options.baseline, tmp) if options.baseline else nullcontext() as old:
            if old is not None:
                code, commit = old
                result["baseline"] = {"ref": options.baseline, "commit": commit}
                result["old"] = count_code(code, folder, model, Path(tmp) / "old")
    for key in ("new", "old"):
        for s in result.get(key, {}).get("sets", {}).values():
            s["millions"] = _percentiles([n / 1e6 for n in s["instructions"]])
    return result


def measure_instructions(context) -> dict:
    """The report's section (benchmarks.sections): the finder profile's frames and baseline."""
    o = context.options
    data = run_counts(
        CountOptions(frames=4 if o.quick else 20, photos_dir=o.pipeline.photos_dir, baseline=o.baseline)
    )
    root = Path(__file__).resolve().parent.parent
    data["model"] = os.path.relpath(data["model"], root)  # report.json keeps no machine's paths
    for key in ("new", "old"):
        if key in data:
            data[key]["code"] = "baseline" if key == "old" else "this code"
    return data


# ---- the report ---------------------------------------------------------------------------


def render_instructions(data: dict) -> str:
    """The report's Markdown for ``run_counts``' dict."""
    from benchmarks.finder_profile import SETS

    old = data.get("old")
    base = data.get("baseline")
    label = f"`{base['ref']}`" if base else ""
    lines = [
        "## Instructions per frame (callgrind)",
        "",
        "The finder profile's frames, each read once after a warm-up read, counted by "
        f"{data['valgrind']}'s callgrind: millions of instructions the process executed in one "
        "read (find + normalize + classify, one thread; user space: page faults, the kernel and "
        "cache misses add time but no instructions), p50 / p95 / max over the frames of a set. "
        "The same code on the same frames gives the same counts whatever the machine is doing "
        "(bit for bit when the run is repeated; within 0.1% when other frames are read before "
        "one), so these figures compare two codes where the milliseconds above move with the "
        "machine. "
        "(Valgrind's virtual CPU has AVX2 but not AVX-512: LiteRT's and OpenCV's AVX2 kernels.)",
        "",
    ]
    header = ["set", "frames", "this code"]
    if old:
        header += [label, "ratio of medians"]
    rows = []
    for name in SETS:
        new = data["new"]["sets"].get(name)
        if new is None:
            continue
        row = [name, str(len(new["instructions"])), _triple(new["millions"])]
        if old and name in old["sets"]:
            prev = old["sets"][name]["millions"]
            row += [_triple(prev), f"{prev['p50'] / new['millions']['p50']:.2f}x fewer"]
        rows.append(row)
    lines += ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _triple(p: dict) -> str:
    return f"{p['p50']:.1f} / {p['p95']:.1f} / {p['max']:.1f} M"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        folder, model = argv[1:3]
        print(json.dumps(read_marked(Path(folder), Path(model))))
        return 0
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--baseline", help="git ref of the previous code to count beside this one")
    p.add_argument("--frames", type=int, default=20, help="frames in each synthetic set (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed for the frames (default: 0)")
    p.add_argument("--model", type=Path, help="TFLite model (default: the shipped default)")
    p.add_argument("--out", type=Path, help="write the JSON here (default: print the Markdown only)")
    a = p.parse_args(argv)
    photos = os.environ.get("DIGITS_PHOTOS_DIR")
    options = CountOptions(
        frames=a.frames,
        seed=a.seed,
        photos_dir=Path(photos) if photos else None,
        model=a.model,
        baseline=a.baseline,
    )
    try:
        data = run_counts(options)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if a.out:
        a.out.write_text(json.dumps(data, indent=1))
    print(render_instructions(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
