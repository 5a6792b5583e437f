"""Sample image folders made from scikit-learn's digits, for examples, benchmarks and tests.

A user's image folder is one subfolder per class of PNG or JPEG files (app/ml/sources/images.py).
These write exactly that from the 8x8 digits: each digit's 0-16 pixels scaled to 0-255 grayscale,
pasted at a seeded random offset on a blank canvas x canvas page (canvas 8: the plain digits). On a
canvas larger than 8 the offset is what a dense layer cannot share across positions and a convolution
with pooling can, so it is the workload on which bench/fl/images and examples/image_cnn show a CNN
beating an MLP.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["digit_pages", "write_image_folder"]


def digit_pages(canvas: int = 8, seed: int = 0) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Every digit as a (canvas, canvas) uint8 page at a seeded offset, and its label."""
    from sklearn.datasets import load_digits

    if canvas < 8:
        raise ValueError(f"the canvas must hold an 8x8 digit, got {canvas}")
    images, labels = load_digits(return_X_y=True)
    offsets = np.random.default_rng(seed).integers(0, canvas - 8 + 1, size=(len(images), 2))
    pages = np.zeros((len(images), canvas, canvas), np.uint8)
    digits = (images.reshape(-1, 8, 8) * 255 / 16).round().astype(np.uint8)
    for page, digit, (row, col) in zip(pages, digits, offsets, strict=True):
        page[row : row + 8, col : col + 8] = digit
    return pages, labels.astype(np.int64)


def write_image_folder(
    root: Path, pages: NDArray[np.uint8], labels: NDArray[np.int64], rows: Sequence[int] | None = None
) -> Path:
    """Write the pages (those of rows, default all) as root/<label>/<row>.png; return root."""
    from PIL import Image

    for index in range(len(pages)) if rows is None else rows:
        folder = root / str(int(labels[index]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pages[index], mode="L").save(folder / f"{int(index):04d}.png")
    return root
