"""Every hyper-parameter of the mini generator, with its default, in one place.

The workflow's config passes plain mappings (``generator.train`` and ``generator.sample``); ``from_dict`` turns
them into these dataclasses and rejects unknown keys, so a typo fails at once instead of silently using a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, TypeVar

from synclone.config import check_field_types

PREDICTION_TYPES = ("epsilon", "v_prediction")
SCHEDULERS = ("dpmsolver", "ddim")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")  # those diffusers' DDPM, DDIM and DPM-Solver take

_Params = TypeVar("_Params", bound="_FromDict")


class _FromDict:
    @classmethod
    def from_dict(cls: type[_Params], values: Mapping[str, Any] | None) -> _Params:
        known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values or {}) - set(known))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {unknown}; valid keys: {sorted(known)}")
        check_field_types(cls, values or {})
        # YAML and JSON give lists where the dataclass holds tuples (hashable, stable in checkpoints)
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in (values or {}).items()}
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)  # type: ignore[call-overload]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@dataclass(frozen=True)
class GeneratorParams(_FromDict):
    """How the generator is built and trained (the config's ``generator.train``)."""

    # optimisation
    steps: int = 2000  # optimizer steps; fidelity still rises with more
    batch_size: int = 64
    lr: float = 2e-3  # 3e-3 diverged in the trials
    warmup_steps: int = 100
    final_lr_fraction: float = 0.1  # cosine decay from lr to lr * this at the last step
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    # diffusion
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"  # cosine
    prediction_type: str = "v_prediction"
    # min-SNR-gamma loss weighting (x0-error weight min(SNR, gamma)); 0 turns it off (plain MSE on v). On the mini
    # world at 2,000 steps, gamma 1 beat 5 (fidelity 0.92 vs 0.83 on class-name prompts) and plain v-MSE drew the
    # scenes but blurred the shapes.
    min_snr_gamma: float = 1.0
    cond_dropout: float = 0.1  # share of captions replaced by the empty prompt (the unconditional model for CFG)
    unk_word_p: float = 0.05  # share of caption words replaced by UNK, so unknown prompt words are meaningful
    # denoiser: a diffusers UNet2DModel on a space-to-depth tensor (32x32x3 -> 16x16x12 for factor 2)
    space_to_depth: int = 2
    block_out_channels: tuple[int, ...] = (32, 64, 128)
    attention_levels: tuple[bool, ...] = (False, False, True)  # self-attention per resolution level
    attention_head_dim: int = 32
    film: bool = True  # the embedding scales and shifts each ResNet block's features (False: it is only added)
    layers_per_block: int = 1  # 2.8M parameters; 2 costs ~40% more per step and scored lower at equal time
    norm_num_groups: int = 8
    # text encoder: the mean of learned word embeddings, then an MLP to the UNet's time-embedding width
    text_width: int = 128
    min_word_count: int = 1  # rarer corpus words map to UNK
    # divergence guard: the loss is averaged over windows of log_every steps
    log_every: int = 50
    divergence_factor: float = 3.0  # a window loss this many times the best one means training blew up

    def __post_init__(self) -> None:
        def require(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(f"generator parameter {message}")

        require(self.steps >= 1 and self.batch_size >= 1, "steps and batch_size must be >= 1")
        require(self.lr > 0 and 0 <= self.final_lr_fraction <= 1, "lr must be > 0, final_lr_fraction in [0, 1]")
        require(0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}")
        require(self.beta_schedule in BETA_SCHEDULES, f"beta_schedule must be one of {BETA_SCHEDULES}")
        require(self.prediction_type in PREDICTION_TYPES, f"prediction_type must be one of {PREDICTION_TYPES}")
        require(0 <= self.cond_dropout < 1 and 0 <= self.unk_word_p < 1, "cond_dropout and unk_word_p in [0, 1)")
        require(
            len(self.attention_levels) == len(self.block_out_channels),
            f"attention_levels needs one flag per block ({len(self.block_out_channels)})",
        )
        require(self.space_to_depth >= 1, "space_to_depth must be >= 1")
        require(
            all(c % self.norm_num_groups == 0 for c in self.block_out_channels),
            f"block_out_channels {self.block_out_channels} must be multiples of norm_num_groups",
        )
        require(self.log_every >= 1 and self.divergence_factor > 1, "log_every >= 1, divergence_factor > 1")

    @property
    def cond_dim(self) -> int:
        """The UNet's time-embedding width, which the text embedding is added to."""
        return self.block_out_channels[0] * 4


@dataclass(frozen=True)
class SampleParams(_FromDict):
    """How images are sampled (the config's ``generator.sample``)."""

    guidance: float = 7.0  # classifier-free guidance scale; 1 is the conditional model alone
    steps: int = 15
    scheduler: str = "dpmsolver"  # DPM-Solver++ (2nd order multistep) or DDIM
    batch_size: int = 128

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.steps < 1 or self.batch_size < 1 or self.guidance < 0:
            raise ValueError("sampling needs steps >= 1, batch_size >= 1 and guidance >= 0")


DTYPES = ("auto", "float16", "bfloat16", "float32")
IMAGE_FORMATS = ("png", "jpg")


@dataclass(frozen=True)
class StableDiffusionParams(_FromDict):
    """How Stable Diffusion samples (the config's ``generator.sample`` when ``generator.kind`` is stable_diffusion).

    The defaults are the usual SD v1.5 ones (StableRep's DDIM 50 steps at 512 x 512, guidance 7.5); Fake-it uses
    guidance 2.
    """

    scheduler: str = "ddim"  # DDIM or DPM-Solver++ (2nd order multistep), built from the model's own schedule
    steps: int = 50
    guidance: float = 7.5  # classifier-free guidance scale; <= 1 turns guidance off (diffusers' convention)
    height: int = 512
    width: int = 512
    batch_size: int = 16
    dtype: str = "auto"  # auto: float16 on a GPU, float32 on the CPU
    image_format: str = "png"
    jpeg_quality: int = 95  # image_format jpg only

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {self.image_format!r}")
        if self.steps < 1 or self.batch_size < 1 or self.guidance < 0:
            raise ValueError("sampling needs steps >= 1, batch_size >= 1 and guidance >= 0")
        if self.height % 8 or self.width % 8 or self.height < 8 or self.width < 8:
            raise ValueError(f"height and width must be positive multiples of 8, got {self.height} x {self.width}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
