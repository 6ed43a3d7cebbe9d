"""The export's switch to a new model set, killed with SIGKILL at every step, and its lock.

The swap code under test is the real ``export.manifest.commit``; only the model files are
stand-ins (bytes with a manifest entry each), so this needs no TensorFlow and runs in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_runtime.contract import PROJECT_ROOT
from export.manifest import build_manifest, check_manifest, commit, shipped_name, write_manifest

ROOT = PROJECT_ROOT


def fake_entry(name: str, payload: bytes, file: str) -> dict:
    from export.manifest import ENTRY_KEYS

    spec = {"dtype": "float32", "shape": [1, 28, 28], "scale": 0.0, "zero_point": 0}
    return {k: None for k in ENTRY_KEYS} | {
        "name": name,
        "file": file,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size_bytes": len(payload),
        "arch": "lstm",
        "graph": "fused",
        "quantization": "float32",
        "input": spec,
        "output": dict(spec, shape=[1, 10]),
        "test_accuracy": 0.99,
        "latency_us_p50": 20.0 + len(name),
    }


def make_old_set(out: Path) -> dict:
    """A folder with two models under the old plain names and their manifest."""
    out.mkdir(parents=True)
    entries = []
    for name in ("lstm_fused_float32", "lstm_fused_int8"):
        payload = f"old {name}".encode()
        (out / f"{name}.tflite").write_bytes(payload)
        entries.append(fake_entry(name, payload, f"{name}.tflite"))
    m = build_manifest(entries, 0.2)
    write_manifest(out, m)
    return m


def stage_new_set(work: Path) -> tuple[dict, dict]:
    """(staged {final name: work file}, new manifest): float32 replaced, int8 gone, dynamic new."""
    work.mkdir()
    staged, entries = {}, []
    for name in ("lstm_fused_float32", "lstm_fused_dynamic"):
        payload = f"new {name}".encode()
        (work / name).write_bytes(payload)
        file = shipped_name(name, hashlib.sha256(payload).hexdigest())
        staged[file] = work / name
        entries.append(fake_entry(name, payload, file))
    return staged, build_manifest(entries, 0.2)


KILLER = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from export.manifest import commit

    out, work, kill_after = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    args = json.loads(Path(sys.argv[4]).read_text())
    steps = 0

    def counted(fn):
        def wrapper(*a, **kw):
            global steps
            result = fn(*a, **kw)
            steps += 1
            if steps == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: as kill -9
            return result
        return wrapper

    # Every change the swap makes to the folder goes through one of these.
    os.replace, os.unlink, os.rename = counted(os.replace), counted(os.unlink), counted(os.rename)
    staged = {k: Path(v) for k, v in args["staged"].items()}
    commit(out, staged, args["manifest"], args["previous"])
    print("finished after", steps, "steps")
    """
)


def test_kill_9_at_every_step_of_the_swap_leaves_a_valid_folder(tmp_path):
    sets = {}
    k = 0
    while True:
        k += 1
        case = tmp_path / f"kill{k}"
        out = case / "models"
        old = make_old_set(out)
        staged, new = stage_new_set(case / "work")
        args = case / "args.json"
        args.write_text(
            json.dumps({"staged": {n: str(p) for n, p in staged.items()}, "manifest": new, "previous": old})
        )
        p = subprocess.run(
            [sys.executable, "-c", KILLER, str(out), str(case / "work"), str(k), str(args)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            timeout=60,
        )
        killed = p.returncode == -9
        assert killed or p.returncode == 0, p.stderr
        # What a reader sees now: the checker accepts the folder, and it is all old or all new.
        check = subprocess.run(
            [sys.executable, "-m", "export.manifest", str(out)], capture_output=True, text=True, cwd=ROOT
        )
        assert check.returncode == 0, (k, check.stderr)
        names = {e["name"] for e in json.loads((out / "manifest.json").read_text())["models"]}
        assert names in (
            {"lstm_fused_float32", "lstm_fused_int8"},
            {"lstm_fused_float32", "lstm_fused_dynamic"},
        )
        sets[k] = "new" if "lstm_fused_dynamic" in names else "old"
        # The next export cleans up whatever the killed one left: only the live files remain.
        from export.manifest import read_manifest, remove_unlisted

        remove_unlisted(out, read_manifest(out))
        live = {e["file"] for e in read_manifest(out)["models"]} | {"manifest.json"}
        leftovers = {f.name for f in out.iterdir()} - live
        assert leftovers == set(), leftovers
        if not killed:
            break
        assert k < 50, "the swap never finished"
    assert sets[1] == "old" and sets[k] == "new" and "new" in sets.values()
    assert k >= 4  # two renames, the manifest's replace, a removal: each was a kill point


def test_commit_keeps_user_files_and_removes_only_unlisted_models(tmp_path):
    out = tmp_path / "models"
    old = make_old_set(out)
    (out / "my_experiment.tflite").write_bytes(b"mine")  # not ours: never removed
    staged, new = stage_new_set(tmp_path / "work")
    removed = commit(out, staged, new, old)
    assert sorted(removed) == ["lstm_fused_float32.tflite", "lstm_fused_int8.tflite"]
    assert check_manifest(out) == []
    assert (out / "my_experiment.tflite").read_bytes() == b"mine"


LOCKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from export.run import export_lock

    with export_lock(Path(sys.argv[1]), log=lambda s: print(s, flush=True)):
        print("locked", flush=True)
        sys.stdin.readline()  # hold the lock until told
    print("released", flush=True)
    """
)


def _locker(folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def test_exports_into_one_folder_are_serialised_and_a_killed_holder_does_not_block(tmp_path):
    first = _locker(tmp_path)
    assert first.stdout.readline().strip() == "locked"
    second = _locker(tmp_path)
    assert "waiting for another export" in second.stdout.readline()  # it waits, it does not run
    first.stdin.write("\n")
    first.stdin.flush()
    assert first.stdout.readline().strip() == "released"
    assert second.stdout.readline().strip() == "locked"  # runs once the first is done
    second.kill()  # kill -9 while holding the lock: the kernel drops it
    second.wait()
    third = _locker(tmp_path)
    assert third.stdout.readline().strip() == "locked"  # no stale lock, no wait
    third.communicate("\n", timeout=30)
    first.wait(timeout=30)


def test_ship_rule_is_a_pure_function():
    from types import SimpleNamespace

    from export.convert import parse_variant
    from export.run import ship_problems

    good = SimpleNamespace(
        test_accuracy=0.985,
        repeatable=True,
        ops=["UNIDIRECTIONAL_SEQUENCE_LSTM"],
        input={"dtype": "int8"},
        output={"dtype": "int8"},
    )
    int8 = parse_variant("lstm_fused_int8")
    assert ship_problems(int8, good, keras_accuracy=0.986, tolerance_pp=0.2) == []
    worse = SimpleNamespace(**{**vars(good), "test_accuracy": 0.980})
    assert "0.60 pp below Keras" in ship_problems(int8, worse, 0.986, 0.2)[0]
    flaky = SimpleNamespace(**{**vars(good), "repeatable": False, "ops": ["FULLY_CONNECTED"]})
    assert len(ship_problems(int8, flaky, 0.986, 0.2)) == 2
    float_io = SimpleNamespace(**{**vars(good), "input": {"dtype": "float32"}})
    assert "int8 model has float32 input" in ship_problems(int8, float_io, 0.986, 0.2)[0]
    unrolled = parse_variant("lstm_unrolled_dynamic")
    assert (
        ship_problems(unrolled, SimpleNamespace(**{**vars(good), "ops": ["FULLY_CONNECTED"]}), 0.986, 0.2)
        == []
    )


@pytest.mark.parametrize("killed_at", ["work"])
def test_stale_work_folder_of_a_killed_export_is_removed(tmp_path, killed_at):
    from export.run import WORK_PREFIX, remove_stale_work_dirs

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f"{WORK_PREFIX}{dead.stdout.strip()}.tmp"
    stale.mkdir()
    (stale / "half.tflite").write_bytes(b"x")
    remove_stale_work_dirs(tmp_path)
    assert not stale.exists()
