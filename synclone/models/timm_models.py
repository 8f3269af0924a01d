"""Builder for any model of timm's own registry (paper mode: ``resnet50.a1_in1k``, ``vit_base_patch16_224``...)."""

from __future__ import annotations

import timm
from torch import nn


def build_timm(num_classes: int, model_name: str, pretrained: bool = False, **kwargs) -> nn.Module:
    """``timm.create_model``; the wrapper then takes the preprocessing from the model's ``pretrained_cfg``."""
    return timm.create_model(model_name, pretrained=pretrained, num_classes=num_classes, **kwargs)
