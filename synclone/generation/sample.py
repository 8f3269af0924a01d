"""Sampling the mini generator with classifier-free guidance, and generating one shard of a prompt set."""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from synclone.generation.model import CHECKPOINT_FORMAT, Denoiser, sampling_scheduler, tensor_to_images
from synclone.generation.params import GeneratorParams, SampleParams
from synclone.generation.text import Vocabulary

PROMPT_COLUMNS = ("prompt", "label", "seed")


class MiniGenerator:
    """A trained generator ready to sample; build it with ``load_generator``."""

    def __init__(
        self, model: Denoiser, vocabulary: Vocabulary, params: GeneratorParams, image_size: tuple[int, int],
        device: torch.device,
    ):  # fmt: skip
        self.model = model.to(device).eval()
        self.vocabulary = vocabulary
        self.params = params
        self.image_size = image_size
        self.device = device

    @torch.no_grad()
    def embed(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.model.text_encoder(self.vocabulary.encode(prompts).to(self.device))

    def initial_noise(self, seeds: Sequence[int]) -> torch.Tensor:
        """One CPU generator per image, so an image's noise depends on its seed only (and not on the device)."""
        shape = (3, *self.image_size)
        noise = [torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(noise).to(self.device)

    @torch.no_grad()
    def guided_prediction(
        self, noisy: torch.Tensor, timestep: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor, guidance: float
    ) -> torch.Tensor:
        """Classifier-free guidance: uncond + guidance * (cond - uncond), both halves in one UNet call."""
        both = self.model(torch.cat([noisy, noisy]), timestep, torch.cat([cond, uncond]))
        conditional, unconditional = both.chunk(2)
        return unconditional + guidance * (conditional - unconditional)

    @torch.no_grad()
    def sample(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        guidance: float = SampleParams.guidance,
        steps: int = SampleParams.steps,
        scheduler: str = SampleParams.scheduler,
        batch_size: int = SampleParams.batch_size,
    ) -> np.ndarray:
        """uint8 N x H x W x 3; image i depends only on (prompts[i], seeds[i]) and the sampling settings.

        Every UNet call sees a full batch of ``batch_size`` (the last one padded with copies), so an image is
        bitwise the same whatever else shares its batch or where it sits in the prompt list; a different
        ``batch_size`` may change pixels by float rounding.
        """
        settings = SampleParams(guidance=guidance, steps=steps, scheduler=scheduler, batch_size=batch_size)
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        out = np.empty((len(prompts), *self.image_size, 3), np.uint8)
        uncond_one = self.embed([""])
        for start in tqdm(range(0, len(prompts), batch_size), desc="sample", file=sys.stderr, mininterval=5):
            stop = min(start + batch_size, len(prompts))
            take = list(range(start, stop)) + [stop - 1] * (batch_size - (stop - start))
            cond = self.embed([prompts[i] for i in take])
            noisy = self.initial_noise([seeds[i] for i in take])
            out[start:stop] = self._denoise(noisy, cond, uncond_one.expand_as(cond), settings)[: stop - start]
        return out

    def _denoise(
        self, noisy: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor, settings: SampleParams
    ) -> np.ndarray:
        schedule = sampling_scheduler(settings.scheduler, self.params)  # fresh: multistep solvers keep state
        schedule.set_timesteps(settings.steps, device=self.device)
        sample = noisy * schedule.init_noise_sigma
        for timestep in schedule.timesteps:
            model_input = schedule.scale_model_input(sample, timestep)
            prediction = self.guided_prediction(model_input, timestep, cond, uncond, settings.guidance)
            sample = schedule.step(prediction, timestep, sample).prev_sample
        return tensor_to_images(sample)


def load_generator(
    checkpoint: str | os.PathLike | Mapping[str, Any], device: str | torch.device = "cpu"
) -> MiniGenerator:
    """A MiniGenerator from a checkpoint dict (``train_generator``'s result) or a file saved with torch.save."""
    if not isinstance(checkpoint, Mapping):
        checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"not a mini-generator checkpoint (format {checkpoint.get('format')!r}, expected {CHECKPOINT_FORMAT!r}); "
            f"retrain it with the train_generator rule"
        )
    params = GeneratorParams.from_dict(checkpoint["params"])
    vocabulary = Vocabulary(checkpoint["vocabulary"])
    image_size = tuple(checkpoint["image_size"])
    model = Denoiser(params, len(vocabulary), image_size)
    model.text_encoder.load_state_dict(checkpoint["text_encoder"])
    model.unet.load_state_dict(checkpoint["unet"])
    return MiniGenerator(model, vocabulary, params, image_size, torch.device(device))


def generate_shard(
    generator: MiniGenerator, prompts: pd.DataFrame, sample_params: SampleParams | Mapping[str, Any] | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Sample one image per row of a prompt table; the metadata is that table (prompt, label, seed, ...)."""
    missing = [c for c in PROMPT_COLUMNS if c not in prompts.columns]
    if missing:
        raise ValueError(f"the prompt table lacks the column(s) {missing}")
    settings = sample_params if isinstance(sample_params, SampleParams) else SampleParams.from_dict(sample_params)
    images = generator.sample(
        prompts["prompt"].astype(str).tolist(), prompts["seed"].astype(np.int64).tolist(), **settings.to_dict()
    )
    return images, prompts.reset_index(drop=True).copy()
