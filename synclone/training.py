"""Supervised training of a classifier: on an image set in memory or streamed from disk, on one or more processes.

Every knob is a param (``synclone.train_params.DEFAULT_TRAIN_PARAMS``) so that the workflow's train rule reruns
when one changes. Two data paths, picked by the ``augment`` param:

- ``pad_crop`` (small images, the mini world): the set is decoded into memory at the model's input size; each batch
  is cropped after reflect padding and flipped on the device. Shuffling and augmentation draw from one
  ``torch.Generator`` seeded with ``seed``.
- ``rrc`` (ImageNet-style): images are streamed from disk by DataLoader workers, each through a random resized
  crop and flip drawn from a seed of (``seed``, epoch, image), and shuffled by a seed of (``seed``, epoch).

The global RNG (dropout, drop-path) is forked and seeded too, so a seed fixes the run on a given machine.
Under ``torch.distributed`` (``synclone.distributed`` starts one process per GPU) every process takes its share of
each global batch of ``batch_size`` images and DDP averages the gradients, so N processes follow the run of one
(exactly so for models without batch norm, whose statistics stay per process). ``precision`` picks bf16 or fp16
autocast (fp16 with a gradient scaler) or fp32.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from synclone.imageset import ImageSet, ImageSetIndex, open_imagesets
from synclone.predict import predict_logits, to_unit_float
from synclone.seeding import derive_seed
from synclone.train_params import resolve_train_params

logger = logging.getLogger(__name__)

# Inputs above this side are ImageNet-style (random resized crops of larger photos), up to it CIFAR-style.
RRC_MIN_SIDE = 64
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


def guarded_step(loss: torch.Tensor, optimizer, schedule, what: str, at: str, fix: str, scaler=None) -> None:
    """One optimizer and schedule step on ``loss``; a NaN or infinite loss raises TrainingDivergedError saying
    ``what`` diverged, ``at`` which step, the lr, and the ``fix``. ``scaler``: an AMP GradScaler, if any."""
    if not torch.isfinite(loss):
        raise TrainingDivergedError(f"{what} diverged: loss {loss.item()} at {at} "
                                    f"(lr {schedule.get_last_lr()[0]:.3g}); {fix}")
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    schedule.step()


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where bf16 matrix units exist (AVX512-BF16/AMX CPUs, Ampere+ GPUs), else ``fp32``.

    Emulated bf16 would be slower than fp32, which is why it is not simply always on.
    """
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a GPU (its gradient scaler is CUDA's); use bf16 or fp32 on a CPU")
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


def resolve_augment(augment: str, input_side: int) -> str:
    """``auto`` -> ``rrc`` for inputs larger than ``RRC_MIN_SIDE`` px, else ``pad_crop``."""
    if augment != "auto":
        return augment
    return "rrc" if input_side > RRC_MIN_SIDE else "pad_crop"


def _process_group() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless ``torch.distributed`` is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _pad_crop_batches(images: torch.Tensor, labels: torch.Tensor, params: Mapping[str, Any], batch_size: int,
                      steps: int, generator: torch.Generator, device: torch.device, part: slice) -> Iterator:
    """One epoch of in-memory batches: a global batch is drawn and augmented whole (the same on every process),
    then this process keeps its ``part`` of it."""
    order = torch.randperm(len(images), generator=generator)
    for step in range(steps):
        index = order[step * batch_size : (step + 1) * batch_size]
        batch = to_unit_float(images[index], device)
        if params["crop_padding"] or params["hflip"]:
            batch = random_crop_flip(batch, int(params["crop_padding"]), bool(params["hflip"]), generator)
        yield batch[part], labels[index][part].to(device)


def _rrc_batches(source: ImageSet | ImageSetIndex, model: nn.Module, params: Mapping[str, Any], batch_size: int,
                 steps: int, seed: int, epoch: int, device: torch.device, part: slice, workers: int) -> Iterator:
    """One epoch of streamed batches: this process's ``part`` of each global batch of a seeded shuffle."""
    from synclone.streaming import TrainImages, TrainTransform, make_loader

    order = torch.randperm(len(source), generator=torch.Generator().manual_seed(derive_seed(seed, "order", epoch)))
    shares = [order[step * batch_size : (step + 1) * batch_size][part] for step in range(steps)]
    keys = [(epoch, int(row)) for share in shares for row in share]
    transform = TrainTransform(model.preprocess, params["rrc_scale"], params["rrc_ratio"], params["hflip"])
    loader = make_loader(TrainImages(source, transform, seed), part.stop - part.start, device, workers, sampler=keys)
    for images, targets in loader:
        yield to_unit_float(images, device), targets.to(device, non_blocking=True)


def _input_side(model: nn.Module, train_set: ImageSet | ImageSetIndex) -> int:
    preprocess = getattr(model, "preprocess", None)
    if preprocess is not None:
        return max(preprocess.input_size[1:])
    if isinstance(train_set, ImageSet):
        return max(train_set.images.shape[1:3])
    raise ValueError("a model without a .preprocess (not a ClassifierWrapper) trains only on an in-memory ImageSet")


def train_classifier(
    model: nn.Module,
    train_set: ImageSet | ImageSetIndex,
    params: Mapping[str, Any] | None,
    seed: int,
    device: str | torch.device = "cpu",
    val_set: ImageSet | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """Train ``model`` (a [0, 1]-in wrapper already on ``device``) in place; returns the history.

    ``train_set`` is an in-memory ``ImageSet`` or an ``ImageSetIndex`` (files, decoded as needed: into memory for
    ``pad_crop``, by ``workers`` loader processes for ``rrc``). The history holds the resolved params, the
    augmentation and, per epoch, mean loss, train accuracy (on augmented images), learning rate at the end,
    images/s and, with ``val_set``, validation accuracy. The model ends in eval mode.
    """
    params = resolve_train_params(params)
    device = torch.device(device)
    precision = resolve_precision(params["precision"], device)
    augment = resolve_augment(params["augment"], _input_side(model, train_set))
    rank, world = _process_group()
    if len(train_set) == 0:
        raise ValueError("the training set is empty")
    batch_size = min(int(params["batch_size"]), len(train_set))
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} does not split over {world} processes; use a multiple of {world}")
    part = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
    steps_per_epoch = len(train_set) // batch_size  # the ragged last batch is dropped (BatchNorm on 1 image fails)
    total_steps = steps_per_epoch * int(params["epochs"])
    warmup_steps = round(float(params["warmup_epochs"]) * steps_per_epoch)
    labels = torch.tensor(train_set.labels, dtype=torch.long)
    if augment == "pad_crop":
        if isinstance(train_set, ImageSet):
            images = torch.from_numpy(np.ascontiguousarray(train_set.images))
        else:
            from synclone.streaming import load_preprocessed

            images = torch.from_numpy(load_preprocessed(train_set, model.preprocess, workers))

    optimizer = _make_optimizer(model, params)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(warmup_steps, total_steps))
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, Any] = {"params": params, "seed": seed, "precision": precision, "augment": augment,
                               "processes": world, "epochs": []}
    # Batches arrive as NHWC memory (permuted uint8 images), the layout in which convolutions run fastest on CPU.
    model.to(memory_format=torch.channels_last)
    forward = model
    if world > 1:
        forward = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    fork_devices = [device] if device.type == "cuda" else []
    bar = tqdm(total=total_steps, desc="train", unit="step", disable=rank != 0)
    with torch.random.fork_rng(devices=fork_devices), bar:
        torch.manual_seed(seed)
        for epoch in range(int(params["epochs"])):
            model.train()
            start = time.perf_counter()
            if augment == "pad_crop":
                batches = _pad_crop_batches(images, labels, params, batch_size, steps_per_epoch, generator, device,
                                            part)
            else:
                batches = _rrc_batches(train_set, model, params, batch_size, steps_per_epoch, seed, epoch, device,
                                       part, workers)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for step, (batch, targets) in enumerate(batches):
                with torch.autocast(device.type, dtype=AUTOCAST_DTYPES.get(precision), enabled=precision != "fp32"):
                    logits = forward(batch)
                loss = F.cross_entropy(logits.float(), targets, label_smoothing=params["label_smoothing"])
                guarded_step(loss, optimizer, schedule, "training", f"epoch {epoch + 1}, step {step + 1}",
                             "lower params lr or raise warmup_epochs", scaler)
                loss_sum += loss.detach()
                correct += (logits.argmax(1) == targets).sum()
                bar.update()
            if world > 1:  # every process's share: the epoch's numbers are those of the global batches
                dist.all_reduce(loss_sum)
                dist.all_reduce(correct)
                loss_sum /= world
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
            if rank == 0:
                logger.info("epoch %s", " ".join(f"{k}={v:.4g}" for k, v in record.items()))
    model.eval()
    return history


@dataclass(frozen=True)
class TrainJob:
    """Everything a training process needs, as plain data (it travels to ``synclone.distributed`` workers as JSON)."""

    arch: str
    arch_kwargs: dict[str, Any]
    data_dirs: list[str]
    params: dict[str, Any]
    seed: int
    threads: int


def run_train_job(job: TrainJob, device: torch.device, workers: int = 0) -> tuple[nn.Module, dict[str, Any]]:
    """Build ``job.arch`` from the global RNG (seed it first: ``synclone.runtime.setup_torch``) and train it on
    the image sets of ``job.data_dirs``; returns the model (in eval mode, on ``device``) and its history."""
    from synclone.models.classifier import build_classifier

    data = open_imagesets(job.data_dirs)
    rank, world = _process_group()
    if rank == 0:
        logger.info("training %s on %d images from %s (%d process%s)", job.arch, len(data), ", ".join(job.data_dirs),
                    world, "es" if world > 1 else "")
    model = build_classifier(job.arch, arch_kwargs=job.arch_kwargs).to(device)
    return model, train_classifier(model, data, job.params, job.seed, device, workers=workers)
