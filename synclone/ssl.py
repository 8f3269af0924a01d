"""Self-supervised pretraining, SynCLR style: SimCLR augmentations and the multi-positive contrastive loss.

SynCLR (Tian et al., CVPR 2024) generates several images per caption and treats every image of a caption as a
positive of every other; the loss is the cross-entropy between the uniform distribution over an anchor's
positives and the softmax of its similarities to all other views. With one pair of views per group it is
SimCLR's NT-Xent. Here a group is a prompt (generated images) or a single image (real images: positives are the
augmented views of the same image).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from synclone.clone_params import SSLParams
from synclone.linear_probe import backbone_features
from synclone.predict import to_unit_float
from synclone.training import _param_groups, guarded_step, _warmup_cosine, resolve_precision

logger = logging.getLogger(__name__)


def multi_positive_loss(embeddings: torch.Tensor, groups: torch.Tensor, temperature: float) -> torch.Tensor:
    """SynCLR's loss over N views: mean over anchors i of H(p_i, q_i), where q_i = softmax_j(cos(z_i, z_j) / t)
    over all j != i and p_i is uniform over the views j != i of the same group."""
    z = F.normalize(embeddings.float(), dim=1)
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))
    positives = (groups[:, None] == groups[None, :]) & ~self_mask
    counts = positives.sum(dim=1)
    if bool((counts == 0).any()):
        raise ValueError("every view needs a positive: a group with one view (use views >= 2)")
    log_q = F.log_softmax(logits, dim=1).masked_fill(self_mask, 0.0)
    return -((positives * log_q).sum(dim=1) / counts).mean()


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_resized_crop(images: torch.Tensor, scale: tuple[float, float], generator: torch.Generator,
                        hflip: bool = False, ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Per image: a crop of ``scale`` of the area and aspect ``ratio``, resized back (bilinear), as one grid sample."""
    b = images.shape[0]
    area = _uniform(b, *scale, generator)
    aspect = torch.exp(_uniform(b, math.log(ratio[0]), math.log(ratio[1]), generator))
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the image side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = (1 - width) * (2 * torch.rand(b, generator=generator) - 1)  # in [-1, 1] grid units
    centre_y = (1 - height) * (2 * torch.rand(b, generator=generator) - 1)
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0) if hflip else torch.ones(b)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


_LUMA = torch.tensor([0.299, 0.587, 0.114])


def _gray(images: torch.Tensor) -> torch.Tensor:
    return (images * _LUMA.to(images.device).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def _rotate_hue(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma plane of YIQ by ``turns`` (fractions of a full turn) per image."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=images.device)
    angle = 2 * math.pi * turns.to(images.device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.zeros(len(turns), 3, 3, device=images.device)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    matrix = torch.linalg.inv(to_yiq) @ rotation @ to_yiq  # B x 3 x 3, acting on RGB
    return torch.einsum("bij,bjhw->bihw", matrix, images)


def colour_augment(images: torch.Tensor, strength: float, jitter_p: float, grayscale_p: float,
                   generator: torch.Generator) -> torch.Tensor:
    """SimCLR's colour distortion on [0, 1] B x 3 x H x W: with ``jitter_p`` brightness, contrast, saturation and
    hue jitter; then with ``grayscale_p`` grey. Every draw comes from ``generator``."""
    b = images.shape[0]
    device = images.device

    def factors() -> torch.Tensor:
        return _uniform(b, 1 - strength, 1 + strength, generator).to(device).view(b, 1, 1, 1)

    jitter = (torch.rand(b, generator=generator) < jitter_p).to(device).view(b, 1, 1, 1)
    out = images * factors()
    mean = _gray(out).mean(dim=(2, 3), keepdim=True)
    out = (out - mean) * factors() + mean
    gray = _gray(out)
    out = (out - gray) * factors() + gray
    out = _rotate_hue(out, _uniform(b, -strength / 4, strength / 4, generator))
    out = torch.where(jitter, out, images).clamp(0, 1)
    grey = (torch.rand(b, generator=generator) < grayscale_p).to(device).view(b, 1, 1, 1)
    return torch.where(grey, _gray(out).expand_as(out), out)


def simclr_views(batch: torch.Tensor, params: SSLParams, generator: torch.Generator) -> torch.Tensor:
    """One augmented view of each image of a [0, 1] batch."""
    view = random_resized_crop(batch, params.crop_scale, generator, params.hflip)
    return colour_augment(view, params.colour_jitter, params.colour_jitter_p, params.grayscale_p, generator)


class ProjectionHead(nn.Module):
    """SimCLR's MLP projection; the loss sees its output, the probe the features before it."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def prompt_groups(metadatas: Sequence[pd.DataFrame]) -> np.ndarray:
    """Group index per image of the concatenated sets: images generated from the same prompt text share one; an
    image without a prompt (a real one) is a group of its own."""
    keys = []
    for part, metadata in enumerate(metadatas):
        if "prompt" in metadata.columns:
            keys += [f"prompt:{text}" for text in metadata["prompt"].astype(str)]
        else:
            keys += [f"image:{part}:{row}" for row in range(len(metadata))]
    return np.unique(np.asarray(keys, dtype=str), return_inverse=True)[1].astype(np.int64)


class _GroupSampler:
    """Batches of ``images_per_group`` images from each of ``batch_size // images_per_group`` groups (SynCLR's
    several images per caption); groups are visited in a fresh random order each pass."""

    def __init__(self, groups: np.ndarray, batch_size: int, images_per_group: int, generator: torch.Generator):
        self.members = [torch.from_numpy(np.flatnonzero(groups == g)) for g in np.unique(groups)]
        self.per_group = images_per_group
        self.groups_per_batch = max(1, batch_size // images_per_group)
        self.generator = generator
        self.queue: list[int] = []

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        chosen, self.queue = self.queue[: self.groups_per_batch], self.queue[self.groups_per_batch :]
        while len(chosen) < self.groups_per_batch:  # a new pass; its first groups are not yet in this batch
            fresh = torch.randperm(len(self.members), generator=self.generator).tolist()
            fresh = [g for g in fresh if g not in chosen] + [g for g in fresh if g in chosen]
            take = self.groups_per_batch - len(chosen)
            chosen, self.queue = chosen + fresh[:take], fresh[take:]
        index, group = [], []
        for g in chosen:
            members = self.members[g]
            if len(members) >= self.per_group:
                pick = members[torch.randperm(len(members), generator=self.generator)[: self.per_group]]
            else:  # a small group repeats members: their views still differ
                pick = members[torch.randint(len(members), (self.per_group,), generator=self.generator)]
            index.append(pick)
            group.append(torch.full((self.per_group,), g))
        return torch.cat(index), torch.cat(group)


class _ImageSampler:
    """Batches of distinct images, a fresh permutation each pass; each image is its own group."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n, self.batch_size, self.generator = n, min(batch_size, n), generator
        self.queue = torch.empty(0, dtype=torch.long)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.queue) < self.batch_size:
            self.queue = torch.cat([self.queue, torch.randperm(self.n, generator=self.generator)])
        index, self.queue = self.queue[: self.batch_size], self.queue[self.batch_size :]
        return index, index.clone()


def pretrain_contrastive(model: nn.Module, images: np.ndarray, groups: np.ndarray | None,
                         params: SSLParams | Mapping[str, Any], seed: int,
                         device: str | torch.device = "cpu") -> dict[str, Any]:
    """Pretrain the backbone of ``model`` (a [0, 1]-in classifier wrapper on ``device``) in place.

    ``groups`` (one index per image) is needed for ``positives: prompt``; with ``positives: image`` it is
    ignored. Returns the history: resolved params, precision and, every ``log_every`` steps, the mean loss and
    the mean number of positives per view. The projection head is dropped; the model ends in eval mode.
    """
    params = params if isinstance(params, SSLParams) else SSLParams.from_dict(params)
    device = torch.device(device)
    precision = resolve_precision(params.precision, device)
    source = torch.from_numpy(np.ascontiguousarray(images))
    if len(source) < 2:
        raise ValueError(f"contrastive pretraining needs at least 2 images, got {len(source)}")
    generator = torch.Generator().manual_seed(seed)
    if params.positives == "prompt":
        if groups is None or len(groups) != len(source):
            raise ValueError("positives 'prompt' needs one group (prompt) per image")
        sample = _GroupSampler(np.asarray(groups), params.batch_size, params.images_per_group, generator)
    else:
        sample = _ImageSampler(len(source), params.batch_size, generator)

    with torch.no_grad():
        feature_dim = backbone_features(model.eval(), torch.zeros(2, *model.preprocess.input_size, device=device)).shape[1]
    head = ProjectionHead(feature_dim, params.projection_hidden, params.projection_dim).to(device)
    model.to(memory_format=torch.channels_last)  # convolutions run fastest on NHWC memory on CPU
    trained = nn.ModuleList([model.backbone, head])
    optimizer = torch.optim.AdamW(_param_groups(trained, params.weight_decay), lr=params.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(params.warmup_steps, params.steps))
    history: dict[str, Any] = {"params": params.to_dict(), "seed": seed, "precision": precision, "log": []}
    fork_devices = [device] if device.type == "cuda" else []
    window_loss, window_positives, start = 0.0, 0.0, time.perf_counter()
    with torch.random.fork_rng(devices=fork_devices), tqdm(total=params.steps, desc="pretrain", unit="step") as bar:
        torch.manual_seed(seed)
        model.train()
        head.train()
        for step in range(1, params.steps + 1):
            index, group = sample()
            batch = to_unit_float(source[index], device)
            views = torch.cat([simclr_views(batch, params, generator) for _ in range(params.views)])
            view_groups = group.repeat(params.views).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                embeddings = head(backbone_features(model, views.contiguous(memory_format=torch.channels_last)))
            loss = multi_positive_loss(embeddings, view_groups, params.temperature)
            guarded_step(loss, optimizer, schedule, "contrastive pretraining", f"step {step}", "lower train.lr")
            window_loss += loss.item()
            window_positives += float(((view_groups[:, None] == view_groups[None, :]).sum(1) - 1).float().mean())
            bar.update()
            if step % params.log_every == 0 or step == params.steps:
                count = step - (len(history["log"]) * params.log_every)
                record = {"step": step, "loss": window_loss / count, "positives_per_view": window_positives / count,
                          "lr": schedule.get_last_lr()[0],
                          "views_per_s": count * len(views) / (time.perf_counter() - start)}
                history["log"].append(record)
                bar.set_postfix(loss=f"{record['loss']:.3f}")
                logger.info("pretrain %s", " ".join(f"{k}={v:.4g}" for k, v in record.items()))
                window_loss, window_positives, start = 0.0, 0.0, time.perf_counter()
    model.eval()
    return history
