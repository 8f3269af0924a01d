"""Builders of the paper's models that are not a plain timm classifier (random weights; no download).

Each mirrors the module layout of its published checkpoint, so that checkpoint loads after at most a key
remapping (``synclone.models.pretrained``).
"""

from __future__ import annotations

import timm
import torch
from torch import nn


def build_torchvision_resnet50(num_classes: int, fc_bias: bool = True) -> nn.Module:
    """torchvision's ResNet-50; Fake-it's ImageNet-SD checkpoint has a classifier without bias."""
    from torchvision.models import resnet50

    model = resnet50(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes, bias=fc_bias)
    return model


def build_vit_linear_probe(num_classes: int, model_name: str, batch_norm: bool = True, **kwargs) -> nn.Module:
    """A timm ViT whose head is a linear probe on the normalised class token.

    ``batch_norm`` puts a BatchNorm without affine parameters before the linear layer, as MAE's and StableRep's
    linear probing do; the module names (``head.0``: the norm, ``head.1``: the linear layer) are theirs.
    """
    model = timm.create_model(model_name, pretrained=False, num_classes=num_classes, global_pool="token", **kwargs)
    if batch_norm:
        model.head = nn.Sequential(nn.BatchNorm1d(model.embed_dim, affine=False, eps=1e-6), model.head)
    return model


class TokenLinearClassifier(nn.Module):
    """DINOv2's linear classifier: a linear layer on the class tokens of the last ``layers`` blocks and the mean
    patch token of the last one, each after the backbone's final norm (register tokens are left out)."""

    def __init__(self, backbone: nn.Module, num_classes: int, layers: int):
        super().__init__()
        self.backbone = backbone
        self.layers = layers
        self.head = nn.Linear((layers + 1) * backbone.embed_dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        outputs = self.backbone.forward_intermediates(
            images, indices=self.layers, norm=True, return_prefix_tokens=True, output_fmt="NLC",
            intermediates_only=True,
        )
        class_tokens = [prefix[:, 0] for _, prefix in outputs]
        patch_mean = outputs[-1][0].mean(dim=1)
        return self.head(torch.cat([*class_tokens, patch_mean], dim=1))


def build_dinov2_linear(num_classes: int, model_name: str, img_size: int = 224, layers: int = 4,
                        **kwargs) -> TokenLinearClassifier:
    """A timm DINOv2 ViT at ``img_size`` (position embeddings for that grid) under the official linear head
    (``layers`` 1 or 4, as in ``dinov2_vitb14_reg_lc``; 4 is the hub's default and the paper's)."""
    if layers not in (1, 4):
        raise ValueError(f"DINOv2's linear heads use the last 1 or 4 blocks, not {layers}")
    backbone = timm.create_model(model_name, pretrained=False, num_classes=0, img_size=img_size, **kwargs)
    return TokenLinearClassifier(backbone, num_classes, layers)
