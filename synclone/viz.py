"""Image grids for looking at datasets (rendered, generated, corrupted) with one's own eyes."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from synclone.io import atomic_path

_PAD_VALUE = 255  # white gaps between tiles
_TITLE_WIDTH = 80  # pixels of the left margin that carries row titles


def image_grid(images: np.ndarray, ncols: int, pad: int = 2, upscale: int = 1) -> np.ndarray:
    """Tile uint8 N x H x W x 3 images row by row into one uint8 image, each tile enlarged ``upscale`` times.

    Tiles are separated (and framed) by ``pad`` white pixels; missing tiles of the last row stay white.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 N x H x W x 3, got {images.dtype} {images.shape}")
    if ncols < 1 or pad < 0 or upscale < 1:
        raise ValueError(f"need ncols >= 1, pad >= 0 and upscale >= 1, got {ncols}, {pad}, {upscale}")
    tiles = images.repeat(upscale, axis=1).repeat(upscale, axis=2)  # nearest neighbour keeps pixels crisp
    n, height, width = tiles.shape[:3]
    nrows = max(1, -(-n // ncols))
    grid = np.full((pad + nrows * (height + pad), pad + ncols * (width + pad), 3), _PAD_VALUE, np.uint8)
    for index, tile in enumerate(tiles):
        top = pad + (index // ncols) * (height + pad)
        left = pad + (index % ncols) * (width + pad)
        grid[top : top + height, left : left + width] = tile
    return grid


def save_grid_png(
    path: str | os.PathLike,
    images: np.ndarray,
    ncols: int,
    upscale: int = 1,
    titles: Sequence[str] | None = None,
    pad: int = 2,
) -> None:
    """Write ``image_grid(images, ncols, pad, upscale)`` as a PNG, atomically; ``titles`` label the rows."""
    grid = image_grid(images, ncols, pad, upscale)
    if titles is not None:
        nrows = max(1, -(-len(images) // ncols))
        if len(titles) != nrows:
            raise ValueError(f"{len(titles)} titles for {nrows} rows")
        row_height = (grid.shape[0] - pad) // nrows
        canvas = Image.new("RGB", (grid.shape[1] + _TITLE_WIDTH, grid.shape[0]), (_PAD_VALUE,) * 3)
        canvas.paste(Image.fromarray(grid), (_TITLE_WIDTH, 0))
        draw = ImageDraw.Draw(canvas)
        for row, title in enumerate(titles):
            draw.text((4, pad + row * row_height + row_height // 2 - 6), str(title), fill=(0, 0, 0))
        grid = np.asarray(canvas)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")
