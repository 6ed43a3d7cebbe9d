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
