"""Supervised training of a classifier on an in-memory image set.

Every knob is a param (``DEFAULT_TRAIN_PARAMS``) so that the workflow's train rule reruns when one changes.
Shuffling and augmentation draw from one ``torch.Generator`` seeded with ``seed``, and the global RNG
(dropout, drop-path) is forked and seeded too, so a seed fixes the run on a given machine.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from synclone.imageset import ImageSet
from synclone.predict import predict_logits, to_unit_float

logger = logging.getLogger(__name__)

# Defaults: what trains the mini world's ``mini_resnet`` (>= 96% test accuracy in 6 epochs on 10k images).
DEFAULT_TRAIN_PARAMS: dict[str, Any] = {
    "epochs": 6,
    "batch_size": 128,
    "optimizer": "adamw",  # or "sgd" (Nesterov momentum)
    "lr": 4e-3,  # peak, reached after the warmup, then cosine decay to 0
    "momentum": 0.9,  # sgd only
    "weight_decay": 0.05,  # on weight matrices and kernels only (not norms, biases, embeddings)
    "warmup_epochs": 0.5,
    "label_smoothing": 0.1,
    "crop_padding": 2,  # random crop after reflect padding by this many pixels (0: off)
    "hflip": False,  # mirrored arrows and crescents are no mini-world images; natural photos want True
    "precision": "auto",  # "bf16" (autocast, fp32 weights), "fp32", or "auto": bf16 where the hardware has it
}


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


def resolve_train_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by ``params``; an unknown key (a typo in the config) is an error."""
    params = dict(params or {})
    unknown = set(params) - set(DEFAULT_TRAIN_PARAMS)
    if unknown:
        raise ValueError(f"unknown training params {sorted(unknown)}; valid: {sorted(DEFAULT_TRAIN_PARAMS)}")
    resolved = {**DEFAULT_TRAIN_PARAMS, **params}
    if resolved["optimizer"] not in ("adamw", "sgd"):
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {resolved['optimizer']!r}")
    if resolved["precision"] not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {resolved['precision']!r}")
    return resolved


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where bf16 matrix units exist (AVX512-BF16/AMX CPUs, Ampere+ GPUs), else ``fp32``.

    Emulated bf16 would be slower than fp32, which is why it is not simply always on.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return "bf16" if native else "fp32"


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # Norm scales, biases, layer scales and position/class embeddings are not weights to shrink (timm, DeiT).
    skip = set()
    for prefix, module in model.named_modules():
        if hasattr(module, "no_weight_decay"):
            skip |= {f"{prefix}.{name}" if prefix else name for name in module.no_weight_decay()}
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 or name in skip else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _make_optimizer(model: nn.Module, params: Mapping[str, Any]) -> torch.optim.Optimizer:
    groups = _param_groups(model, params["weight_decay"])
    if params["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=params["lr"], momentum=params["momentum"], nesterov=True)
    return torch.optim.AdamW(groups, lr=params["lr"])


def _warmup_cosine(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def random_crop_flip(images: torch.Tensor, padding: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Per-image random crop (after reflect padding) and horizontal flip of a B x C x H x W batch, as one gather.

    Offsets and flips come from the CPU ``generator``, so they do not depend on the device.
    """
    b, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding,) * 4, mode="reflect") if padding else images
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(device)
    rows = offsets[0, :, None] + torch.arange(h, device=device)
    cols = offsets[1, :, None] + torch.arange(w, device=device)
    if hflip:
        flip = (torch.rand(b, generator=generator) < 0.5).to(device)
        cols = torch.where(flip[:, None], cols.flip(-1), cols)
    batch_index = torch.arange(b, device=device)[:, None, None, None]
    channel_index = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch_index, channel_index, rows[:, None, :, None], cols[:, None, None, :]]


def train_classifier(
    model: nn.Module,
    train_set: ImageSet,
    params: Mapping[str, Any] | None,
    seed: int,
    device: str | torch.device = "cpu",
    val_set: ImageSet | None = None,
) -> dict[str, Any]:
    """Train ``model`` (a [0, 1]-in wrapper already on ``device``) in place; returns the history.

    The history holds the resolved params and, per epoch, mean loss, train accuracy (on augmented images),
    learning rate at the end, images/s and, with ``val_set``, validation accuracy. The model ends in eval mode.
    """
    params = resolve_train_params(params)
    device = torch.device(device)
    precision = resolve_precision(params["precision"], device)
    images = torch.from_numpy(np.ascontiguousarray(train_set.images))
    labels = torch.tensor(train_set.labels)
    if len(images) == 0:
        raise ValueError("the training set is empty")
    batch_size = min(int(params["batch_size"]), len(images))
    steps_per_epoch = len(images) // batch_size  # the ragged last batch is dropped (BatchNorm on 1 image fails)
    total_steps = steps_per_epoch * int(params["epochs"])
    warmup_steps = round(float(params["warmup_epochs"]) * steps_per_epoch)

    optimizer = _make_optimizer(model, params)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(warmup_steps, total_steps))
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, Any] = {"params": params, "seed": seed, "precision": precision, "epochs": []}
    # Batches arrive as NHWC memory (permuted uint8 images), the layout in which convolutions run fastest on CPU.
    model.to(memory_format=torch.channels_last)

    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices), tqdm(total=total_steps, desc="train", unit="step") as bar:
        torch.manual_seed(seed)
        for epoch in range(int(params["epochs"])):
            model.train()
            start = time.perf_counter()
            order = torch.randperm(len(images), generator=generator)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for step in range(steps_per_epoch):
                index = order[step * batch_size : (step + 1) * batch_size]
                batch = to_unit_float(images[index], device)
                if params["crop_padding"] or params["hflip"]:
                    batch = random_crop_flip(batch, int(params["crop_padding"]), bool(params["hflip"]), generator)
                targets = labels[index].to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                    logits = model(batch)
                loss = F.cross_entropy(logits.float(), targets, label_smoothing=params["label_smoothing"])
                if not torch.isfinite(loss):
                    raise TrainingDivergedError(
                        f"training diverged: loss {loss.item()} at epoch {epoch + 1}, step {step + 1} "
                        f"(lr {schedule.get_last_lr()[0]:.3g}); lower params lr or raise warmup_epochs"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                loss_sum += loss.detach()
                correct += (logits.argmax(1) == targets).sum()
                bar.update()
            seen = steps_per_epoch * batch_size
            record = {
                "epoch": epoch + 1,
                "loss": loss_sum.item() / steps_per_epoch,
                "acc": correct.item() / seen,
                "lr": schedule.get_last_lr()[0],
                "images_per_s": seen / (time.perf_counter() - start),
            }
            if val_set is not None:
                val_logits = predict_logits(model, val_set.images, batch_size=256, device=device, desc="val")
                record["val_acc"] = float((val_logits.argmax(1) == val_set.labels).mean())
            history["epochs"].append(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['acc']:.3f}")
            logger.info("epoch %s", " ".join(f"{k}={v:.4g}" for k, v in record.items()))
    model.eval()
    return history
