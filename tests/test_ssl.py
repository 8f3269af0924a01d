"""SynCLR-style pretraining: the multi-positive loss, SimCLR's augmentations, batches by prompt, a tiny run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from synclone.clone_params import SSLParams
from synclone.models.classifier import build_classifier
from synclone.ssl import (_GroupSampler, colour_augment, multi_positive_loss, pretrain_contrastive, prompt_groups,
                          random_resized_crop)

TINY_RESNET = {"channels": (8, 8, 16, 16), "stem_width": 8}


def test_multi_positive_loss_matches_a_hand_computed_case():
    # unit vectors, so cosine = dot product; temperature 1
    embeddings = torch.tensor([[1.0, 0], [1, 0], [0, 1], [-1, 0], [-1, 0]])
    groups = torch.tensor([0, 0, 0, 1, 1])
    # anchors 0 and 1: others at similarities (1, 0, -1, -1), positives at 1 and 0 -> log A - 1/2, A = e + 1 + 2/e
    # anchor 2: every other at 0, positives two of them -> log 4; anchors 3, 4: (-1, -1, 0, 1), positive 1 -> log A - 1
    a = math.e + 1 + 2 / math.e
    expected = (2 * (math.log(a) - 0.5) + math.log(4) + 2 * (math.log(a) - 1)) / 5
    assert multi_positive_loss(embeddings, groups, temperature=1.0).item() == pytest.approx(expected, rel=1e-6)
    # the loss normalises: scaling an embedding changes nothing
    scaled = embeddings * torch.tensor([[2.0], [0.5], [3], [1], [7]])
    assert multi_positive_loss(scaled, groups, 1.0).item() == pytest.approx(expected, rel=1e-6)


def nt_xent_reference(z: np.ndarray, temperature: float) -> float:
    """SimCLR's NT-Xent written out: rows i and i + n are the two views of image i."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z) // 2
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        logits = np.array([z[i] @ z[k] / temperature for k in others])
        total += -(z[i] @ z[partner] / temperature) + math.log(np.exp(logits).sum())
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_multi_positive_loss_is_nt_xent_when_every_group_has_one_pair(temperature):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(12, 5))
    groups = torch.arange(6).repeat(2)  # views [image 0..5, image 0..5]
    loss = multi_positive_loss(torch.tensor(z, dtype=torch.float64), groups, temperature).item()
    assert loss == pytest.approx(nt_xent_reference(z, temperature), rel=1e-5)


def test_multi_positive_loss_needs_a_positive_for_every_view():
    with pytest.raises(ValueError, match="positive"):
        multi_positive_loss(torch.randn(3, 4), torch.tensor([0, 0, 1]), 0.1)


def test_augmentations_are_seeded_and_reduce_to_the_identity():
    images = torch.rand(6, 3, 32, 32)
    same = random_resized_crop(images, (1.0, 1.0), torch.Generator().manual_seed(0), ratio=(1.0, 1.0))
    assert torch.allclose(same, images, atol=1e-5)
    unchanged = colour_augment(images, 0.0, 1.0, 0.0, torch.Generator().manual_seed(0))
    assert torch.allclose(unchanged, images, atol=1e-5)

    def augment(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        crops = random_resized_crop(images, (0.3, 1.0), generator, hflip=True)
        return colour_augment(crops, 0.4, 0.8, 0.2, generator)

    first = augment(1)
    assert first.shape == images.shape and first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, augment(1)) and not torch.allclose(first, augment(2))
    grey = colour_augment(images, 0.4, 0.0, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])


def test_prompt_groups_join_images_of_one_prompt_and_keep_real_images_apart():
    generated = pd.DataFrame({"prompt": ["a star", "a ring", "a star"]})
    real = pd.DataFrame({"label": [0, 1]})
    groups = prompt_groups([generated, real, generated])
    assert groups[0] == groups[2] == groups[5] and groups[1] == groups[6]
    assert len(set(groups[[0, 1, 3, 4]])) == 4


def test_group_batches_hold_images_per_group_of_each_group():
    groups = np.repeat(np.arange(5), [4, 4, 1, 6, 3])
    sample = _GroupSampler(groups, batch_size=8, images_per_group=2, generator=torch.Generator().manual_seed(0))
    seen = set()
    for _ in range(5):
        index, group = sample()
        assert len(index) == 8 and torch.equal(torch.from_numpy(groups)[index], group)
        assert sorted(torch.bincount(group, minlength=5)[torch.unique(group)].tolist()) == [2, 2, 2, 2]
        seen |= set(group.tolist())
    assert seen == set(range(5))  # every group is drawn before any repeats


@pytest.mark.parametrize("positives", ["image", "prompt"])
def test_pretraining_changes_the_backbone_and_records_its_history(positives):
    torch.manual_seed(0)
    model = build_classifier("mini_resnet", arch_kwargs=TINY_RESNET)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    images = np.random.default_rng(0).integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    groups = np.repeat(np.arange(6), 4)
    params = {"steps": 3, "batch_size": 8, "positives": positives, "images_per_group": 4, "log_every": 2,
              "warmup_steps": 1, "projection_hidden": 32, "projection_dim": 16, "precision": "fp32"}
    history = pretrain_contrastive(model, images, groups, params, seed=0)
    assert not model.training
    after = model.backbone.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    assert [record["step"] for record in history["log"]] == [2, 3]
    assert history["params"] == SSLParams.from_dict(params).to_dict()
    # two views of 8 images: SimCLR has 1 positive per view; 4 images of a prompt x 2 views have 7
    expected = {"image": 1.0, "prompt": 7.0}[positives]
    assert all(record["positives_per_view"] == pytest.approx(expected) for record in history["log"])
    assert all(math.isfinite(record["loss"]) for record in history["log"])


def test_prompt_positives_need_one_group_per_image():
    model = build_classifier("mini_resnet", arch_kwargs=TINY_RESNET)
    images = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="one group"):
        pretrain_contrastive(model, images, None, {"steps": 1, "batch_size": 4, "positives": "prompt"}, 0)


@pytest.mark.parametrize("bad, message", [
    ({"positives": "caption"}, "positives"),
    ({"views": 1}, "views >= 2"),
    ({"crop_scale": [0.0, 1.0]}, "crop_scale"),
    ({"epochs": 3}, "unknown SSLParams"),
])
def test_ssl_params_reject_bad_values(bad, message):
    with pytest.raises(ValueError, match=message):
        SSLParams.from_dict(bad)
