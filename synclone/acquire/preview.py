"""Thumbnails of a prepared dataset's images (any size, any mode) for its preview grid."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from synclone.imageset import load_image


def thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of a uint8 H x W x 3 image, resized to ``size`` x ``size``."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(image[top:top + side, left:left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def thumbnails(folder: str | os.PathLike, files: Sequence[str], size: int = 64) -> np.ndarray:
    """uint8 N x size x size x 3 thumbnails of ``folder/<file>`` for each file."""
    folder = Path(folder)
    return np.stack([thumbnail(load_image(folder / name), size) for name in files]).astype(np.uint8)
