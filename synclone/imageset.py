"""Image sets on disk: a folder of image files plus ``metadata.csv`` (file, label, attributes).

Every dataset of the workflow (rendered, generated or downloaded) uses this layout, so loaders, training and
prediction never care where images came from. Optional per-image arrays (the renderer's exact depth and
foreground mask) live in ``aux.npz``, in the row order of ``metadata.csv``.
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


@dataclass
class ImageSet:
    images: np.ndarray  # uint8, N x H x W x 3
    metadata: pd.DataFrame  # one row per image, columns include ``file`` and ``label``
    aux: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.metadata)

    @property
    def labels(self) -> np.ndarray:
        return self.metadata["label"].to_numpy(dtype=np.int64)

    @property
    def ids(self) -> np.ndarray:
        return self.metadata["file"].to_numpy(dtype=str)

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


def load_image(path: Path) -> np.ndarray:
    """Decode one image as uint8 RGB; a missing, truncated or undecodable file raises ImageSetError naming it."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError as error:
        raise ImageSetError(f"image file {path} listed in the metadata is missing") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageSetError(
            f"image file {path} is corrupt or truncated ({error}); delete the dataset folder and rerun to rebuild it"
        ) from error


def read_imageset(folder: str | os.PathLike) -> ImageSet:
    folder = Path(folder)
    metadata = read_metadata(folder)
    images = [load_image(folder / name) for name in metadata["file"]]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ImageSetError(f"{folder} mixes image sizes {sorted(shapes)}; an image set must have one size")
    stacked = np.stack(images) if images else np.zeros((0, 0, 0, 3), np.uint8)
    aux: dict[str, np.ndarray] = {}
    if (folder / AUX).is_file():
        with np.load(folder / AUX) as data:
            aux = {key: data[key] for key in data.files}
    return ImageSet(stacked, metadata, aux)


def concat_imagesets(sets: Sequence[ImageSet]) -> ImageSet:
    """Join shards; ``file`` keeps each shard's relative path, so ids stay unique only with ``shard`` columns."""
    if not sets:
        raise ValueError("no image sets to concatenate")
    keys = set(sets[0].aux)
    aux = {k: np.concatenate([s.aux[k] for s in sets]) for k in keys if all(k in s.aux for s in sets)}
    return ImageSet(
        images=np.concatenate([s.images for s in sets]),
        metadata=pd.concat([s.metadata for s in sets], ignore_index=True),
        aux=aux,
    )


def read_imagesets(folders: Sequence[str | os.PathLike]) -> ImageSet:
    """Read several folders (e.g. generation shards) as one set; ``file`` becomes ``<folder name>/<file>``."""
    sets = []
    for folder in folders:
        part = read_imageset(folder)
        part.metadata["file"] = [f"{Path(folder).name}/{name}" for name in part.metadata["file"]]
        sets.append(part)
    return concat_imagesets(sets)
