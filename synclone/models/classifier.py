"""The [0, 1]-in classifier wrapper, building models from the registry, and classifier checkpoints.

Attacks and corruptions work on [0, 1] pixels, so the model's own normalisation lives inside the wrapper and
nowhere else.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from synclone.io import save_torch
from synclone.models.registry import Preprocess, UnknownArchError, get_arch

CHECKPOINT_FORMAT = "synclone-classifier/1"


class CheckpointError(RuntimeError):
    """A classifier checkpoint that is missing, corrupt or does not match its architecture."""


class ClassifierWrapper(nn.Module):
    """[0, 1] images B x C x H x W -> logits B x num_classes; normalises with the model's own mean and std.

    ``arch`` and ``arch_kwargs`` (the full builder kwargs) are what a checkpoint needs to rebuild the model.
    """

    def __init__(
        self,
        backbone: nn.Module,
        preprocess: Preprocess,
        arch: str,
        arch_kwargs: Mapping[str, Any],
        num_classes: int,
    ):
        super().__init__()
        self.backbone = backbone
        self.preprocess = preprocess
        self.arch = arch
        self.arch_kwargs = dict(arch_kwargs)
        self.num_classes = num_classes
        self.meta: dict[str, Any] = {}  # filled by load_classifier from the checkpoint
        self.register_buffer("mean", torch.tensor(preprocess.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(preprocess.std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone((images - self.mean) / self.std)


def _import_builder(reference: str):
    module_name, _, function_name = reference.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def _preprocess_from_timm(backbone: nn.Module) -> Preprocess:
    from timm.data import resolve_model_data_config

    config = resolve_model_data_config(backbone)
    return Preprocess(
        input_size=tuple(config["input_size"]),
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        interpolation=config["interpolation"],
        crop_pct=config["crop_pct"],
        crop_mode=config["crop_mode"],
    )


def build_classifier(
    arch: str, num_classes: int | None = None, arch_kwargs: Mapping[str, Any] | None = None
) -> ClassifierWrapper:
    """Build registry entry ``arch`` (random or pretrained weights, as its builder does) inside the wrapper.

    ``arch_kwargs`` override the entry's default builder kwargs (e.g. a config's depth or width).
    """
    spec = get_arch(arch)
    kwargs = {**spec.kwargs, **(arch_kwargs or {})}
    num_classes = spec.num_classes if num_classes is None else int(num_classes)
    backbone = _import_builder(spec.builder)(num_classes=num_classes, **kwargs)
    # the registry's recipe, else the model's own (a zero-shot CLIP carries open_clip's), else timm's config
    preprocess = spec.preprocess or getattr(backbone, "preprocess", None) or _preprocess_from_timm(backbone)
    return ClassifierWrapper(backbone, preprocess, arch, kwargs, num_classes)


def save_classifier(path: str | os.PathLike, model: ClassifierWrapper, extra_meta: Mapping[str, Any] | None = None):
    """Write weights plus what rebuilds the model (arch, full kwargs, classes); atomic.

    ``extra_meta`` (training params, history, data fingerprint...) must be plain Python data: checkpoints are
    loaded with ``weights_only=True``.
    """
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "arch": model.arch,
        "arch_kwargs": model.arch_kwargs,
        "num_classes": model.num_classes,
        "state_dict": model.state_dict(),
        "meta": dict(extra_meta or {}),
    }
    save_torch(path, checkpoint)


def load_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> ClassifierWrapper:
    """Rebuild a saved classifier on ``device``, in eval mode; any problem raises ``CheckpointError`` naming the
    file and the fix (rerun the train rule that writes it)."""
    path = Path(path)
    rerun = f"rerun the train rule that writes it (e.g. `snakemake --forcerun {path}`)"
    if not path.is_file():
        raise CheckpointError(f"classifier checkpoint {path} does not exist; {rerun}")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch.load raises many types for truncated or foreign files
        raise CheckpointError(f"classifier checkpoint {path} is corrupt or unreadable ({error}); {rerun}") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a synclone classifier checkpoint ({CHECKPOINT_FORMAT}); {rerun}")
    try:
        model = build_classifier(checkpoint["arch"], checkpoint["num_classes"], checkpoint["arch_kwargs"])
        model.load_state_dict(checkpoint["state_dict"])
    except (UnknownArchError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"classifier checkpoint {path} does not match the current definition of architecture "
            f"{checkpoint['arch']!r} ({error}); {rerun}"
        ) from error
    model.meta = checkpoint["meta"]
    return model.to(device).eval()
