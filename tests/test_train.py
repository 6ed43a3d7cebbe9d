"""training/train.py and the CLI: real (short) training, resume after an interruption, artefacts."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from training.__main__ import main, parse_options
from training.data import load_mnist
from training.models import build_model
from training.tfkeras import keras
from training.train import (
    DISTILL_OPTIONS,
    Checkpoints,
    RunLock,
    TrainOptions,
    fingerprint,
    load_trained,
    train,
)

ARTEFACTS = (
    "model.keras",
    "config.json",
    "history.json",
    "curve.png",
    "metrics.json",
    "confusion.json",
    "confusion.png",
)

needs_mnist = pytest.mark.skipif(
    not os.environ.get("MNIST_PATH"), reason="MNIST_PATH is not set (point it at mnist.npz)"
)


def tiny(out: Path, **kw) -> TrainOptions:
    """A few seconds of training; deterministic=False keeps TF's process-wide switch off in pytest."""
    base = dict(
        arch="lstm",
        units=16,
        out_dir=str(out),
        train_limit=1000,
        batch_size=100,
        epochs=2,
        lr=5e-3,
        schedule="constant",
        deterministic=False,
        unroll_training=False,
    )
    return TrainOptions(**{**base, **kw})


@needs_mnist
@pytest.mark.slow
def test_interrupted_run_resumes_and_matches_uninterrupted(tmp_path):
    run = tmp_path / "run"

    def die_after_first_epoch(msg):
        if msg.startswith("epoch   1/"):
            raise KeyboardInterrupt  # as if killed right after the epoch-1 checkpoint

    with pytest.raises(KeyboardInterrupt):
        train(tiny(run), log=die_after_first_epoch)
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()
    first_epoch = json.loads((run / "checkpoints" / "state.json").read_text())["history"][0]

    resumed = train(tiny(run))
    assert resumed.resumed_from == 1 and resumed.epochs == 2 and resumed.steps == 20
    assert resumed.history[0] == first_epoch  # continued, not redone
    assert all((run / name).is_file() for name in ARTEFACTS)

    straight = train(tiny(tmp_path / "straight"))
    assert straight.resumed_from == 0
    # same data order, optimizer state and weights => the same second epoch
    assert resumed.history[1]["loss"] == pytest.approx(straight.history[1]["loss"], rel=1e-4)
    assert resumed.test_accuracy == pytest.approx(straight.test_accuracy, abs=2e-3)


def test_checkpoints_of_other_options_are_not_resumed(tmp_path):
    model = build_model("lstm", units=4)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    Checkpoints(tmp_path, model, optimizer, "aaaa").save({"epoch": 1, "step": 10, "history": []})
    messages = []
    assert Checkpoints(tmp_path, model, optimizer, "bbbb").load(messages.append) is None
    assert "other options" in messages[0]
    state = Checkpoints(tmp_path, model, optimizer, "aaaa").load(messages.append)
    assert state["epoch"] == 1 and state["step"] == 10
    (tmp_path / "epoch-001.index").unlink()  # a damaged checkpoint means a clean restart, not a crash
    assert Checkpoints(tmp_path, model, optimizer, "aaaa").load(messages.append) is None


@needs_mnist
@pytest.mark.slow
def test_cli_trains_beyond_chance_and_writes_all_artefacts(tmp_path, capsys):
    out = tmp_path / "lstm"
    code = main(
        [
            "--out",
            str(out),
            "--train-limit",
            "3000",
            "--epochs",
            "2",
            "--batch-size",
            "64",
            "--schedule",
            "constant",
            "--lr",
            "5e-3",
            "--no-augment",
            "--no-deterministic",
        ]
    )
    stdout = capsys.readouterr().out
    assert code == 0
    assert "predicted:" in stdout and "actual:" in stdout and "epoch   2/2" in stdout
    for name in ARTEFACTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.6  # chance is 0.1; 3000 images x 2 epochs give ~0.85
    assert metrics["params"] == 24458  # the lesson's LSTM-64 + dense 10
    for key in ("train_seconds", "epochs", "per_class_accuracy"):
        assert key in metrics, key

    model, config = load_trained(out)
    assert config["options"]["arch"] == "lstm" and config["options"]["units"] == 64
    assert len(config["data_sha256"]) == 64 and "tensorflow" in config["versions"]
    assert not model.get_layer("recurrent").unroll  # saved as the loop graph (fused LSTM export)
    data = load_mnist()
    logits = model(data.x_test[:10].astype("float32") / 255).numpy()
    assert logits.argmax(1).tolist() == metrics["first10_predicted"]
    assert metrics["first10_true"] == data.y_test[:10].tolist()
    confusion = np.array(json.loads((out / "confusion.json").read_text())["matrix"])
    assert confusion.sum() == 10000
    assert np.trace(confusion) / 10000 == pytest.approx(metrics["test_accuracy"])


def test_fingerprint_ignores_length_but_not_decisive_options():
    base = TrainOptions()
    fp = fingerprint(base, "data")
    assert fingerprint(dataclasses.replace(base, epochs=99, out_dir="x"), "data") == fp  # may extend a run
    for change in (dict(lr=1e-3), dict(seed=1), dict(augment=False), dict(units=32), dict(batch_size=64)):
        assert fingerprint(dataclasses.replace(base, **change), "data") != fp, change
    assert fingerprint(base, "other data") != fp


def test_fingerprint_follows_the_code_that_makes_the_training_images(tmp_path, monkeypatch):
    import edge_runtime.preprocess
    import training.augment
    import training.styles

    base = TrainOptions()
    fp = fingerprint(base, "data")
    for module in (training.augment, training.styles, edge_runtime.preprocess):
        edited = tmp_path / Path(module.__file__).name
        edited.write_text(Path(module.__file__).read_text() + "\n# an edit\n")
        with monkeypatch.context() as m:
            m.setattr(module, "__file__", str(edited))
            assert fingerprint(base, "data") != fp, module.__name__
    assert fingerprint(base, "data") == fp


def test_restyle_per_epoch_and_without_elastic_when_elastic_is_on_the_fly(mnist_test):
    from training.train import restyle

    x, y = mnist_test
    x, y = x[:1000], y[:1000]
    o = TrainOptions(styles=0.4, elastic=0.5)
    e0, e1 = restyle(o, x, y, epoch=0), restyle(o, x, y, epoch=1)
    assert not np.array_equal(e0, e1)
    changed = (e0 != x).any(axis=(1, 2))
    assert not changed[~np.isin(y, (1, 4, 7, 9))].any()  # only the style edits: elastic is in the step
    once = restyle(dataclasses.replace(o, elastic=0.0, styles_every_epoch=False), x, y, epoch=None)
    assert (once != x).any(axis=(1, 2))[~np.isin(y, (1, 4, 7, 9))].any()  # the old once-per-run elastic share
    assert restyle(dataclasses.replace(o, augment=False), x, y, epoch=0) is x


def test_default_recipe_is_the_shipped_lstm():
    """make export trains runs/lstm with TrainOptions() when it is missing: that must be the
    recipe runs/lstm was trained with, or a fresh clone would ship a different model."""
    shipped = json.loads((Path(__file__).resolve().parents[1] / "runs/lstm/config.json").read_text())[
        "options"
    ]
    run_specific = {"out_dir", "resume", "mnist"}
    default = dataclasses.asdict(TrainOptions(arch="lstm"))
    # Distillation came after some runs: a config without it was trained from the labels only.
    if "teacher" not in shipped:
        assert default["teacher"] is None
        default = {k: v for k, v in default.items() if k not in DISTILL_OPTIONS}
    assert {k: v for k, v in shipped.items() if k not in run_specific} == {
        k: v for k, v in default.items() if k not in run_specific
    }


@pytest.mark.parametrize("arch", ["gru", "rnn", "peephole"])
def test_shipped_recipe_of_each_relative_is_the_one_its_run_used(arch):
    """make export trains a missing relative with TrainOptions.shipped(arch): the recipe of its
    committed run (trained before styles and elastic existed: their absence means off)."""
    run = json.loads((Path(__file__).resolve().parents[1] / f"runs/{arch}/config.json").read_text())[
        "options"
    ]
    shipped = dataclasses.asdict(TrainOptions.shipped(arch))
    run_specific = {"out_dir", "resume", "mnist"}
    assert {k: v for k, v in run.items() if k not in run_specific} == {
        k: shipped[k] for k in run if k not in run_specific
    }
    assert shipped["styles"] == 0 and shipped["elastic"] == 0
    assert TrainOptions.shipped("lstm") == TrainOptions(arch="lstm")
    assert parse_options(["--arch", arch, "--recipe", "shipped"]) == TrainOptions.shipped(arch)


def test_cli_reports_missing_mnist_in_one_line(tmp_path, capsys):
    code = main(["--mnist", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "missing.npz" in err and "not found" in err


def test_second_training_into_the_same_folder_is_refused(tmp_path):
    (tmp_path / ".train.lock").write_text(str(os.getppid()))  # a live process holds the folder
    with pytest.raises(RuntimeError, match="being trained by process"):
        train(tiny(tmp_path))
    (tmp_path / ".train.lock").write_text("999999999")  # stale lock of a killed run is taken over
    with RunLock(tmp_path):
        assert (tmp_path / ".train.lock").read_text() == str(os.getpid())
    assert not (tmp_path / ".train.lock").exists()


def test_bad_option_is_named():
    with pytest.raises(ValueError, match="'adamw'"):
        TrainOptions(schedule="adamw").check()
    with pytest.raises(ValueError, match="lr"):
        TrainOptions(lr=0).check()


def test_load_trained_missing_run_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m training"):
        load_trained(tmp_path / "nothing")


def test_lesson_recipe_matches_the_lesson():
    o = TrainOptions.lesson()
    assert (o.batch_size, o.lr, o.steps, o.eval_every, o.eval_on, o.units) == (64, 0.01, 150, 15, "test", 64)
    assert o.schedule == "constant" and o.arch == "lstm" and not o.augment
    assert str(o.run_dir) == "runs/lstm_lesson"  # never overwrites the shipped runs/lstm


@needs_mnist
@pytest.mark.slow
def test_fewer_epochs_after_a_finished_run_trains_that_many_afresh(tmp_path):
    run = tmp_path / "run"
    train(tiny(run, epochs=3))
    messages = []
    shorter = train(tiny(run, epochs=2), log=messages.append)
    assert any("starting afresh" in m for m in messages)
    assert shorter.epochs == 2 and shorter.resumed_from == 0 and len(shorter.history) == 2
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert config["options"]["epochs"] == 2 and metrics["epochs"] == 2  # the model is the 2-epoch one
