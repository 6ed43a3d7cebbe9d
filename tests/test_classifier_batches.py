"""How a frame's digits are split into interpreter calls (edge_runtime.classifier._chunks),
and the shipped default reading a frame in batches exactly as digit by digit."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.classifier import BATCH_STEP, MAX_BATCH, DigitClassifier, _chunks


@pytest.mark.parametrize("n", range(0, 40))
def test_every_digit_is_in_exactly_one_chunk_of_an_allowed_size(n):
    chunks = _chunks(n)
    covered = [i for start, size in chunks for i in range(start, start + size)]
    assert covered[:n] == list(range(n))
    assert all(size == 1 or (size % BATCH_STEP == 0 and size <= MAX_BATCH) for _, size in chunks)
    padding = len(covered) - n
    assert padding < BATCH_STEP, "only the last chunk is padded, to the next multiple of four"
    assert len(chunks) == -(-n // MAX_BATCH), "as few calls as the largest batch allows"
    assert sum(size == 1 for _, size in chunks) <= 1


def test_shipped_default_reads_batches_like_single_digits(model_path, mnist_test):
    clf = DigitClassifier(model_path)
    assert clf.free_batch, f"{model_path.name}: the shipped default should take a free batch"
    x = mnist_test[0][:27].astype(np.float32) / 255.0  # 16 + 11 padded to 12
    step = clf.step()
    q = clf.quantize_input(x)
    one_by_one = np.concatenate([clf.dequantize_output(step(q[i : i + 1])) for i in range(len(q))])
    batched = clf.logits(x)
    assert np.allclose(batched, one_by_one, rtol=0, atol=1e-5)
    assert np.array_equal(batched.argmax(1), one_by_one.argmax(1))


def test_a_reader_makes_every_batch_interpreter_before_its_first_frame(model_path, mnist_test):
    """A frame with a new digit count once made its interpreter mid-read (~5 ms): a reader now
    makes them all up front, and reading frames of 1 to 40 digits makes no other."""
    from edge_runtime.pipeline import DigitReader

    clf = DigitClassifier(model_path)
    assert clf._batched == {}, "a bare classifier still makes them on first use"
    DigitReader(clf)
    ready = sorted(size for size, run in clf._batched.items() if run is not None)
    needed = sorted({size for n in range(41) for _, size in _chunks(n) if size > 1})
    assert ready == needed == list(range(BATCH_STEP, MAX_BATCH + 1, BATCH_STEP))
    made = dict(clf._batched)
    x = mnist_test[0][:40].astype(np.float32) / 255.0
    for n in range(1, 41):
        clf.logits(x[:n])
    assert clf._batched == made


def test_a_reader_can_leave_the_interpreters_to_first_use(model_path):
    from edge_runtime.pipeline import DigitReader

    clf = DigitClassifier(model_path)
    DigitReader(clf, prepare_batches=False, warm_up=False)  # (its warm-up pages would make two)
    assert clf._batched == {}


@pytest.mark.parametrize("name", ["lstm_fused_int8", "lstm_fused_float32", None])
def test_preparing_runs_every_interpreter_once_and_changes_no_output(name, model_path, mnist_test):
    # prepare_batches runs each interpreter once on a blank input (an interpreter's first call
    # costs more than the next ones): a stateful graph (the fused LSTM keeps state across calls)
    # and the free-batch default (None) must give the same outputs after it as a classifier that
    # was never prepared.
    from edge_runtime.manifest import read_manifest

    path = model_path
    if name is not None:
        try:
            path = model_path.parent / read_manifest(model_path.parent).entry(name).file
        except StopIteration:
            pytest.skip(f"{name} is not in the manifest beside {model_path}")
    fresh, prepared = DigitClassifier(path), DigitClassifier(path)
    invoked = []
    real = prepared.interpreter.invoke
    prepared.interpreter.invoke = lambda: (invoked.append(1), real())[1]
    sizes = prepared.prepare_batches()
    assert invoked == [1]  # the single digit's interpreter ran once
    assert sizes == ([4, 8, 12, 16] if prepared.free_batch else [])
    assert prepared.stateful == (name is not None)
    x = mnist_test[0][:13].astype(np.float32) / 255.0
    np.testing.assert_array_equal(prepared.logits(x), fresh.logits(x))
