"""CLIP zero-shot classification: class embeddings from prompt templates, and a classifier that holds them.

``zero_shot_weights`` turns class names x templates into one embedding per class (each template's text embedding
L2-normalised, averaged per class, normalised again: the recipe of CLIP and of the paper); ``ZeroShotClassifier``
keeps only the image tower plus those embeddings, so it saves and loads through the classifier checkpoint format
like any backbone. Works for any open_clip model, including a tiny custom one.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from synclone.models.registry import Preprocess

# the paper's fixed logit scale (the authors' code; also OpenAI CLIP's learned value, clamped at 100)
PAPER_LOGIT_SCALE = 100.0

Template = str | Callable[[str], str]


def zero_shot_weights(
    clip_model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    class_names: Sequence[str],
    templates: Sequence[Template],
    device: str | torch.device = "cpu",
    classes_per_batch: int = 10,
    progress: bool = False,
) -> torch.Tensor:
    """C x D class embeddings: per class, the mean of its L2-normalised template embeddings, re-normalised.

    ``templates`` are format strings with one ``{}`` or callables (open_clip's ``OPENAI_IMAGENET_TEMPLATES``);
    ``classes_per_batch`` classes (x all templates) go through the text tower at once.
    """
    from open_clip import build_zero_shot_classifier

    if not class_names or not templates:
        raise ValueError("zero-shot weights need at least one class name and one template")
    clip_model.eval()
    weights = build_zero_shot_classifier(
        clip_model, tokenizer, list(class_names), list(templates), num_classes_per_batch=classes_per_batch,
        device=device, use_tqdm=progress,
    )
    return weights.T.contiguous().float()


def preprocess_from_open_clip(cfg: Mapping[str, Any]) -> Preprocess:
    """open_clip's eval transform (``visual.preprocess_cfg``) as a Preprocess: resize + center crop, no margin."""
    size = cfg["size"]
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    modes = {"shortest": "center", "squash": "squash"}  # 'shortest': resize the shorter side, then center crop
    resize_mode = cfg.get("resize_mode", "shortest")
    if resize_mode not in modes:
        raise ValueError(f"open_clip resize_mode {resize_mode!r} has no Preprocess equivalent; use one of {sorted(modes)}")
    return Preprocess(
        input_size=(3, height, width),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        interpolation=cfg.get("interpolation", "bicubic"),
        crop_pct=1.0,
        crop_mode=modes[resize_mode],
    )


class ZeroShotClassifier(nn.Module):
    """Normalised images -> ``logit_scale`` * cos(image embedding, class embedding), B x C.

    ``visual`` is a CLIP image tower (open_clip's ``model.visual``), ``class_embeddings`` the C x D output of
    ``zero_shot_weights`` (kept as a buffer, so it is saved with the weights), ``logit_scale`` a float: the
    paper's fixed 100 or the model's learned ``exp(logit_scale)``.
    """

    def __init__(self, visual: nn.Module, class_embeddings: torch.Tensor, logit_scale: float = PAPER_LOGIT_SCALE,
                 preprocess: Preprocess | None = None):
        super().__init__()
        if class_embeddings.ndim != 2:
            raise ValueError(f"class_embeddings must be C x D, got shape {tuple(class_embeddings.shape)}")
        self.visual = visual
        self.register_buffer("class_embeddings", class_embeddings.detach().clone().float())
        self.logit_scale = float(logit_scale)
        self.preprocess = preprocess  # build_classifier takes the model's own preprocessing from here

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = F.normalize(self.visual(images).float(), dim=-1)
        return self.logit_scale * features @ self.class_embeddings.T


def create_open_clip(model_name: str | None = None, model_cfg: Mapping[str, Any] | None = None,
                     **create_kwargs) -> nn.Module:
    """A randomly initialised open_clip model: a registered name (``ViT-B-16``) or a custom ``model_cfg``
    (``embed_dim``, ``vision_cfg``, ``text_cfg``, ...; ``open_clip.CLIP``'s arguments)."""
    import open_clip
    from open_clip.transform import PreprocessCfg

    if (model_name is None) == (model_cfg is None):
        raise ValueError("give exactly one of model_name (an open_clip config name) and model_cfg (a custom config)")
    if model_cfg is not None:
        model = open_clip.CLIP(**{**model_cfg, **create_kwargs})
        model.visual.preprocess_cfg = asdict(PreprocessCfg(size=model.visual.image_size))  # open_clip's defaults
        return model
    return open_clip.create_model(model_name, pretrained=None, **create_kwargs)


def build_open_clip_zero_shot(num_classes: int, model_name: str | None = None,
                              model_cfg: Mapping[str, Any] | None = None,
                              logit_scale: float = PAPER_LOGIT_SCALE, **create_kwargs) -> ZeroShotClassifier:
    """Registry builder: the image tower of an open_clip model with random weights and random unit class
    embeddings (a checkpoint's state dict replaces both). ``create_kwargs`` go to open_clip (``force_quick_gelu``)."""
    import open_clip

    clip = create_open_clip(model_name, model_cfg, **create_kwargs)
    embed_dim = (model_cfg or open_clip.get_model_config(model_name))["embed_dim"]
    preprocess = preprocess_from_open_clip(clip.visual.preprocess_cfg)
    placeholder = F.normalize(torch.randn(num_classes, embed_dim), dim=1)
    return ZeroShotClassifier(clip.visual, placeholder, logit_scale, preprocess)
