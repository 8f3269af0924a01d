"""The denoiser (bag-of-words text encoder + diffusers UNet) and the noise schedules shared by training and sampling."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DModel
from torch import nn

from synclone.generation.params import GeneratorParams
from synclone.generation.text import BagOfWordsEncoder

CHECKPOINT_FORMAT = "synclone.mini-generator/1"


class Denoiser(nn.Module):
    """Predicts noise (or v) for pixel-space images given one pooled text embedding per image.

    The UNet runs on a space-to-depth tensor (32x32x3 -> 16x16x12 for factor 2): a quarter of the positions per
    convolution, which made it several times faster on CPU at little cost in quality. The text embedding reaches
    the UNet through ``class_embed_type="identity"``, i.e. it is added to the time embedding, which keeps the
    per-step cost of class conditioning (cross-attention was 2.3x slower per step in the trials). With ``film``
    that sum scales and shifts the features of every ResNet block; at 2,000 steps this raised fidelity on
    "c, h_c inside b" prompts from 0.42 to 0.60 (guidance 7) over only adding it.
    """

    def __init__(self, params: GeneratorParams, vocab_size: int, image_size: tuple[int, int]):
        super().__init__()
        factor = params.space_to_depth
        levels = len(params.block_out_channels)
        height, width = image_size
        if height % (factor * 2 ** (levels - 1)) or width % (factor * 2 ** (levels - 1)):
            raise ValueError(
                f"image size {height}x{width} must be divisible by space_to_depth * 2**(levels - 1) "
                f"= {factor * 2 ** (levels - 1)}"
            )
        self.space_to_depth = factor
        self.text_encoder = BagOfWordsEncoder(vocab_size, params.text_width, params.cond_dim)
        channels = 3 * factor**2
        self.unet = UNet2DModel(
            sample_size=(height // factor, width // factor),
            in_channels=channels,
            out_channels=channels,
            block_out_channels=params.block_out_channels,
            down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in params.attention_levels),
            up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(params.attention_levels)),
            layers_per_block=params.layers_per_block,
            norm_num_groups=params.norm_num_groups,
            attention_head_dim=params.attention_head_dim,
            class_embed_type="identity",
            resnet_time_scale_shift="scale_shift" if params.film else "default",
        )

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
        packed = F.pixel_unshuffle(noisy, self.space_to_depth)
        out = self.unet(packed, timesteps, class_labels=text_embedding).sample
        return F.pixel_shuffle(out, self.space_to_depth)


def _schedule(params: GeneratorParams) -> dict:
    return {
        "num_train_timesteps": params.num_train_timesteps,
        "beta_schedule": params.beta_schedule,
        "prediction_type": params.prediction_type,
    }


def training_scheduler(params: GeneratorParams) -> DDPMScheduler:
    return DDPMScheduler(**_schedule(params))


def sampling_scheduler(name: str, params: GeneratorParams) -> DPMSolverMultistepScheduler | DDIMScheduler:
    if name == "dpmsolver":
        # With the cosine schedule DPM-Solver++ returned pure noise in the trials until the last log-SNR was
        # clipped and x0 thresholded to the data range.
        return DPMSolverMultistepScheduler(
            **_schedule(params), algorithm_type="dpmsolver++", lambda_min_clipped=-5.1, thresholding=True,
            sample_max_value=1.0,
        )  # fmt: skip
    if name == "ddim":
        return DDIMScheduler(**_schedule(params), clip_sample=True, timestep_spacing="trailing")
    raise ValueError(f"unknown scheduler {name!r}; choose dpmsolver or ddim")


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float N x 3 x H x W in [-1, 1], the diffusion's data range."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def tensor_to_images(samples: torch.Tensor) -> np.ndarray:
    return samples.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
