"""Training the mini generator on the captioned corpus."""

from __future__ import annotations

import copy
import logging
import math
import sys
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from tqdm import tqdm

from synclone.generation.model import CHECKPOINT_FORMAT, Denoiser, images_to_tensor, training_scheduler
from synclone.generation.params import GeneratorParams
from synclone.generation.text import CLS_ID, PAD_ID, UNK_ID, Vocabulary

log = logging.getLogger(__name__)


class GeneratorTrainingError(RuntimeError):
    """Training cannot produce a usable generator (e.g. the loss went non-finite)."""


class DivergenceGuard:
    """Flags a window whose mean loss is ``factor`` times the best window so far (a finite blow-up).

    Non-finite losses are caught per step by the training loop; this catches the slower kind of divergence the
    trials saw at lr 3e-3, after which every sample was noise.
    """

    def __init__(self, factor: float):
        self.factor = factor
        self.best = math.inf

    def healthy(self, window_loss: float) -> bool:
        if window_loss > self.factor * self.best:
            return False
        self.best = min(self.best, window_loss)
        return True


def _lr_factor(step: int, params: GeneratorParams) -> float:
    """Linear warm-up, then cosine decay to ``final_lr_fraction``."""
    if step < params.warmup_steps:
        return (step + 1) / params.warmup_steps
    progress = (step - params.warmup_steps) / max(1, params.steps - params.warmup_steps)
    floor = params.final_lr_fraction
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def _loss_weights(alphas_cumprod: torch.Tensor, params: GeneratorParams) -> torch.Tensor:
    """Per-timestep weights of the MSE: min-SNR-gamma (Hang et al. 2023), expressed for the prediction type."""
    snr = alphas_cumprod / (1 - alphas_cumprod)
    if params.min_snr_gamma <= 0:
        return torch.ones_like(snr)
    clipped = snr.clamp(max=params.min_snr_gamma)
    return clipped / (snr + 1) if params.prediction_type == "v_prediction" else clipped / snr


def _mask_tokens(tokens: torch.Tensor, params: GeneratorParams, generator: torch.Generator) -> torch.Tensor:
    """Condition dropout (whole caption -> the empty prompt) and word dropout (word -> UNK)."""
    tokens = tokens.clone()
    words = tokens > CLS_ID
    unk = words & (torch.rand(tokens.shape, generator=generator, device=tokens.device) < params.unk_word_p)
    tokens[unk] = UNK_ID
    dropped = torch.rand(len(tokens), generator=generator, device=tokens.device) < params.cond_dropout
    tokens[dropped, 1:] = PAD_ID
    return tokens


def _diffusion_loss(
    model: Denoiser, clean: torch.Tensor, tokens: torch.Tensor, noise_schedule: DDPMScheduler,
    loss_weights: torch.Tensor, params: GeneratorParams, generator: torch.Generator,
) -> torch.Tensor:  # fmt: skip
    noise = torch.randn(clean.shape, generator=generator, device=clean.device)
    timesteps = torch.randint(0, params.num_train_timesteps, (len(clean),), generator=generator, device=clean.device)
    noisy = noise_schedule.add_noise(clean, noise, timesteps)
    target = noise if params.prediction_type == "epsilon" else noise_schedule.get_velocity(clean, noise, timesteps)
    prediction = model(noisy, timesteps, model.text_encoder(_mask_tokens(tokens, params, generator)))
    per_image = F.mse_loss(prediction, target, reduction="none").mean(dim=(1, 2, 3))
    return (per_image * loss_weights[timesteps]).mean()


def _batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless shuffled mini-batches of indices, each epoch a new permutation."""
    while True:
        order = torch.randperm(n, generator=generator, device=generator.device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def train_generator(
    images: np.ndarray,
    captions: Sequence[str],
    params: GeneratorParams | Mapping[str, Any] | None,
    seed: int,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Train the text-conditioned diffusion model; returns a checkpoint dict for ``torch.save``.

    The checkpoint holds the params, vocabulary, image size, the EMA weights of text encoder and UNet, and the
    training log (window-mean loss curve, learning rate, gradient norm, divergence events). Raises
    GeneratorTrainingError if the loss or gradient goes non-finite; on a finite blow-up (``divergence_factor``)
    training stops and the EMA weights of the last healthy window are kept.
    """
    params = params if isinstance(params, GeneratorParams) else GeneratorParams.from_dict(params)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 N x H x W x 3, got {images.dtype} {images.shape}")
    if len(captions) != len(images):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    if len(images) < params.batch_size:
        raise ValueError(f"the corpus has {len(images)} images, fewer than one batch ({params.batch_size})")
    device = torch.device(device)
    vocabulary = Vocabulary.from_captions(captions, params.min_word_count)
    image_size = (int(images.shape[1]), int(images.shape[2]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Denoiser(params, len(vocabulary), image_size).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    data = images_to_tensor(images).to(device)
    tokens = vocabulary.encode(captions).to(device)
    generator = torch.Generator(device).manual_seed(seed)
    noise_schedule = training_scheduler(params)
    alphas_cumprod = noise_schedule.alphas_cumprod.to(device)
    loss_weights = _loss_weights(alphas_cumprod, params)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, params))
    guard = DivergenceGuard(params.divergence_factor)
    healthy_state = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
    history: dict[str, Any] = {"step": [], "loss": [], "lr": [], "grad_norm": [], "diverged_at_step": None}
    window_loss = window_grad = 0.0
    log.info(
        "training the generator: %d images, %d words, %.2fM parameters, %d steps of %d",
        len(images), len(vocabulary), sum(p.numel() for p in model.parameters()) / 1e6, params.steps,
        params.batch_size,
    )  # fmt: skip
    progress = tqdm(total=params.steps, desc="train generator", file=sys.stderr, mininterval=5)
    batches = _batches(len(images), params.batch_size, generator)
    model.train()
    for step in range(params.steps):
        index = next(batches)
        loss = _diffusion_loss(model, data[index], tokens[index], noise_schedule, loss_weights, params, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip)
        loss_value, grad_value = loss.item(), grad_norm.item()
        if not (math.isfinite(loss_value) and math.isfinite(grad_value)):
            raise GeneratorTrainingError(
                f"the generator's loss ({loss_value}) or gradient norm ({grad_value}) became non-finite at step "
                f"{step}; lower generator.train.lr (now {params.lr}) or raise warmup_steps"
            )
        optimizer.step()
        scheduler.step()
        decay = min(params.ema_decay, (1 + step) / (10 + step))  # a short warm-up, so early EMA is not init
        with torch.no_grad():
            for averaged, current in zip(ema.parameters(), model.parameters()):
                averaged.lerp_(current, 1 - decay)
        window_loss += loss_value
        window_grad += grad_value
        progress.update()
        if (step + 1) % params.log_every == 0 or step + 1 == params.steps:
            steps_in_window = (step % params.log_every) + 1
            mean_loss = window_loss / steps_in_window
            history["step"].append(step + 1)
            history["loss"].append(mean_loss)
            history["lr"].append(scheduler.get_last_lr()[0])
            history["grad_norm"].append(window_grad / steps_in_window)
            window_loss = window_grad = 0.0
            progress.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
            if not guard.healthy(mean_loss):
                history["diverged_at_step"] = step + 1  # never the first window: it sets the best
                log.warning(
                    "generator training diverged at step %d (window loss %.4g vs best %.4g); keeping the EMA "
                    "weights of step %d. Lower generator.train.lr (now %g).",
                    step + 1, mean_loss, guard.best, history["step"][-2], params.lr,
                )  # fmt: skip
                ema.load_state_dict(healthy_state)
                break
            healthy_state = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
    progress.close()
    log.info("generator trained: final window loss %.4f", history["loss"][-1])
    return {
        "format": CHECKPOINT_FORMAT,
        "params": params.to_dict(),
        "vocabulary": vocabulary.words,
        "image_size": list(image_size),
        "seed": int(seed),
        "text_encoder": {k: v.detach().cpu() for k, v in ema.text_encoder.state_dict().items()},
        "unet": {k: v.detach().cpu() for k, v in ema.unet.state_dict().items()},
        "log": history,
    }
