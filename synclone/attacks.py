"""Untargeted L-inf attacks (FGSM, PGD) in [0, 1] pixel space, and per-image correctness under them.

Models take [0, 1] images and return logits (normalisation lives inside the model wrapper), so eps and step
sizes are in pixel units: the paper's eps = 1/255. Its PGD step of 2/225 (a typo, larger than eps) is reproduced
by passing ``step_size=PAPER_PGD_STEP``; the default is eps / 4.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

ATTACKS = ("fgsm", "pgd")
PAPER_PGD_STEP = 2 / 225  # the authors' code: a typo, 2.3 times their eps of 1/255


@contextmanager
def _attack_mode(model: torch.nn.Module):
    """Eval mode and frozen parameters while attacking; each module's mode and each parameter's flag come back.

    Freezing parameters makes autograd skip weight gradients: only the input's gradient is computed.
    """
    modes = [(module, module.training) for module in model.modules()]
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    model.eval()
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def _input_gradient(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    images = images.detach().requires_grad_(True)
    with torch.enable_grad():
        # Summed, not averaged: an image's gradient does not shrink with the batch size.
        loss = F.cross_entropy(model(images), labels, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, images)
    return gradient


def fgsm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method: one step of eps along the sign of the loss gradient, clipped to [0, 1]."""
    with _attack_mode(model):
        step = eps * _input_gradient(model, x, y).sign()
    return (x.detach() + step).clamp(0, 1)


def pgd(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    step_size: float | None = None,
    steps: int = 20,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent: ``steps`` signed-gradient steps of ``step_size`` (default eps / 4), each projected
    onto the eps ball around ``x`` intersected with [0, 1]; starts from a uniform point of the ball when
    ``random_start`` (drawn from ``generator``, on x's device). Returns the last iterate."""
    step_size = eps / 4 if step_size is None else step_size
    x = x.detach()
    lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    adversarial = x
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        adversarial = torch.clamp(x + (2 * noise - 1) * eps, lower, upper)
    with _attack_mode(model):
        for _ in range(steps):
            adversarial = adversarial + step_size * _input_gradient(model, adversarial, y).sign()
            adversarial = torch.clamp(adversarial, lower, upper)
    return adversarial


def _unit_images(batch) -> torch.Tensor:
    """uint8 N x H x W x 3 (the ImageSet layout) or float N x 3 x H x W in [0, 1] -> float N x 3 x H x W."""
    batch = torch.as_tensor(batch)
    if batch.dtype == torch.uint8:
        return batch.permute(0, 3, 1, 2).float() / 255
    return batch.float()


def _is_correct(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    with _attack_mode(model), torch.no_grad():
        return (model(images).argmax(dim=1) == labels).cpu().numpy()


def attack_correctness(
    model: torch.nn.Module,
    images,
    labels,
    eps: float,
    step_size: float | None,
    steps: int,
    batch_size: int,
    device: str | torch.device,
    seed: int,
    random_start: bool = True,
) -> dict[str, np.ndarray]:
    """Per-image correctness (numpy bool, in input order) on clean, FGSM and PGD images: keys clean, fgsm, pgd.

    ``images``: uint8 N x H x W x 3 (ImageSet layout) or float N x 3 x H x W in [0, 1]; ``labels``: N class
    indices in the model's label space. The model must already be on ``device``. PGD's random starts (unless
    ``random_start`` is off) come from one generator seeded with ``seed``: a run is reproducible for a given batch
    size.
    """
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    correct = {name: np.zeros(len(labels), dtype=bool) for name in ("clean", *ATTACKS)}
    with tqdm(total=len(labels), desc="attacks", unit="image") as progress:
        for start in range(0, len(labels), batch_size):
            stop = min(start + batch_size, len(labels))
            x = _unit_images(images[start:stop]).to(device)
            y = labels[start:stop].to(device)
            adversarial = {
                "clean": x,
                "fgsm": fgsm(model, x, y, eps),
                "pgd": pgd(model, x, y, eps, step_size, steps, random_start, generator),
            }
            for name, batch in adversarial.items():
                correct[name][start:stop] = _is_correct(model, batch, y)
            progress.update(stop - start)
    return correct
