"""Every hyper-parameter of classifier training, with its default; importable without torch.

The Snakefile validates each model's ``train`` mapping with ``resolve_train_params`` while the DAG is built, so a
typo or a wrong type fails at once, naming the key.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from synclone.config import value_matches

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
    # "pad_crop": in memory, random crop after reflect padding (CIFAR-style, small images); "rrc": streamed from
    # disk, random resized crop to the model's input (ImageNet-style); "auto": rrc for inputs over 64 px
    "augment": "auto",
    "crop_padding": 2,  # pad_crop: random crop after reflect padding by this many pixels (0: off)
    "rrc_scale": [0.08, 1.0],  # rrc: range of the crop's area, as a fraction of the image's (timm's default)
    "rrc_ratio": [0.75, 1.3333333333333333],  # rrc: range of the crop's aspect ratio (timm's default)
    "hflip": False,  # mirrored arrows and crescents are no mini-world images; natural photos want True
    # "bf16" (autocast, fp32 weights), "fp16" (autocast and a grad scaler; GPUs only), "fp32", or "auto": bf16
    # where the hardware has it
    "precision": "auto",
}

OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
AUGMENTS = ("auto", "pad_crop", "rrc")


def resolve_train_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by ``params``; an unknown key or a value of the wrong type is an error."""
    params = dict(params or {})
    unknown = set(params) - set(DEFAULT_TRAIN_PARAMS)
    if unknown:
        raise ValueError(f"unknown training params {sorted(unknown)}; valid: {sorted(DEFAULT_TRAIN_PARAMS)}")
    for key, value in params.items():
        default = DEFAULT_TRAIN_PARAMS[key]
        if not value_matches(value, type(default)):
            raise ValueError(f"{key} must be {type(default).__name__}, got {value!r} ({type(value).__name__})")
    resolved = {**DEFAULT_TRAIN_PARAMS, **params}
    if resolved["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {resolved['optimizer']!r}")
    if resolved["precision"] not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {resolved['precision']!r}")
    if resolved["augment"] not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, got {resolved['augment']!r}")
    for key, upper in (("rrc_scale", 1.0), ("rrc_ratio", math.inf)):
        bounds = resolved[key] = list(resolved[key])
        numbers = len(bounds) == 2 and all(value_matches(value, float) for value in bounds)
        if not numbers or not 0 < bounds[0] <= bounds[1] <= upper:
            limit = " <= 1" if upper == 1.0 else ""
            raise ValueError(f"{key} must be [low, high] with 0 < low <= high{limit}, got {bounds!r}")
    if resolved["epochs"] < 1 or resolved["batch_size"] < 1 or resolved["lr"] <= 0:
        raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
    return resolved
