"""How a frame's digits are split into interpreter calls (edge_runtime.classifier._chunks),
and the shipped default reading a frame in batches exactly as digit by digit."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.classifier import BATCHES, DigitClassifier, _chunks


@pytest.mark.parametrize("n", range(0, 40))
def test_every_digit_is_in_exactly_one_chunk_of_an_allowed_size(n):
    chunks = _chunks(n)
    covered = [i for start, size in chunks for i in range(start, start + size)]
    assert covered[:n] == list(range(n))
    assert all(size in (*BATCHES, 1) for _, size in chunks)
    padding = len(covered) - n
    assert padding <= 2, "at most a last 2 or 3 digits are padded to four"
    assert sum(size == 1 for _, size in chunks) <= 1


def test_shipped_default_reads_batches_like_single_digits(model_path, mnist_test):
    clf = DigitClassifier(model_path)
    assert clf.free_batch, f"{model_path.name}: the shipped default should take a free batch"
    x = mnist_test[0][:27].astype(np.float32) / 255.0  # 8 + 8 + 8 + 3 padded to 4
    step = clf.step()
    q = clf.quantize_input(x)
    one_by_one = np.concatenate([clf.dequantize_output(step(q[i : i + 1])) for i in range(len(q))])
    batched = clf.logits(x)
    assert np.allclose(batched, one_by_one, rtol=0, atol=1e-5)
    assert np.array_equal(batched.argmax(1), one_by_one.argmax(1))
