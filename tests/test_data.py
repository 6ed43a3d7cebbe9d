"""training/data.py: every kind of bad MNIST file gives one clear MnistError naming it."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from training.data import MnistError, load_mnist, read_arrays

SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}


def good_arrays() -> dict[str, np.ndarray]:
    """Right shapes and dtypes, cheap content (the loader checks form, not pixels)."""
    arrays = {}
    for k, shape in SHAPES.items():
        a = np.zeros(shape, np.uint8)
        flat = a.reshape(shape[0], -1)
        if k.startswith("y"):
            flat[:, 0] = np.arange(shape[0]) % 10
        else:  # pixels 0 and 1 spell the image's index, so every image is unique
            flat[:, 0], flat[:, 1] = np.arange(shape[0]) % 256, np.arange(shape[0]) // 256
        arrays[k] = a
    return arrays


def write_npz(path, arrays, compressed=False):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def expect_error(path, *words):
    with pytest.raises(MnistError) as info:
        read_arrays(path)  # what load_mnist runs on every file, minus the split and hash
    message = str(info.value)
    assert str(path) in message, message
    for w in words:
        assert w in message, message
    return message


def test_good_file_loads_and_splits(tmp_path):
    path = write_npz(tmp_path / "mnist.npz", good_arrays())
    d = load_mnist(path, val_size=5000, download=False)
    assert d.x_train.shape == (55000, 28, 28) and d.x_val.shape == (5000, 28, 28)
    assert d.x_test.shape == (10000, 28, 28) and d.x_train.dtype == np.uint8
    assert d.source == str(path) and len(d.sha256) == 64
    # the validation split comes from train (fixed seed), never from test
    original = good_arrays()

    def index(x):
        return x[:, 0, 0].astype(int) + 256 * x[:, 0, 1].astype(int)

    # train and val partition the 60k training images; the test set is untouched
    assert sorted(np.concatenate([index(d.x_train), index(d.x_val)]).tolist()) == list(range(60000))
    np.testing.assert_array_equal(d.x_test, original["x_test"])
    again = load_mnist(path, val_size=5000, download=False)
    np.testing.assert_array_equal(again.y_val, d.y_val)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(MnistError, match="not found") as info:
        load_mnist(path, download=False)
    assert str(path) in str(info.value)


def test_missing_file_from_env_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "gone.npz"))
    with pytest.raises(MnistError, match="MNIST_PATH"):
        load_mnist(download=False)


def test_truncated_file(tmp_path):
    path = write_npz(tmp_path / "mnist.npz", good_arrays())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    expect_error(path, "truncated")


def test_corrupt_file(tmp_path):
    path = write_npz(tmp_path / "mnist.npz", good_arrays(), compressed=True)
    data = bytearray(path.read_bytes())
    for i in range(2000, 2200):  # scramble compressed bytes inside the first member
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    expect_error(path, "corrupt")


def test_not_a_zip_at_all(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(os.urandom(4096))
    expect_error(path)


def test_wrong_shape(tmp_path):
    arrays = good_arrays()
    arrays["x_test"] = arrays["x_test"][:, :27, :]
    expect_error(write_npz(tmp_path / "mnist.npz", arrays), "x_test", "(10000, 27, 28)")


def test_wrong_dtype(tmp_path):
    arrays = good_arrays()
    arrays["x_train"] = arrays["x_train"].astype(np.float32) / 255
    expect_error(write_npz(tmp_path / "mnist.npz", arrays), "x_train", "float32")


def test_label_out_of_range(tmp_path):
    arrays = good_arrays()
    arrays["y_test"][123] = 10
    expect_error(write_npz(tmp_path / "mnist.npz", arrays), "y_test", "10")


def test_missing_array(tmp_path):
    arrays = good_arrays()
    del arrays["y_train"]
    expect_error(write_npz(tmp_path / "mnist.npz", arrays), "y_train")


def test_pickled_object_array_is_refused(tmp_path):
    arrays = good_arrays()
    objects = np.empty(10000, dtype=object)
    objects[:] = [int(v) for v in arrays["y_test"]]
    arrays["y_test"] = objects
    expect_error(write_npz(tmp_path / "mnist.npz", arrays), "y_test")


def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(pickle.dumps(good_arrays()))
    expect_error(path, "pickle", "not an .npz")


def test_read_arrays_accepts_real_mnist():
    path = os.environ.get("MNIST_PATH")
    if not path:
        pytest.skip("MNIST_PATH is not set (point it at mnist.npz)")
    arrays = read_arrays(__import__("pathlib").Path(path))
    assert arrays["x_train"].shape == (60000, 28, 28)
    assert np.bincount(arrays["y_test"], minlength=10).min() > 800  # every digit present
