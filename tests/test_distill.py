"""Knowledge distillation (training/teacher.py, TrainOptions.teacher): the teacher network, the
blended loss against an independent numpy computation, the options' checks, and a short real
run of a teacher and a student distilled from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from training.models import build_model, rebuild
from training.tfkeras import tf
from training.train import TrainOptions, fingerprint, make_loss, train


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def reference_loss(
    teacher_logp: np.ndarray, logits: np.ndarray, y: np.ndarray, w: float, temp: float
) -> float:
    """(1 - w) * CE(labels) + w * T^2 * KL(softmax(t / T) || softmax(s / T)), in numpy; ``teacher_logp``
    is the teacher's log-probabilities (or logits: the softmax does not see the difference)."""
    ce = -log_softmax(logits)[np.arange(len(y)), y].mean()
    soft = log_softmax(teacher_logp / temp)
    kl = (np.exp(soft) * (soft - log_softmax(logits / temp))).sum(axis=1).mean()
    return (1 - w) * ce + w * temp**2 * kl


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A run folder holding an (untrained) teacher's model.keras: its weights are what matter."""
    run = tmp_path_factory.mktemp("teacher")
    tf.keras.utils.set_random_seed(1)
    build_model("cnn").save(run / "model.keras")
    return run


def second_teacher(beside: Path) -> Path:
    """A second teacher with other weights, in a folder next to ``beside``."""
    other = beside.parent / (beside.name + "_other")
    if not (other / "model.keras").is_file():
        other.mkdir(exist_ok=True)
        tf.keras.utils.set_random_seed(2)
        build_model("cnn").save(other / "model.keras")
    return other


def test_the_teacher_reads_the_recurrent_models_input_and_survives_a_rebuild():
    teacher = build_model("cnn")
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    assert teacher.input_shape == (None, 28, 28) and teacher(x).shape == (3, 10)
    np.testing.assert_array_equal(rebuild(teacher, "cnn", 64, unroll=False)(x), teacher(x))


def test_distillation_loss_matches_hinton_et_al_computed_in_numpy(teacher_run):
    """(1 - w) * CE(labels) + w * T^2 * KL(softmax(t / T) || softmax(s / T))."""
    from training.tfkeras import keras

    teacher = keras.models.load_model(teacher_run / "model.keras", compile=False)
    rng = np.random.default_rng(0)
    x = rng.random((8, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 8).astype(np.int32)
    logits = rng.normal(size=(8, 10)).astype(np.float32) * 3
    t = teacher(x, training=False).numpy()
    for w, temp in ((0.7, 2.0), (1.0, 4.0), (0.0, 2.0)):
        o = TrainOptions(teacher=str(teacher_run), distill=w, distill_temperature=temp)
        got = float(make_loss(o)(tf.constant(x), tf.constant(y), tf.constant(logits)))
        assert got == pytest.approx(reference_loss(t, logits, y, w, temp), rel=1e-4), (w, temp)
    # Two teachers: the mean of their log-probabilities is the teacher.
    other = second_teacher(teacher_run)
    t2 = keras.models.load_model(other / "model.keras", compile=False)(x, training=False).numpy()
    mean = (log_softmax(t) + log_softmax(t2)) / 2
    o = TrainOptions(teacher=f"{teacher_run},{other}", distill=1.0, distill_temperature=2.0)
    got = float(make_loss(o)(tf.constant(x), tf.constant(y), tf.constant(logits)))
    assert got == pytest.approx(reference_loss(mean, logits, y, 1.0, 2.0), rel=1e-4)
    # The teacher's own logits cost nothing in the distillation term.
    o = TrainOptions(teacher=str(teacher_run), distill=1.0)
    assert float(make_loss(o)(tf.constant(x), tf.constant(y), tf.constant(t))) == pytest.approx(0, abs=1e-5)


def test_distillation_options_are_checked_and_the_teachers_weights_are_in_the_fingerprint(
    teacher_run, tmp_path
):
    with pytest.raises(FileNotFoundError, match="python -m training"):
        TrainOptions(teacher=str(tmp_path / "no_teacher")).check()
    with pytest.raises(ValueError, match="distill must be"):
        TrainOptions(teacher=str(teacher_run), distill=1.5).check()
    with pytest.raises(ValueError, match="temperature"):
        TrainOptions(teacher=str(teacher_run), distill_temperature=0).check()
    with pytest.raises(ValueError, match="teacher"):
        TrainOptions(arch="cnn", teacher=str(teacher_run)).check()
    with pytest.raises(ValueError, match="no run folder"):
        TrainOptions(teacher=" , ").check()
    TrainOptions(teacher=str(teacher_run)).check()
    TrainOptions.teacher_recipe().check()

    # Without a teacher the fingerprint is what it was before distillation existed (the
    # distillation options are left out), so existing runs still resume.
    plain = TrainOptions()
    assert fingerprint(plain, "d") == fingerprint(dataclasses.replace(plain, distill=0.1), "d")
    student = TrainOptions(teacher=str(teacher_run))
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "model.keras").write_bytes((teacher_run / "model.keras").read_bytes())
    assert fingerprint(student, "d") != fingerprint(plain, "d")
    assert fingerprint(dataclasses.replace(student, teacher=str(moved)), "d") == fingerprint(student, "d")
    assert fingerprint(dataclasses.replace(student, distill=0.5), "d") != fingerprint(student, "d")
    other = second_teacher(teacher_run)
    assert fingerprint(dataclasses.replace(student, teacher=str(other)), "d") != fingerprint(student, "d")
    both = dataclasses.replace(student, teacher=f"{teacher_run}, {other}")
    assert both.teachers == [str(teacher_run), str(other)] and fingerprint(both, "d") != fingerprint(
        student, "d"
    )
    with pytest.raises(FileNotFoundError, match="python -m training"):
        dataclasses.replace(both, teacher=f"{teacher_run},{tmp_path / 'missing'}").check()


@pytest.mark.slow
def test_a_teacher_and_a_student_distilled_from_it_train_and_record_it(mnist_test, tmp_path):
    # (mnist_test: skips without $MNIST_PATH, which training reads)
    small = dict(train_limit=2000, batch_size=100, epochs=2, deterministic=False)
    teacher = train(TrainOptions.teacher_recipe(out_dir=str(tmp_path / "cnn"), **small))
    assert teacher.test_accuracy > 0.8  # a CNN learns 2000 digits quickly
    student = train(
        TrainOptions(out_dir=str(tmp_path / "lstm"), units=16, teacher=str(tmp_path / "cnn"), **small)
    )
    assert student.test_accuracy > 0.2  # beyond chance (0.1) after 40 augmented steps
    config = json.loads((tmp_path / "lstm" / "config.json").read_text())
    assert config["options"]["teacher"] == str(tmp_path / "cnn") and config["options"]["distill"] == 0.7
    assert json.loads((tmp_path / "cnn" / "metrics.json").read_text())["arch"] == "cnn"
