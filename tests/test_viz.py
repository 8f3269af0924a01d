import numpy as np
import pytest
from PIL import Image

from synclone.viz import image_grid, save_grid_png


def _tiles(n: int, size: int = 4) -> np.ndarray:
    """n images, each one flat colour: tile i has value 10 * (i + 1) in every channel."""
    return np.stack([np.full((size, size, 3), 10 * (i + 1), np.uint8) for i in range(n)])


def test_image_grid_places_tiles_row_by_row_with_padding_and_upscale():
    grid = image_grid(_tiles(5), ncols=2, pad=1, upscale=2)
    tile = 4 * 2
    assert grid.shape == (1 + 3 * (tile + 1), 1 + 2 * (tile + 1), 3)
    assert grid.dtype == np.uint8
    for index in range(5):
        row, col = divmod(index, 2)
        top, left = 1 + row * (tile + 1), 1 + col * (tile + 1)
        assert (grid[top : top + tile, left : left + tile] == 10 * (index + 1)).all()
    # the missing sixth tile and the gaps stay white
    assert (grid[1 + 2 * (tile + 1) :, 1 + tile + 1 :] == 255).all()
    assert (grid[0] == 255).all() and (grid[:, 1 + tile] == 255).all()


def test_image_grid_without_padding_is_a_plain_mosaic():
    images = np.random.default_rng(0).integers(0, 256, (4, 3, 3, 3), dtype=np.uint8)
    grid = image_grid(images, ncols=4, pad=0)
    assert np.array_equal(grid, np.concatenate(list(images), axis=1))


@pytest.mark.parametrize(
    "images, kwargs",
    [
        (np.zeros((2, 4, 4, 3), np.float32), {}),
        (np.zeros((2, 4, 4), np.uint8), {}),
        (np.zeros((2, 4, 4, 3), np.uint8), {"ncols": 0}),
        (np.zeros((2, 4, 4, 3), np.uint8), {"upscale": 0}),
    ],
)
def test_image_grid_rejects_bad_input(images, kwargs):
    with pytest.raises(ValueError):
        image_grid(images, **{"ncols": 2, **kwargs})


def test_save_grid_png_writes_the_grid_atomically(tmp_path):
    path = tmp_path / "figures" / "grid.png"
    save_grid_png(path, _tiles(4), ncols=2, upscale=3)
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(image), image_grid(_tiles(4), 2, upscale=3))
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]


def test_save_grid_png_adds_a_title_margin(tmp_path):
    path = tmp_path / "titled.png"
    save_grid_png(path, _tiles(4), ncols=2, titles=["first", "second"])
    plain = image_grid(_tiles(4), 2)
    with Image.open(path) as image:
        titled = np.asarray(image)
    assert titled.shape[0] == plain.shape[0] and titled.shape[1] > plain.shape[1]
    assert np.array_equal(titled[:, -plain.shape[1] :], plain)
    assert (titled[:, : titled.shape[1] - plain.shape[1]] < 128).any()  # some text was drawn
    with pytest.raises(ValueError, match="titles"):
        save_grid_png(path, _tiles(4), ncols=2, titles=["only one"])
