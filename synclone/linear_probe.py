"""Linear probing: a linear classifier on a frozen encoder's features, its learning rate chosen on held-out data.

As for SynCLR in the paper, several learning rates are tried; each head is trained on the labelled set minus a
stratified held-out part and scored on that part, and the best one is kept. The test split never enters: the
train rule does not even read it. The kept head (features standardised, then linear) is folded into the
backbone's own classifier layer, so the probed model is a plain classifier checkpoint.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from synclone.clone_params import ProbeParams
from synclone.predict import to_unit_float

logger = logging.getLogger(__name__)


def backbone_features(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Pooled pre-logit features of a [0, 1]-in classifier wrapper around a timm backbone (normalised inside)."""
    backbone = model.backbone
    return backbone.forward_head(backbone.forward_features((batch - model.mean) / model.std), pre_logits=True)


def extract_features(model: nn.Module, images: np.ndarray, batch_size: int = 512,
                     device: str | torch.device = "cpu") -> np.ndarray:
    """Float32 N x D features of uint8 N x H x W x 3 images, the model in eval mode (BatchNorm's running stats)."""
    model.eval()
    source = torch.from_numpy(np.ascontiguousarray(images))
    parts = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(source), batch_size), desc="features", unit="batch"):
            batch = to_unit_float(source[start : start + batch_size], device)
            parts.append(backbone_features(model, batch).float().cpu().numpy())
    return np.concatenate(parts)


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, holdout) sorted index arrays: ``fraction`` of each class (at least one image) is held out."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            raise ValueError(f"class {label} has {len(members)} labelled image(s); a held-out split needs >= 2")
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        held.append(rng.choice(members, size=count, replace=False))
    holdout = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(labels)), holdout), holdout


def train_linear_head(features: np.ndarray, labels: np.ndarray, num_classes: int, lr: float,
                      params: ProbeParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight C x D, bias C) of a softmax classifier trained by SGD (momentum, cosine decay) from zeros.

    Features are used as given; standardise them first so that one learning-rate grid fits every encoder.
    """
    x = torch.from_numpy(np.asarray(features, np.float32))
    y = torch.from_numpy(np.asarray(labels, np.int64))
    head = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=params.momentum, weight_decay=params.weight_decay)
    steps_per_epoch = -(-len(x) // params.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=params.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(params.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), params.batch_size):
            index = order[start : start + params.batch_size]
            loss = F.cross_entropy(head(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return head.weight.detach().numpy().copy(), head.bias.detach().numpy().copy()


def _accuracy(weight: np.ndarray, bias: np.ndarray, features: np.ndarray, labels: np.ndarray) -> float:
    return float(((features @ weight.T + bias).argmax(axis=1) == labels).mean())


def sweep_learning_rates(fit_features: np.ndarray, fit_labels: np.ndarray, holdout_features: np.ndarray,
                         holdout_labels: np.ndarray, num_classes: int, params: ProbeParams,
                         seed: int) -> dict[str, Any]:
    """Train one head per learning rate on the fit part; keep the one most accurate on the held-out part.

    Returns ``best_lr``, ``holdout_accuracy`` (lr -> accuracy, in the order tried), ``fit_accuracy`` and the kept
    ``weight`` / ``bias``. Ties go to the smaller learning rate (the grid's order does not matter).
    """
    tried: dict[float, tuple[float, float, np.ndarray, np.ndarray]] = {}
    for lr in tqdm(params.lrs, desc="probe lrs", unit="lr"):
        weight, bias = train_linear_head(fit_features, fit_labels, num_classes, lr, params, seed)
        tried[lr] = (_accuracy(weight, bias, holdout_features, holdout_labels),
                     _accuracy(weight, bias, fit_features, fit_labels), weight, bias)
        logger.info("probe lr %g: held-out accuracy %.4f, fit accuracy %.4f", lr, tried[lr][0], tried[lr][1])
    best = max(sorted(tried), key=lambda lr: tried[lr][0])  # max keeps the first (smallest lr) of equals
    return {
        "best_lr": best,
        "holdout_accuracy": {lr: tried[lr][0] for lr in params.lrs},
        "fit_accuracy": {lr: tried[lr][1] for lr in params.lrs},
        "weight": tried[best][2],
        "bias": tried[best][3],
    }


def linear_probe(model: nn.Module, images: np.ndarray, labels: np.ndarray, params: ProbeParams | Mapping[str, Any],
                 seed: int, device: str | torch.device = "cpu", batch_size: int = 512) -> dict[str, Any]:
    """Probe ``model`` (a [0, 1]-in classifier wrapper) on labelled images; its classifier layer becomes the kept
    head. Returns the record for the checkpoint metadata (every lr's held-out accuracy, the choice, sizes)."""
    params = params if isinstance(params, ProbeParams) else ProbeParams.from_dict(params)
    labels = np.asarray(labels, np.int64)
    features = extract_features(model, images, batch_size, device)
    fit, holdout = stratified_holdout(labels, params.holdout_fraction, seed)
    mean = features[fit].mean(axis=0)
    std = features[fit].std(axis=0) + 1e-6
    standardised = (features - mean) / std
    sweep = sweep_learning_rates(standardised[fit], labels[fit], standardised[holdout], labels[holdout],
                                 model.num_classes, params, seed)
    # fold the standardisation into the layer: W (x - mean) / std + b = (W / std) x + (b - W mean / std)
    weight = sweep["weight"] / std
    bias = sweep["bias"] - weight @ mean
    layer = model.backbone.get_classifier()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
        layer.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    best = sweep["best_lr"]
    logger.info("kept probe lr %g (held-out accuracy %.4f)", best, sweep["holdout_accuracy"][best])
    return {
        "params": params.to_dict(),
        "best_lr": best,
        "holdout_accuracy": [{"lr": lr, "accuracy": acc} for lr, acc in sweep["holdout_accuracy"].items()],
        "fit_accuracy": [{"lr": lr, "accuracy": acc} for lr, acc in sweep["fit_accuracy"].items()],
        "n_fit": int(len(fit)),
        "n_holdout": int(len(holdout)),
        "feature_dim": int(features.shape[1]),
    }
