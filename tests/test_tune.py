"""digits-edge tune on the real shipped models: the file it writes, stale files, and the CLI's record."""

import json
import os
from pathlib import Path

import pytest
from test_cli import run as run_edge  # python -m edge_runtime, as the CLI tests run it

from edge_runtime.contract import PROJECT_ROOT, QUANT_TOLERANCE_PP
from edge_runtime.manifest import MODELS_DIR, read_manifest
from edge_runtime.tune import (
    TuneOptions,
    candidates,
    choose,
    device_default,
    device_file,
    resolve_model_source,
    sha256_file,
    tune,
)

ROOT = PROJECT_ROOT


@pytest.fixture()
def config_home(tmp_path, monkeypatch):
    """A private $XDG_CONFIG_HOME, so no test reads or writes the user's device file."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DIGITS_MODEL", raising=False)
    return tmp_path / "config"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """One short tune on the real models (0.05 s per model), written to a private file."""
    out = tmp_path_factory.mktemp("tune") / "device.json"
    return tune(TuneOptions(seconds=0.05, out=out))


def test_tune_writes_a_valid_file(tuned):
    manifest = read_manifest(MODELS_DIR).to_json()
    record = json.loads(tuned.path.read_text())
    assert record == tuned.record
    lstm = {e["name"] for e in manifest["models"] if e["arch"] == "lstm"}
    assert set(record["timings"]) <= lstm and record["model"] in record["timings"]
    assert (MODELS_DIR / record["file"]).is_file()
    assert record["manifest_sha256"] == sha256_file(MODELS_DIR / "manifest.json")
    assert record["manifest_default"] == manifest["default"]
    for name, t in record["timings"].items():
        assert t["p50_us"] > 0 and t["rounds"] >= 1, name
    assert {"arch", "system"} <= set(record["machine"]) and "numpy" in record["runtime"]
    assert record["versus_manifest"]  # says whether it agrees with the manifest, and why not
    # Every other shipped model is accounted for: either timed or excluded with a reason.
    classifiers = {e["name"] for e in manifest["models"] if not e.get("role")}  # not the per-row file
    assert set(record["timings"]) | set(record["excluded"]) == classifiers


@pytest.mark.parametrize("recorded,tolerance", [(0.2, 0.2), (0.25, 0.25), (None, QUANT_TOLERANCE_PP)])
def test_rule_filters_by_architecture_and_accuracy(recorded, tolerance):
    manifest = {
        "default_reason": "keep those within 0.3 pp of the most accurate",  # prose: not read
        **({} if recorded is None else {"default_tolerance_pp": recorded}),
        "models": [
            {"name": "a", "file": "a", "arch": "lstm", "test_accuracy": 0.990},
            {"name": "b", "file": "b", "arch": "lstm", "test_accuracy": 0.9875},
            {"name": "c", "file": "c", "arch": "gru", "test_accuracy": 0.995},
            {"name": "d", "file": "d", "arch": "lstm", "test_accuracy": 0.9881},
        ],
    }
    pool, excluded, tol = candidates(manifest)
    assert tol == tolerance
    # b is 0.25 pp below a, d 0.09 pp: only a tolerance of 0.25 pp keeps b.
    assert [e["name"] for e in pool] == (["a", "b", "d"] if tolerance >= 0.25 else ["a", "d"])
    assert "architecture" in excluded["c"]
    if tolerance < 0.25:
        assert f"{tolerance} pp" in excluded["b"]


def test_ties_go_to_the_smaller_file():
    entries = [
        {"name": "big", "size_bytes": 200},
        {"name": "small", "size_bytes": 100},
        {"name": "slow", "size_bytes": 1},
    ]
    timings = {"big": {"p50_us": 50.0}, "small": {"p50_us": 54.0}, "slow": {"p50_us": 80.0}}
    assert choose(entries, timings)[0] == "small"
    timings["small"]["p50_us"] = 60.0  # 20% slower: no longer a tie
    assert choose(entries, timings)[0] == "big"


def test_device_default_used_then_ignored_when_stale(config_home, tuned):
    device_file().parent.mkdir(parents=True)
    device_file().write_text(tuned.path.read_text())
    path, source = resolve_model_source(None)
    assert path == MODELS_DIR / tuned.record["file"] and source.startswith("this device's default")
    assert resolve_model_source("x.tflite") == (Path("x.tflite"), "--model")

    stale = dict(tuned.record, manifest_sha256="0" * 64)  # as if the models were re-exported
    device_file().write_text(json.dumps(stale))
    warnings = []
    assert device_default(MODELS_DIR, warn=warnings.append) is None
    assert len(warnings) == 1 and "models changed" in warnings[0] and "digits-edge tune" in warnings[0]
    path, source = resolve_model_source(None)
    assert source == "the manifest's default" and path.name != "x.tflite"

    device_file().write_text("{not json")
    warnings.clear()
    assert device_default(MODELS_DIR, warn=warnings.append) is None and "unreadable" in warnings[0]


def run_cli(args, env):
    return run_edge(args, env, timeout=120)


def test_cli_says_where_the_model_came_from(config_home, tuned):
    seed = os.environ.get("DIGITS_SEED_IMAGE")
    if not seed:
        pytest.skip("DIGITS_SEED_IMAGE is not set")
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home))
    env.pop("DIGITS_MODEL", None)
    device_file().parent.mkdir(parents=True)
    manifest = read_manifest(MODELS_DIR).to_json()
    default_file = next(e["file"] for e in manifest["models"] if e["name"] == manifest["default"])
    other = next(e["file"] for e in manifest["models"] if e["file"] != default_file and not e.get("role"))
    device_file().write_text(json.dumps(dict(tuned.record, file=other)))
    out = run_cli(["image", seed, "--json"], env)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["text"] == "9" and record["model"] == other
    assert record["model_source"].startswith("this device's default") and "digits-edge tune" in out.stderr

    device_file().write_text(json.dumps(dict(tuned.record, manifest_sha256="0" * 64)))
    out = run_cli(["image", seed, "--json"], env)
    record = json.loads(out.stdout)
    assert record["model_source"] == "the manifest's default" and "warning: ignoring" in out.stderr

    assert record["model"] == default_file
    out = run_cli(["image", seed, "--json"], dict(env, DIGITS_MODEL=str(MODELS_DIR / other)))
    record = json.loads(out.stdout)
    assert (record["model"], record["model_source"]) == (other, "$DIGITS_MODEL")


def test_tune_cli_dry_run_writes_nothing(config_home):
    out = run_cli(
        ["tune", "--seconds", "0.02", "--dry-run"], dict(os.environ, XDG_CONFIG_HOME=str(config_home))
    )
    assert out.returncode == 0, out.stderr
    assert "manifest's default" in out.stdout and "chosen:" in out.stdout
    assert not device_file().exists()
    bad = run_cli(["tune", "--seconds", "0"], dict(os.environ, XDG_CONFIG_HOME=str(config_home)))
    assert bad.returncode == 2 and "--seconds must be positive" in bad.stderr
