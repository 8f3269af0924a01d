"""The architecture registry: what each model name means, importable without torch.

The Snakefile imports this module to check the model names of a config while the DAG is built, so nothing
here may import torch, timm or open_clip: builders are named as ``"module:function"`` strings and imported
only when a model is actually built (``synclone.models.classifier.build_classifier``).

The paper's 13 models are entries too (``PAPER_MODELS``): their true architectures with random weights, plus
``Pretrained``, which says where their published weights come from and how they map onto the built model
(``synclone.models.weights`` fetches them, ``synclone.models.pretrained`` imports them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

# Models trained from scratch in the mini world: [0, 1] -> roughly [-2, 2], a range that suits fresh
# initialisations; the wrapper applies it, so pixel-space attacks and corruptions never see it.
MINI_MEAN = (0.5, 0.5, 0.5)
MINI_STD = (0.25, 0.25, 0.25)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
class WeightFile:
    """One published weight file: ``role`` is what it holds (``model``: everything, or ``backbone`` / ``head``),
    ``filename`` the name its authors publish it under, ``url`` a direct download when there is one."""

    role: Literal["model", "backbone", "head"]
    filename: str
    url: str | None = None
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Pretrained:
    """Where an imported model's weights come from and how they load (``synclone.models.pretrained.FORMATS``).

    ``hub`` is the pretrained tag that ``weights: {source: hub}`` fetches from the Hugging Face hub, as
    ``timm:<model.tag>`` or ``open_clip:<model>/<tag>``; it provides the first file's role. ``files`` are the
    published files (the first is the one a config's ``url`` / ``path`` replaces); ``page`` is where a person
    gets them when there is no direct download. ``options`` are the format's (e.g. which linear head to keep).
    """

    format: str
    page: str
    hub: str | None = None
    files: tuple[WeightFile, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArchSpec:
    """One model architecture.

    ``builder`` is ``"module:function"``; the function takes ``num_classes`` plus ``kwargs`` and returns an
    ``nn.Module`` mapping normalised B x C x H x W images to B x num_classes logits. ``preprocess`` is None
    when it comes from the built model's own config (timm's ``pretrained_cfg``, or open_clip's preprocessing for
    a zero-shot CLIP), resolved at build time.
    ``source`` says where weights come from: ``local`` (trained by the workflow's train rule), ``timm`` or
    ``open_clip`` (downloaded pretrained weights), ``checkpoint`` (a file its authors publish).
    ``head`` is how the logits are made: a trained ``classifier``, a ``linear_probe`` on frozen self-supervised
    features, or ``zero_shot`` (CLIP: cosine similarity to class-name prompt embeddings). ``pretrained`` is
    set for models that can be imported (a config's ``weights:``).
    """

    name: str
    source: Literal["local", "timm", "open_clip", "checkpoint"]
    builder: str
    num_classes: int
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    preprocess: Preprocess | None = None
    description: str = ""
    head: Literal["classifier", "linear_probe", "zero_shot"] = "classifier"
    pretrained: Pretrained | None = None


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
            "pos_embed": "sincos",
            "embed_dim": 128,
            "depth": 6,
            "num_heads": 8,
            "mlp_ratio": 2.0,
            "global_pool": "avg",
            "class_token": False,
            "init_values": 0.1,
        },
        preprocess=Preprocess(input_size=(3, 32, 32), mean=MINI_MEAN, std=MINI_STD),
        description=(
            "SynViT-B analogue: a timm VisionTransformer on 4 px patches (64 tokens), convolutional stem, "
            "fixed sin-cos position embedding"
        ),
    ),
    ArchSpec(
        name="mini_clip_resnet",
        source="local",
        builder="synclone.clip_mini:build_mini_clip_zero_shot",
        num_classes=10,
        # the image tower: a half-width mini_resnet whose classifier layer projects to the joint embedding
        kwargs={"embed_dim": 128, "layers": (1, 1, 1, 1), "channels": (16, 32, 64, 128), "stem_width": 16,
                "stem_stride": 2},
        preprocess=Preprocess(input_size=(3, 32, 32), mean=MINI_MEAN, std=MINI_STD),
        head="zero_shot",
        description=("SynCLIP / CLIP analogue: the image tower of a tiny CLIP trained here (synclone.clip_mini), "
                     "zero-shot over the class names and the world's CLIP templates"),
    ),
)


def _timm(name: str, tag: str, description: str) -> ArchSpec:
    """A timm ImageNet classifier: architecture and preprocessing from timm's config of ``tag``, weights from the hub."""
    return ArchSpec(
        name=name,
        source="timm",
        builder="synclone.models.timm_models:build_timm",
        num_classes=1000,
        kwargs={"model_name": tag},
        description=description,
        pretrained=Pretrained(format="timm", page=f"https://huggingface.co/timm/{tag}", hub=f"timm:{tag}"),
    )


# The checkpoint recipes (resize, crop, interpolation, statistics) are those of each model's own evaluation code.
_RESIZE_256_BILINEAR = dict(input_size=(3, 224, 224), interpolation="bilinear", crop_pct=0.875)
_RESIZE_256_BICUBIC = dict(input_size=(3, 224, 224), interpolation="bicubic", crop_pct=0.875)
_SCALING_PAGE = "https://github.com/google-research/syn-rep-learn/tree/main/Scaling"
_SYNCLR_PAGE = "https://github.com/google-research/syn-rep-learn/tree/main/SynCLR"
_DINOV2 = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14"

PAPER_MODELS: dict[str, ArchSpec] = _register(
    _timm("resnet50", "resnet50.a1_in1k", "ResNet-50, timm's A1 recipe on ImageNet-1k (the paper's ResNet50)"),
    ArchSpec(
        name="synresnet50",
        source="checkpoint",
        builder="synclone.models.paper:build_torchvision_resnet50",
        num_classes=1000,
        kwargs={"fc_bias": False},
        # Fake-it's evaluation: shorter side to 224 (bicubic), center crop 224
        preprocess=Preprocess(input_size=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                              interpolation="bicubic", crop_pct=1.0),
        description="Fake it till you make it (Sariyildiz et al. 2023): torchvision ResNet-50 trained on ImageNet-SD",
        pretrained=Pretrained(
            format="state_dict",
            page="https://europe.naverlabs.com/imagenet-sd/ (Pretrained models: ImageNet-1K-SD ResNet-50)",
            files=(WeightFile("model", "imagenet_1k_sd.pth"),),
        ),
    ),
    _timm("swin_b", "swin_base_patch4_window7_224.ms_in1k", "Swin-B, Microsoft's ImageNet-1k weights"),
    _timm("convnext_b", "convnext_base.fb_in22k_ft_in1k", "ConvNeXt-B, ImageNet-22k pretrained, 1k fine-tuned"),
    _timm("deit3_l", "deit3_large_patch16_224.fb_in1k", "DeiT-III Large/16 on ImageNet-1k"),
    _timm("vit_b", "vit_base_patch16_224.augreg_in1k", "ViT-B/16, AugReg recipe on ImageNet-1k"),
    ArchSpec(
        name="synvit_b",
        source="checkpoint",
        builder="synclone.models.timm_models:build_timm",
        num_classes=1000,
        kwargs={"model_name": "vit_base_patch16_224"},
        preprocess=Preprocess(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), **_RESIZE_256_BILINEAR),
        description="Scaling laws of synthetic images (Fan et al. 2024): supervised ViT-B/16, class-name prompts, 16M images",
        pretrained=Pretrained(
            format="state_dict",
            page=f"{_SCALING_PAGE} (Supervised Training: the Synthetic / Classnames checkpoint folder, 16M.pt)",
            files=(WeightFile("model", "16M.pt"),),
        ),
    ),
    ArchSpec(
        name="mae_vit_b",
        source="checkpoint",
        builder="synclone.models.paper:build_vit_linear_probe",
        num_classes=1000,
        kwargs={"model_name": "vit_base_patch16_224", "batch_norm": True},
        preprocess=Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD, **_RESIZE_256_BICUBIC),
        head="linear_probe",
        description="MAE ViT-B/16 with a linear probe (BatchNorm without affine + linear, on the class token)",
        pretrained=Pretrained(
            format="state_dict",
            page=("https://github.com/facebookresearch/mae (encoder mae_pretrain_vit_base.pth; the linear probe is "
                  "trained with its main_linprobe.py: the benchmark authors' mae_lp_e90.pth)"),
            files=(WeightFile("model", "mae_lp_e90.pth"),),
        ),
    ),
    ArchSpec(
        name="dinov2_vit_b",
        source="checkpoint",
        builder="synclone.models.paper:build_dinov2_linear",
        num_classes=1000,
        kwargs={"model_name": "vit_base_patch14_reg4_dinov2", "img_size": 224, "layers": 4},
        preprocess=Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD, **_RESIZE_256_BICUBIC),
        head="linear_probe",
        description=("DINOv2 ViT-B/14 with 4 registers and its official linear head (dinov2_vitb14_reg_lc: class "
                     "tokens of the last 4 blocks + mean patch token)"),
        pretrained=Pretrained(
            format="dinov2_linear",
            page="https://github.com/facebookresearch/dinov2 (Pretrained heads - Image classification)",
            hub="timm:vit_base_patch14_reg4_dinov2.lvd142m",
            files=(
                WeightFile("backbone", "dinov2_vitb14_reg4_pretrain.pth", url=f"{_DINOV2}/dinov2_vitb14_reg4_pretrain.pth"),
                WeightFile("head", "dinov2_vitb14_reg4_linear4_head.pth",
                           url=f"{_DINOV2}/dinov2_vitb14_reg4_linear4_head.pth"),
            ),
        ),
    ),
    ArchSpec(
        name="mocov3_vit_b",
        source="checkpoint",
        builder="synclone.models.timm_models:build_timm",
        num_classes=1000,
        kwargs={"model_name": "vit_base_patch16_224"},
        preprocess=Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD, **_RESIZE_256_BILINEAR),
        head="linear_probe",
        description="MoCo v3 ViT-B/16 (300 epochs) with its official linear classifier",
        pretrained=Pretrained(
            format="mocov3",
            page="https://github.com/facebookresearch/moco-v3/blob/main/CONFIG.md (ViT-Base, linear classification)",
            files=(WeightFile("model", "linear-vit-b-300ep.pth.tar",
                              url="https://dl.fbaipublicfiles.com/moco-v3/vit-b-300ep/linear-vit-b-300ep.pth.tar"),),
        ),
    ),
    ArchSpec(
        name="synclr_vit_b",
        source="checkpoint",
        builder="synclone.models.paper:build_vit_linear_probe",
        num_classes=1000,
        kwargs={"model_name": "vit_base_patch16_224", "batch_norm": True},
        preprocess=Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD, **_RESIZE_256_BILINEAR),
        head="linear_probe",
        description="SynCLR ViT-B/16 with a linear probe (BatchNorm without affine + linear; the lr-0.005 head of the sweep)",
        pretrained=Pretrained(
            format="synclr_linear",
            page=(f"{_SYNCLR_PAGE} (encoder synclr_vit_b_16.pth; the linear probe is trained with StableRep's "
                  "main_linear.py --use_bn: the benchmark authors' linear_best.pt)"),
            files=(WeightFile("model", "linear_best.pt"),),
            options={"head_key": "classifier_lr_0_0050"},
        ),
    ),
    ArchSpec(
        name="clip_vit_b16",
        source="open_clip",
        builder="synclone.models.zero_shot:build_open_clip_zero_shot",
        num_classes=1000,
        kwargs={"model_name": "ViT-B-16", "force_quick_gelu": True},
        head="zero_shot",
        description="OpenAI CLIP ViT-B/16 (open_clip), zero-shot with the 80 OpenAI ImageNet templates",
        pretrained=Pretrained(format="open_clip", page="https://github.com/mlfoundations/open_clip",
                              hub="open_clip:ViT-B-16/openai"),
    ),
    ArchSpec(
        name="synclip_vit_b16",
        source="checkpoint",
        builder="synclone.models.zero_shot:build_open_clip_zero_shot",
        num_classes=1000,
        kwargs={"model_name": "ViT-B-16", "force_quick_gelu": True},
        head="zero_shot",
        description="Scaling laws SynCLIP ViT-B/16 trained on 371M synthetic images, zero-shot",
        pretrained=Pretrained(
            format="open_clip",
            page=f"{_SCALING_PAGE} (CLIP: the Synthetic checkpoint folder, 371M.pt)",
            files=(WeightFile("model", "371M.pt"),),
        ),
    ),
)
ARCHITECTURES.update(PAPER_MODELS)

def get_arch(name: str) -> ArchSpec:
    """The spec of ``name``; an unknown name raises ``UnknownArchError`` listing the valid ones."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise UnknownArchError(
            f"unknown model architecture {name!r}; valid names: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
