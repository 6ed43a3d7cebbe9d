"""MNIST loading and validation.

Where the data comes from, in order:
1. an explicit path (``--mnist PATH``) or the ``MNIST_PATH`` environment variable;
2. the usual Keras cache, ``~/.keras/datasets/mnist.npz``;
3. a download into that cache (needs the internet).

Whichever file is used, its arrays are checked (shapes, dtypes, label range, no
pickled objects) before anything trains on them. A validation split is carved
out of the 60k training images; the official 10k test set is kept for final
evaluation only.

    python -m training.data --mnist ../shared/data/mnist.npz   # check a file
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"
EXPECTED = {  # name -> (shape, dtype)
    "x_train": ((60000, 28, 28), np.uint8),
    "y_train": ((60000,), np.uint8),
    "x_test": ((10000, 28, 28), np.uint8),
    "y_test": ((10000,), np.uint8),
}


class MnistError(ValueError):
    """The MNIST file is missing, unreadable or does not hold MNIST."""


@dataclass(frozen=True)
class Mnist:
    """MNIST split for training: uint8 images (n, 28, 28), uint8 labels (n,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    """The file the arrays were read from."""
    sha256: str
    """Hash of the four arrays' bytes (not of the file): names the data a model saw."""


def resolve_path(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Find the MNIST file: explicit path, then MNIST_PATH, then the Keras cache, then download."""
    chosen = path or os.environ.get("MNIST_PATH")
    if chosen:
        p = Path(chosen).expanduser()
        if not p.is_file():
            origin = "MNIST_PATH" if not path else "--mnist"
            raise MnistError(f"MNIST file not found: {p} (from {origin}); point it at mnist.npz")
        return p
    if KERAS_CACHE.is_file():
        return KERAS_CACHE
    if not download:
        raise MnistError(f"no MNIST file: set MNIST_PATH or pass --mnist (looked in {KERAS_CACHE})")
    KERAS_CACHE.parent.mkdir(parents=True, exist_ok=True)
    tmp = KERAS_CACHE.with_suffix(".npz.part")
    try:
        print(f"downloading MNIST to {KERAS_CACHE} ...", file=sys.stderr)
        urllib.request.urlretrieve(MNIST_URL, tmp)  # a fixed https URL
        os.replace(tmp, KERAS_CACHE)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MnistError(
            f"could not download MNIST from {MNIST_URL} ({exc}); set MNIST_PATH to a local mnist.npz"
        ) from exc
    return KERAS_CACHE


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read and validate the four arrays of an MNIST .npz file."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise MnistError(f"{path}: cannot read MNIST file ({exc})") from exc
    if head != b"PK\x03\x04":  # every .npz is a zip archive
        kind = "pickle data" if head[:1] == b"\x80" else f"bytes {head!r}"
        raise MnistError(
            f"{path}: not an .npz (zip) file, it starts with {kind}; "
            "expected mnist.npz holding x_train, y_train, x_test, y_test"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in EXPECTED if k not in npz.files]
            if missing:
                raise MnistError(f"{path}: not an MNIST file, missing arrays {missing} (has {npz.files})")
            arrays = {}
            for k in EXPECTED:
                try:
                    arrays[k] = npz[k]
                except ValueError as exc:
                    if "allow_pickle" not in str(exc):
                        raise
                    raise MnistError(
                        f"{path}: {k} holds pickled Python objects, which are refused "
                        "for safety; expected a plain uint8 array"
                    ) from exc
    except MnistError:
        raise
    except ValueError as exc:  # object arrays need pickle, which we refuse
        raise MnistError(f"{path}: unreadable MNIST file ({exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise MnistError(f"{path}: corrupt or truncated MNIST file ({exc})") from exc
    for name, (shape, dtype) in EXPECTED.items():
        a = arrays[name]
        if a.shape != shape:
            raise MnistError(f"{path}: {name} has shape {a.shape}, expected {shape}")
        if a.dtype != dtype:
            raise MnistError(f"{path}: {name} has dtype {a.dtype}, expected {np.dtype(dtype)}")
    for name in ("y_train", "y_test"):
        if arrays[name].max() > 9:
            raise MnistError(f"{path}: {name} has label {int(arrays[name].max())}, expected 0..9")
    return arrays


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in EXPECTED:
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def load_mnist(
    path: str | os.PathLike | None = None,
    val_size: int = 5000,
    seed: int = 0,
    download: bool = True,
) -> Mnist:
    """Load, validate and split MNIST.

    The validation split is the last ``val_size`` images of a fixed permutation
    (``seed``) of the training set, so it is the same on every run.
    """
    p = resolve_path(path, download=download)
    arrays = read_arrays(p)
    if not 0 <= val_size < 60000:
        raise ValueError(f"val_size must be in [0, 60000), got {val_size}")
    order = np.random.default_rng(seed).permutation(60000)
    train_idx, val_idx = order[: 60000 - val_size], order[60000 - val_size :]
    x, y = arrays["x_train"], arrays["y_train"]
    return Mnist(
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_val=x[val_idx],
        y_val=y[val_idx],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        source=str(p),
        sha256=arrays_sha256(arrays),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check an MNIST file and print its split.")
    parser.add_argument("--mnist", help="path to mnist.npz (default: $MNIST_PATH, else the Keras cache)")
    args = parser.parse_args(argv)
    try:
        d = load_mnist(args.mnist)
    except MnistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{d.source}: train {len(d.x_train)}, val {len(d.x_val)}, test {len(d.x_test)}, sha256 {d.sha256[:16]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
