"""Image sets on disk: a folder of image files plus ``metadata.csv`` (file, label, attributes).

Every dataset of the workflow (rendered, generated or downloaded) uses this layout, so loaders, training and
prediction never care where images came from. Optional per-image arrays (the renderer's exact depth and
foreground mask) live in ``aux.npz``, in the row order of ``metadata.csv``.

``ImageSet`` holds the images in memory (one size); ``ImageSetIndex`` only the metadata and the files, for the
streaming readers (``synclone.streaming``) of sets too large for memory or of mixed sizes. Both hand out one
image at a time as a PIL image (``open_image``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from synclone.io import atomic_dir

METADATA = "metadata.csv"
AUX = "aux.npz"
IMAGE_DIR = "images"


class ImageSetError(RuntimeError):
    """A dataset folder that cannot be used as it is (missing, corrupt, inconsistent)."""


class _Rows:
    """Rows of an image set: one per ``metadata`` row, whose ``file`` is the image's id."""

    metadata: pd.DataFrame

    def __len__(self) -> int:
        return len(self.metadata)

    @property
    def labels(self) -> np.ndarray:
        return self.metadata["label"].to_numpy(dtype=np.int64)

    @property
    def ids(self) -> np.ndarray:
        return self.metadata["file"].to_numpy(dtype=str)


@dataclass
class ImageSet(_Rows):
    images: np.ndarray  # uint8, N x H x W x 3
    metadata: pd.DataFrame  # one row per image, columns include ``file`` and ``label``
    aux: dict[str, np.ndarray] = field(default_factory=dict)

    def open_image(self, row: int) -> Image.Image:
        return Image.fromarray(self.images[row])

    def subset(self, index: np.ndarray) -> "ImageSet":
        index = np.asarray(index)
        return ImageSet(
            images=self.images[index],
            metadata=self.metadata.iloc[index].reset_index(drop=True),
            aux={k: v[index] for k, v in self.aux.items()},
        )


def write_imageset(
    folder: str | os.PathLike,
    images: np.ndarray,
    metadata: pd.DataFrame,
    aux: dict[str, np.ndarray] | None = None,
    image_format: str = "png",
) -> None:
    """Write images as ``images/{index:06d}.{format}`` plus ``metadata.csv``; the folder appears atomically.

    ``metadata`` must have a ``label`` column; a ``file`` column is added (relative paths).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 N x H x W x 3, got {images.dtype} {images.shape}")
    if len(metadata) != len(images):
        raise ValueError(f"{len(images)} images but {len(metadata)} metadata rows")
    if "label" not in metadata.columns:
        raise ValueError("metadata needs a 'label' column")
    metadata = metadata.reset_index(drop=True).copy()
    files = [f"{IMAGE_DIR}/{i:06d}.{image_format}" for i in range(len(images))]
    metadata.insert(0, "file", files)
    with atomic_dir(folder) as tmp:
        (tmp / IMAGE_DIR).mkdir()
        for name, image in zip(files, images):
            Image.fromarray(image).save(tmp / name)
        metadata.to_csv(tmp / METADATA, index=False)
        if aux:
            for key, value in aux.items():
                if len(value) != len(images):
                    raise ValueError(f"aux array {key!r} has {len(value)} rows, expected {len(images)}")
            np.savez_compressed(tmp / AUX, **aux)


def read_metadata(folder: str | os.PathLike) -> pd.DataFrame:
    path = Path(folder) / METADATA
    if not path.is_file():
        raise ImageSetError(
            f"{path} does not exist: {folder} is not an image set. Rebuild it with snakemake "
            f"(it is the output of a data or generation rule) or point the config at the right folder."
        )
    metadata = pd.read_csv(path, keep_default_na=False)
    missing = {"file", "label"} - set(metadata.columns)
    if missing:
        raise ImageSetError(f"{path} lacks the column(s) {sorted(missing)}")
    return metadata


def open_image(path: Path) -> Image.Image:
    """Decode one image as an RGB PIL image; a missing, truncated or undecodable file raises ImageSetError naming it."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # convert() decodes the whole file, so a truncated one fails here
    except FileNotFoundError as error:
        raise ImageSetError(f"image file {path} listed in the metadata is missing") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageSetError(
            f"image file {path} is corrupt or truncated ({error}); delete the dataset folder and rerun to rebuild it"
        ) from error


def load_image(path: Path) -> np.ndarray:
    """Decode one image as uint8 RGB H x W x 3 (errors as ``open_image``)."""
    return np.asarray(open_image(path), dtype=np.uint8)


def _read_aux(folder: Path) -> dict[str, np.ndarray]:
    if not (folder / AUX).is_file():
        return {}
    with np.load(folder / AUX) as data:
        return {key: data[key] for key in data.files}


@dataclass
class ImageSetIndex(_Rows):
    """An image set on disk whose images are decoded only when asked for (the streaming readers' source).

    ``paths[i]`` is the file of metadata row ``i``; ``metadata["file"]`` is the id the predictions cache keeps.
    """

    paths: list[Path]
    metadata: pd.DataFrame
    aux: dict[str, np.ndarray] = field(default_factory=dict)

    def open_image(self, row: int) -> Image.Image:
        return open_image(self.paths[row])

    def subset(self, index: np.ndarray) -> "ImageSetIndex":
        index = np.asarray(index, dtype=np.int64)
        return ImageSetIndex(
            paths=[self.paths[i] for i in index],
            metadata=self.metadata.iloc[index].reset_index(drop=True),
            aux={k: v[index] for k, v in self.aux.items()},
        )

    def load(self) -> ImageSet:
        """Every image decoded at its own size into one array; the images must share one size."""
        images = [load_image(path) for path in self.paths]
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            folders = sorted({str(path.parent) for path in self.paths})[:3]
            raise ImageSetError(
                f"the image set in {', '.join(folders)} mixes image sizes {sorted(shapes)[:5]}; an in-memory image "
                f"set must have one size (the streaming readers of synclone.streaming take any sizes)"
            )
        stacked = np.stack(images) if images else np.zeros((0, 0, 0, 3), np.uint8)
        return ImageSet(stacked, self.metadata, self.aux)


def open_imageset(folder: str | os.PathLike) -> ImageSetIndex:
    """The metadata (and aux arrays) of an image-set folder; images stay on disk until asked for."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    return ImageSetIndex([folder / name for name in metadata["file"]], metadata, _read_aux(folder))


def open_imagesets(folders: Sequence[str | os.PathLike]) -> ImageSetIndex:
    """Several folders (e.g. generation shards) as one set; ``file`` becomes ``<folder name>/<file>``.

    A single folder keeps its ``file`` ids as they are. Aux arrays present in every folder are joined.
    """
    if not folders:
        raise ValueError("no image-set folders given")
    if len(folders) == 1:
        return open_imageset(folders[0])
    parts = [open_imageset(folder) for folder in folders]
    for folder, part in zip(folders, parts):
        part.metadata["file"] = [f"{Path(folder).name}/{name}" for name in part.metadata["file"]]
    keys = set.intersection(*(set(part.aux) for part in parts))
    return ImageSetIndex(
        paths=[path for part in parts for path in part.paths],
        metadata=pd.concat([part.metadata for part in parts], ignore_index=True),
        aux={key: np.concatenate([part.aux[key] for part in parts]) for key in keys},
    )


def read_imageset(folder: str | os.PathLike) -> ImageSet:
    return open_imageset(folder).load()


def read_imagesets(folders: Sequence[str | os.PathLike]) -> ImageSet:
    """Several folders (e.g. generation shards) read as one in-memory set (see ``open_imagesets``)."""
    return open_imagesets(folders).load()
