"""The architecture registry: what each model name means, importable without torch.

The Snakefile imports this module to check the model names of a config while the DAG is built, so nothing
here may import torch, timm or open_clip: builders are named as ``"module:function"`` strings and imported
only when a model is actually built (``synclone.models.classifier.build_classifier``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

# Models trained from scratch in the mini world: [0, 1] -> roughly [-2, 2], a range that suits fresh
# initialisations; the wrapper applies it, so pixel-space attacks and corruptions never see it.
MINI_MEAN = (0.5, 0.5, 0.5)
MINI_STD = (0.25, 0.25, 0.25)


class UnknownArchError(KeyError):
    """A model architecture name that is not in ``ARCHITECTURES``."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


@dataclass(frozen=True)
class Preprocess:
    """How images reach the model: what the data stage does before the wrapper sees [0, 1] pixels.

    ``resize`` (shorter side) and ``crop_pct`` describe the loader's geometry, as in timm's data config
    (``resize = input_size / crop_pct``); ``mean`` and ``std`` are applied inside the wrapper.
    """

    input_size: tuple[int, int, int]  # C x H x W the model expects
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    crop_mode: Literal["center", "squash", "border"] = "center"


@dataclass(frozen=True)
class ArchSpec:
    """One model architecture.

    ``builder`` is ``"module:function"``; the function takes ``num_classes`` plus ``kwargs`` and returns an
    ``nn.Module`` mapping normalised B x C x H x W images to B x num_classes logits. ``preprocess`` is None
    when it comes from the built model's own config (timm's ``pretrained_cfg``, resolved at build time).
    ``source`` says where weights come from: ``local`` (trained by the workflow's train rule), ``timm`` or
    ``open_clip`` (downloaded pretrained weights).
    """

    name: str
    source: Literal["local", "timm", "open_clip"]
    builder: str
    num_classes: int
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    preprocess: Preprocess | None = None
    description: str = ""


def _register(*specs: ArchSpec) -> dict[str, ArchSpec]:
    return {spec.name: spec for spec in specs}


ARCHITECTURES: dict[str, ArchSpec] = _register(
    ArchSpec(
        name="mini_resnet",
        source="local",
        builder="synclone.models.mini:build_mini_resnet",
        num_classes=10,
        kwargs={"layers": (1, 1, 1, 1), "channels": (32, 64, 128, 256), "stem_width": 16, "stem_stride": 2},
        preprocess=Preprocess(input_size=(3, 32, 32), mean=MINI_MEAN, std=MINI_STD),
        description="SynResNet50 analogue: a timm ResNet-10-T without the stem max-pool (16 px maps after the stem)",
    ),
    ArchSpec(
        name="mini_vit",
        source="local",
        builder="synclone.models.mini:build_mini_vit",
        num_classes=10,
        kwargs={
            "patch_size": 4,
            "conv_stem": (32, 64),
            "embed_dim": 128,
            "depth": 6,
            "num_heads": 8,
            "mlp_ratio": 2.0,
            "global_pool": "avg",
            "class_token": False,
            "init_values": 0.1,
        },
        preprocess=Preprocess(input_size=(3, 32, 32), mean=MINI_MEAN, std=MINI_STD),
        description="SynViT-B analogue: a timm VisionTransformer on 4 px patches (64 tokens) with a convolutional stem",
    ),
)


def get_arch(name: str) -> ArchSpec:
    """The spec of ``name``; an unknown name raises ``UnknownArchError`` listing the valid ones."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise UnknownArchError(
            f"unknown model architecture {name!r}; valid names: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
