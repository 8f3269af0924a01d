"""Hyper-parameters of the self-supervised and CLIP clones, with their defaults; importable without torch.

A config's ``models.<name>`` entry of kind ``self-supervised`` holds ``train:`` (``SSLParams``, the contrastive
pretraining) and ``probe:`` (``ProbeParams`` plus ``data``, the labelled real set); one of kind ``clip`` holds
``train:`` (``ClipParams``) and ``zero_shot:`` (``ZeroShotParams``). ``from_dict`` rejects unknown keys, so the
Snakefile catches a typo while it builds the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass

from synclone.generation.params import _FromDict
from synclone.worlds.mini import WorldParams

POSITIVES = ("image", "prompt")
PRECISIONS = ("auto", "bf16", "fp32")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class SSLParams(_FromDict):
    """Contrastive pretraining (SimCLR augmentations, SynCLR's multi-positive loss)."""

    steps: int = 400
    batch_size: int = 128  # source images per step; each gives ``views`` augmented views
    views: int = 2
    # "image": the views of one image are its only positives (SimCLR); "prompt": every image generated from the
    # same prompt is a positive too (SynCLR), and a batch holds ``images_per_group`` images of each prompt drawn
    positives: str = "image"
    images_per_group: int = 4
    temperature: float = 0.2
    lr: float = 2e-3  # AdamW peak, after a linear warm-up, then cosine decay to 0
    weight_decay: float = 0.05
    warmup_steps: int = 40
    projection_hidden: int = 512  # the MLP projection head, dropped after pretraining
    projection_dim: int = 128
    crop_scale: tuple[float, float] = (0.3, 1.0)  # random resized crop: share of the image area kept
    colour_jitter: float = 0.4  # brightness, contrast and saturation factors in [1 - s, 1 + s], hue +- s / 4 turns
    colour_jitter_p: float = 0.8
    grayscale_p: float = 0.2
    hflip: bool = False  # mirrored arrows and crescents are no mini-world images
    precision: str = "auto"
    log_every: int = 25

    def __post_init__(self) -> None:
        _require(self.steps >= 1 and self.batch_size >= 2, "steps must be >= 1 and batch_size >= 2")
        _require(self.views >= 1, "views must be >= 1")
        _require(self.positives in POSITIVES, f"positives must be one of {POSITIVES}, got {self.positives!r}")
        _require(self.positives == "prompt" or self.views >= 2, "positives 'image' needs views >= 2")
        _require(1 <= self.images_per_group <= self.batch_size, "images_per_group must be in [1, batch_size]")
        _require(self.temperature > 0 and self.lr > 0, "temperature and lr must be > 0")
        low, high = self.crop_scale
        _require(0 < low <= high <= 1, f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        _require(0 <= self.colour_jitter < 1, "colour_jitter must be in [0, 1)")
        _require(0 <= self.colour_jitter_p <= 1 and 0 <= self.grayscale_p <= 1, "probabilities must be in [0, 1]")
        _require(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}")
        _require(self.log_every >= 1 and self.warmup_steps >= 0, "log_every >= 1, warmup_steps >= 0")


# The paper's SynCLR head came from a sweep of 10 learning rates; on standardised features these span SGD's range.
PROBE_LRS = (0.003, 0.01, 0.03, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class ProbeParams(_FromDict):
    """A linear classifier on frozen features; the learning rate is the one that scores best on held-out data."""

    lrs: tuple[float, ...] = PROBE_LRS
    holdout_fraction: float = 0.1  # of the labelled real set, stratified by class; never the test split
    epochs: int = 30
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _require(len(self.lrs) >= 1 and all(lr > 0 for lr in self.lrs), "lrs must be a non-empty list of lr > 0")
        _require(len(set(self.lrs)) == len(self.lrs), f"lrs has duplicates: {list(self.lrs)}")
        _require(0 < self.holdout_fraction < 1, "holdout_fraction must be in (0, 1)")
        _require(self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1")
        _require(0 <= self.momentum < 1 and self.weight_decay >= 0, "momentum in [0, 1), weight_decay >= 0")


@dataclass(frozen=True)
class ClipParams(_FromDict):
    """Contrastive image-text training of the tiny CLIP (the image tower's sizes are the model's ``arch_kwargs``)."""

    steps: int = 400
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 40
    init_temperature: float = 0.07  # CLIP's: the logit scale starts at 1 / 0.07 and is learned
    max_logit_scale: float = 100.0  # CLIP clamps it here
    crop_padding: int = 2  # random crop after reflect padding (0: off)
    # text tower: open_clip's TextTransformer over open_clip's BPE tokens
    context_length: int = 24
    text_width: int = 128
    text_heads: int = 4
    text_layers: int = 2
    # captions of real images are their attributes in words, each dropped with this probability (the `captions`
    # prompt strategy's default, so that real and generated pairs read alike)
    caption_drop_p: float = WorldParams.caption_drop_p
    precision: str = "auto"
    log_every: int = 25

    def __post_init__(self) -> None:
        _require(self.steps >= 1 and self.batch_size >= 2, "steps must be >= 1 and batch_size >= 2")
        _require(self.lr > 0 and self.weight_decay >= 0, "lr must be > 0 and weight_decay >= 0")
        _require(0 < self.init_temperature < 1 and self.max_logit_scale > 1, "init_temperature in (0, 1), "
                 "max_logit_scale > 1")
        _require(self.context_length >= 4, "context_length must be >= 4")
        _require(self.text_width % self.text_heads == 0, "text_width must be a multiple of text_heads")
        _require(0 <= self.caption_drop_p <= 1, "caption_drop_p must be in [0, 1]")
        _require(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}")
        _require(self.log_every >= 1 and self.warmup_steps >= 0 and self.crop_padding >= 0,
                 "log_every >= 1, warmup_steps >= 0, crop_padding >= 0")


@dataclass(frozen=True)
class ZeroShotParams(_FromDict):
    """The zero-shot head of a CLIP trained here: the world's class names through its CLIP templates."""

    logit_scale: float | str = "learned"  # "learned": the CLIP's own temperature; the paper's evaluation fixes 100

    def __post_init__(self) -> None:
        learned = self.logit_scale == "learned"
        number = isinstance(self.logit_scale, (int, float)) and not isinstance(self.logit_scale, bool)
        _require(learned or (number and self.logit_scale > 0),
                 f"logit_scale must be 'learned' or a number > 0 (the paper: 100), got {self.logit_scale!r}")
