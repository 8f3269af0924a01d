"""Every hyper-parameter of classifier training, with its default; importable without torch.

The Snakefile validates each model's ``train`` mapping with ``resolve_train_params`` while the DAG is built, so a
typo or a wrong type fails at once, naming the key.
"""

from __future__ import annotations

from typing import Any, Mapping

DEFAULT_TRAIN_PARAMS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 128,
    "optimizer": "adamw",  # or "sgd" (Nesterov momentum)
    "lr": 2e-3,  # peak, reached after the warmup, then cosine decay to 0
    "momentum": 0.9,  # sgd only
    "weight_decay": 0.05,  # on weight matrices and kernels only (not norms, biases, embeddings)
    "warmup_epochs": 1.0,
    "label_smoothing": 0.1,
    "crop_padding": 4,  # random crop after reflect padding by this many pixels (0: off)
    "hflip": True,
    "grad_clip_norm": 0.0,  # 0: off
}

OPTIMIZERS = ("adamw", "sgd")


def _type_matches(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def resolve_train_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by ``params``; an unknown key or a value of the wrong type is an error."""
    params = dict(params or {})
    unknown = set(params) - set(DEFAULT_TRAIN_PARAMS)
    if unknown:
        raise ValueError(f"unknown training params {sorted(unknown)}; valid: {sorted(DEFAULT_TRAIN_PARAMS)}")
    for key, value in params.items():
        default = DEFAULT_TRAIN_PARAMS[key]
        if not _type_matches(value, default):
            raise ValueError(f"{key} must be {type(default).__name__}, got {value!r} ({type(value).__name__})")
    resolved = {**DEFAULT_TRAIN_PARAMS, **params}
    if resolved["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {resolved['optimizer']!r}")
    if resolved["epochs"] < 1 or resolved["batch_size"] < 1 or resolved["lr"] <= 0:
        raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
    return resolved
