"""Streaming image sets: images decoded one at a time through a model's own preprocessing, batched by a DataLoader.

ImageNet val (50,000 JPEGs of many sizes) or a 1.3M-image synthetic training set do not fit in memory as one
array, and need resizing to the model's input anyway. A source (``ImageSetIndex``: files on disk, or an in-memory
``ImageSet``) hands out PIL images; the transforms below turn each into a uint8 H x W x 3 array at the model's
input size, so batches travel as uint8 (pinned on a GPU) and become [0, 1] floats on the device
(``synclone.predict.to_unit_float``), as in-memory arrays do.

Evaluation geometry is timm's eval transform (``transforms_imagenet_eval``) for the model's ``Preprocess``: resize
to ``input_size / crop_pct`` (shorter side for ``center``, both sides for ``squash``, longer side for ``border``)
with the model's interpolation, then a centre crop (``border``: pad with the mean colour first). An image already
at the model's input size is used as it is: protocol.md's rule for ImageNet-C and cue-conflict (224 px), which
timm's transform would enlarge and crop again.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Protocol, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from synclone.models.registry import Preprocess
from synclone.predict import ViewTransform, predict_batches
from synclone.seeding import derive_seed


class ImageSource(Protocol):
    """What the streaming readers read: ``ImageSetIndex`` (files) or ``ImageSet`` (memory)."""

    def __len__(self) -> int: ...

    @property
    def labels(self) -> np.ndarray: ...

    def open_image(self, row: int) -> Image.Image: ...


def _input_hw(preprocess: Preprocess) -> tuple[int, int]:
    _, height, width = preprocess.input_size
    return int(height), int(width)


def _torchvision():
    """torchvision's transforms, imported only to resize: importing it takes seconds, which every mini-world job
    (whose images are at the models' input size) would pay."""
    import torchvision.transforms as transforms
    import torchvision.transforms.functional as functional

    return transforms, functional


def _uint8(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image, dtype=np.uint8))  # a writable copy: PIL's own buffer is read-only


class EvalTransform:
    """PIL image -> uint8 H x W x 3 tensor at the model's input size, by its evaluation preprocessing."""

    def __init__(self, preprocess: Preprocess):
        if preprocess.crop_mode not in ("center", "squash", "border"):
            raise ValueError(f"unknown crop_mode {preprocess.crop_mode!r}; valid: center, squash, border")
        self.preprocess = preprocess
        self.size = _input_hw(preprocess)
        self.fill = tuple(round(255 * value) for value in preprocess.mean)  # timm's border colour

    def resize_size(self, height: int, width: int) -> list[int] | int | None:
        """The ``TF.resize`` size for an image of ``height`` x ``width`` (an int: its shorter side); None: as is."""
        if (height, width) == self.size:
            return None
        crop_pct, mode = self.preprocess.crop_pct, self.preprocess.crop_mode
        scale_h, scale_w = (math.floor(side / crop_pct) for side in self.size)
        if mode == "squash":
            return [scale_h, scale_w]
        if mode == "center" and scale_h == scale_w:
            return scale_h  # torchvision's shorter-side rounding, as timm's square case
        ratio = (max if mode == "border" else min)(height / scale_h, width / scale_w)
        return [round(height / ratio), round(width / ratio)]

    def __call__(self, image: Image.Image) -> torch.Tensor:
        size = self.resize_size(image.height, image.width)
        if size is None:
            return _uint8(image)
        transforms, TF = _torchvision()
        image = TF.resize(image, size, transforms.InterpolationMode(self.preprocess.interpolation))
        if self.preprocess.crop_mode == "border":
            height, width = self.size
            pad_h, pad_w = max(0, height - image.height), max(0, width - image.width)
            if pad_h or pad_w:
                padding = [pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2]
                image = TF.pad(image, padding, fill=self.fill)
        return _uint8(TF.center_crop(image, list(self.size)))


class TrainTransform:
    """(PIL image, seed) -> uint8 H x W x 3 tensor: random resized crop to the model's input size, random flip.

    The crop is torchvision's (= timm's) ``RandomResizedCrop`` with ``scale`` and ``ratio``, resized with the
    model's interpolation. Its draws come from ``seed`` alone, so an image's augmentation does not depend on
    which worker or rank decodes it.
    """

    def __init__(self, preprocess: Preprocess, scale: Sequence[float], ratio: Sequence[float], hflip: bool):
        self.size = list(_input_hw(preprocess))
        self.interpolation = preprocess.interpolation
        self.scale, self.ratio, self.hflip = tuple(scale), tuple(ratio), bool(hflip)

    def __call__(self, image: Image.Image, seed: int) -> torch.Tensor:
        transforms, TF = _torchvision()
        with torch.random.fork_rng(devices=[]):  # get_params draws from the global RNG: keep it untouched
            torch.manual_seed(seed)
            top, left, height, width = transforms.RandomResizedCrop.get_params(image, self.scale, self.ratio)
            flip = self.hflip and bool(torch.rand(()) < 0.5)
        interpolation = transforms.InterpolationMode(self.interpolation)
        image = TF.resized_crop(image, top, left, height, width, self.size, interpolation)
        return _uint8(TF.hflip(image) if flip else image)


class EvalImages(Dataset):
    """Row ``i`` of a source -> its uint8 H x W x 3 tensor after the evaluation transform."""

    def __init__(self, source: ImageSource, preprocess: Preprocess):
        self.source, self.transform = source, EvalTransform(preprocess)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, row: int) -> torch.Tensor:
        return self.transform(self.source.open_image(row))


class TrainImages(Dataset):
    """Key ``(epoch, i)`` -> (augmented uint8 H x W x 3 tensor of row ``i``, its label), seeded per (epoch, row)."""

    def __init__(self, source: ImageSource, transform: TrainTransform, seed: int):
        self.source, self.transform, self.seed = source, transform, int(seed)
        self.labels = torch.tensor(source.labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, row = key
        image = self.transform(self.source.open_image(row), derive_seed(self.seed, "augment", epoch, row))
        return image, self.labels[row]


def make_loader(dataset: Dataset, batch_size: int, device: str | torch.device, workers: int = 0,
                sampler: Sequence | None = None, drop_last: bool = False) -> DataLoader:
    """Batches in order (or in ``sampler``'s order), decoded by ``workers`` processes (0: in this one), pinned
    for a fast copy to a GPU."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
        drop_last=drop_last,
        prefetch_factor=4 if workers else None,
        # DataLoader otherwise draws its worker seeds from the global RNG, which would shift model inits and
        # dropout; nothing it seeds is random here (every augmentation is seeded per image).
        generator=torch.Generator().manual_seed(0),
    )


def loader_workers(threads: int, device: torch.device) -> int:
    """Decoding processes for a job of ``threads`` CPUs: on a GPU all but the one that feeds it; on a CPU none,
    the threads run the model (decoding 32 px PNGs inline costs about what reading them into memory did)."""
    return max(0, int(threads) - 1) if torch.device(device).type == "cuda" else 0


class PreprocessedImages:
    """A source as a lazy uint8 N x H x W x 3 array at the model's input size: ``images[a:b]`` decodes rows a..b
    (with ``threads`` decoding threads; PIL releases the GIL), for code that slices arrays (the attacks)."""

    def __init__(self, source: ImageSource, preprocess: Preprocess, threads: int = 1):
        self.dataset = EvalImages(source, preprocess)
        self.threads = max(1, int(threads))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, rows: slice) -> torch.Tensor:
        index = range(len(self))[rows]
        if self.threads == 1:
            return torch.stack([self.dataset[i] for i in index])
        with ThreadPoolExecutor(self.threads) as pool:
            return torch.stack(list(pool.map(self.dataset.__getitem__, index)))


def load_preprocessed(source: ImageSource, preprocess: Preprocess, workers: int = 0,
                      batch_size: int = 512) -> np.ndarray:
    """Every image of ``source`` at the model's input size, in memory: uint8 N x H x W x 3."""
    loader = make_loader(EvalImages(source, preprocess), batch_size, "cpu", workers)
    return torch.cat(list(loader)).numpy() if len(source) else np.zeros((0, *_input_hw(preprocess), 3), np.uint8)


def predict_imageset_views(model: nn.Module, source: ImageSource, views: Mapping[str, ViewTransform | None],
                           batch_size: int = 256, device: str | torch.device = "cpu", workers: int = 0,
                           desc: str = "predict") -> dict[str, np.ndarray]:
    """``synclone.predict.predict_batches`` over a source streamed through ``model.preprocess`` (a
    ``ClassifierWrapper``'s); rows and batches are those of an in-memory array of the same images."""
    if len(source) == 0:
        raise ValueError("no images to predict")
    loader = make_loader(EvalImages(source, model.preprocess), batch_size, device, workers)
    return predict_batches(model, loader, views, device, total=len(loader), desc=desc)


def predict_imageset(model: nn.Module, source: ImageSource, batch_size: int = 256,
                     device: str | torch.device = "cpu", workers: int = 0, desc: str = "predict") -> np.ndarray:
    """Float32 N x C logits of every image of ``source`` (see ``predict_imageset_views``)."""
    return predict_imageset_views(model, source, {"logits": None}, batch_size, device, workers, desc)["logits"]

