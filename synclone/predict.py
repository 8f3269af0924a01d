"""Batched prediction: logits for an image array, for several views of it (corruptions...) in one pass.

A view's transform is called as ``transform(batch, rows)``: ``batch`` is the float B x 3 x H x W batch in
[0, 1] on the device, ``rows`` the ``slice`` of the image array it holds, so a transform can take per-image
inputs (the renderer's depth maps, per-image seeds) as ``depth[rows]``.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

ViewTransform = Callable[[torch.Tensor, slice], torch.Tensor]


def to_unit_float(batch: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """uint8 B x H x W x 3 -> float B x 3 x H x W in [0, 1] on ``device`` (converted after the copy: 4x less)."""
    return batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)


def _batch_reader(images: np.ndarray | torch.Tensor, device: str | torch.device):
    """The images as a ``rows -> float batch on device`` function, for uint8 N x H x W x 3 or float N x 3 x H x W."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if images.ndim != 4:
        raise ValueError(f"images must be a 4-d array, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        if images.shape[-1] != 3:
            raise ValueError(f"uint8 images must be N x H x W x 3, got shape {tuple(images.shape)}")
        return lambda rows: to_unit_float(images[rows], device)
    if images.is_floating_point():
        if images.shape[1] != 3:
            raise ValueError(f"float images must be N x 3 x H x W in [0, 1], got shape {tuple(images.shape)}")
        return lambda rows: images[rows].to(device, torch.float32)
    raise ValueError(f"images must be uint8 (N x H x W x 3) or float (N x 3 x H x W), got {images.dtype}")


def predict_views(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    views: Mapping[str, ViewTransform | None],
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    desc: str = "predict",
) -> dict[str, np.ndarray]:
    """Float32 N x C logits of every view (``None`` = the images as they are), reading each batch once.

    ``model`` must already be on ``device``; it is put in eval mode. Each transform gets its own copy of the
    batch, so an in-place transform cannot leak into the next view.
    """
    if len(images) == 0:
        raise ValueError("no images to predict")
    read = _batch_reader(images, device)
    model.eval()
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in views}
    starts = range(0, len(images), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc=desc, unit="batch", total=len(starts)):
            rows = slice(start, min(start + batch_size, len(images)))
            batch = read(rows)
            for name, transform in views.items():
                view = batch if transform is None else transform(batch.clone(), rows)
                outputs[name].append(model(view).float().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in outputs.items()}


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
