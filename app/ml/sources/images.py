"""Image folders through Pillow: one subfolder per class, PNG or JPEG files, converted to one size.

A class is its subfolder's name. Where every name is a class index written plainly (``0``, ``1``,
... ``12``, no sign or leading zero), the labels are those integers, as a CSV's numeric labels
are: folder ``10`` is class 10 on every machine, not the second name in sorted order.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from app.ml.sources.base import SourceError, check_cells

__all__ = ["IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "read_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# One decoded image at most (a decompression bomb is refused before it is expanded).
MAX_IMAGE_PIXELS = 4096 * 4096
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
_UNREADABLE = (UnidentifiedImageError, OSError, Image.DecompressionBombError)
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


def _files(root: Path) -> list[tuple[str, Path]]:
    """(class name, file) for every image under root/<class>/, refusing anything outside root."""
    real_root = root.resolve()
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise SourceError(
            f"{root}: an image folder needs one subfolder per class (at least two), found {len(classes)}"
        )
    found = []
    for folder in classes:
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if not path.resolve().is_relative_to(real_root):
                raise SourceError(f"{path} points outside {root}: every image must lie inside the folder")
            found.append((folder.name, path))
    if not found:
        raise SourceError(f"{root}: no PNG or JPEG files in its class subfolders")
    return found


def _read(path: Path, size: tuple[int, int], resize: bool) -> NDArray[np.float32]:
    """One image as grayscale float32 in [0, 1], of size (width, height): resized, or else refused."""
    try:
        with Image.open(path) as image:
            gray = image.convert("L")
    except _UNREADABLE as e:
        raise SourceError(f"{path}: not a readable image ({e})") from None
    if gray.size != size:
        if not resize:
            raise SourceError(
                f"{path} is {gray.size[0]}x{gray.size[1]}, the other images {size[0]}x{size[1]}: give "
                "size=WxH to resize them all"
            )
        gray = gray.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.float32) / 255.0


def read_image_folder(root: Path, size: tuple[int, int] | None) -> tuple[NDArray[np.float32], NDArray]:
    """Images as rows of (height, width) pixels and their classes: folder names, or indexes (above)."""
    files = _files(root)
    resize = size is not None
    if size is None:  # the first image sets the size; every other must match it
        size = _first_size(files[0][1])
    check_cells((len(files), size[0], size[1]), root)
    pixels = [_read(path, size, resize) for _, path in files]
    names = [name for name, _ in files]
    if all(_INDEX.fullmatch(name) for name in set(names)):
        return np.stack(pixels), np.asarray([int(name) for name in names], dtype=np.int64)
    return np.stack(pixels), np.asarray(names)


def _first_size(path: Path) -> tuple[int, int]:
    """The (width, height) of the first image, which sets the folder's size (read from its header)."""
    try:
        with Image.open(path) as image:
            return image.size
    except _UNREADABLE as e:
        raise SourceError(f"{path}: not a readable image ({e})") from None
