"""Batched prediction: logits for images, for several views of them (corruptions...) in one pass.

The images come as an in-memory array or as a stream of batches (``synclone.streaming`` decodes image sets
from disk through each model's own preprocessing); either way each batch is read once for every view.

A view's transform is called as ``transform(batch, rows)``: ``batch`` is the float B x 3 x H x W batch in
[0, 1] on the device, ``rows`` the ``slice`` of the image array it holds, so a transform can take per-image
inputs (the renderer's depth maps, per-image seeds) as ``depth[rows]``.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

ViewTransform = Callable[[torch.Tensor, slice], torch.Tensor]


def to_unit_float(batch: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """uint8 B x H x W x 3 -> float B x 3 x H x W in [0, 1] on ``device`` (converted after the copy: 4x less)."""
    return batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)


def _unit_batch(batch: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """A uint8 B x H x W x 3 or float B x 3 x H x W batch as float B x 3 x H x W in [0, 1] on ``device``."""
    if batch.dtype == torch.uint8:
        return to_unit_float(batch, device)
    return batch.to(device, torch.float32, non_blocking=True)


def _check_images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 N x H x W x 3 or float N x 3 x H x W images as a tensor; anything else raises ValueError."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if images.ndim != 4:
        raise ValueError(f"images must be a 4-d array, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        if images.shape[-1] != 3:
            raise ValueError(f"uint8 images must be N x H x W x 3, got shape {tuple(images.shape)}")
    elif images.is_floating_point():
        if images.shape[1] != 3:
            raise ValueError(f"float images must be N x 3 x H x W in [0, 1], got shape {tuple(images.shape)}")
    else:
        raise ValueError(f"images must be uint8 (N x H x W x 3) or float (N x 3 x H x W), got {images.dtype}")
    if len(images) == 0:
        raise ValueError("no images to predict")
    return images


def predict_batches(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    views: Mapping[str, ViewTransform | None],
    device: str | torch.device = "cpu",
    total: int | None = None,
    desc: str = "predict",
) -> dict[str, np.ndarray]:
    """Float32 N x C logits of every view (``None`` = the images as they are) of consecutive batches.

    ``batches`` yields uint8 B x H x W x 3 or float B x 3 x H x W CPU tensors in row order (an array's slices,
    or a ``synclone.streaming`` loader); a view's transform gets the ``slice`` of rows its batch holds.
    ``model`` must already be on ``device``; it is put in eval mode. Each transform gets its own copy of the
    batch, so an in-place transform cannot leak into the next view.
    """
    model.eval()
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in views}
    start = 0
    with torch.inference_mode():
        for batch in tqdm(batches, desc=desc, unit="batch", total=total):
            rows = slice(start, start + len(batch))
            start = rows.stop
            batch = _unit_batch(batch, device)
            for name, transform in views.items():
                view = batch if transform is None else transform(batch.clone(), rows)
                outputs[name].append(model(view).float().cpu().numpy())
    if start == 0:
        raise ValueError("no images to predict")
    return {name: np.concatenate(parts) for name, parts in outputs.items()}


def predict_views(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    views: Mapping[str, ViewTransform | None],
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    desc: str = "predict",
) -> dict[str, np.ndarray]:
    """``predict_batches`` over the rows of an in-memory array (uint8 N x H x W x 3 or float N x 3 x H x W)."""
    images = _check_images(images)
    starts = range(0, len(images), batch_size)
    batches = (images[start : start + batch_size] for start in starts)
    return predict_batches(model, batches, views, device, len(starts), desc)


def predict_logits(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    transform: ViewTransform | None = None,
    desc: str = "predict",
) -> np.ndarray:
    """Float32 N x C logits of ``images`` (uint8 N x H x W x 3, or float N x 3 x H x W in [0, 1])."""
    return predict_views(model, images, {"logits": transform}, batch_size, device, desc)["logits"]
