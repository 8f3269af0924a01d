import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from synclone.imageset import ImageSet
from synclone.models.classifier import build_classifier
from synclone.predict import predict_logits
from synclone.training import TrainingDivergedError, random_crop_flip, resolve_train_params, train_classifier

FAST = {"epochs": 3, "batch_size": 32, "lr": 3e-3, "warmup_epochs": 0.2, "crop_padding": 2, "hflip": True}


def stripes(n: int, seed: int, size: int = 16) -> ImageSet:
    """Four easy classes: horizontal / vertical / diagonal stripes and a centred square, random colours."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    y, x = np.mgrid[:size, :size]
    images = np.empty((n, size, size, 3), np.uint8)
    for i, label in enumerate(labels):
        phase = rng.integers(0, 4)
        pattern = [
            (y + phase) % 4 < 2,
            (x + phase) % 4 < 2,
            (x + y + phase) % 4 < 2,
            (abs(y - size / 2 + 0.5) < size / 4) & (abs(x - size / 2 + 0.5) < size / 4),
        ][label]
        colours = rng.integers(0, 256, (2, 3))
        noise = rng.normal(0, 20, (size, size, 3))
        images[i] = np.clip(np.where(pattern[..., None], colours[0], colours[1]) + noise, 0, 255)
    metadata = pd.DataFrame({"file": [f"{i}.png" for i in range(n)], "label": labels})
    return ImageSet(images, metadata)


def trained_state(seed: int, params=FAST) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_classifier("mini_resnet", num_classes=4)
    train_classifier(model, stripes(96, seed=1), {**params, "epochs": 1}, seed=seed)
    return model.state_dict()


def test_training_learns_an_easy_task():
    torch.manual_seed(0)
    model = build_classifier("mini_resnet", num_classes=4)
    test = stripes(200, seed=2)
    history = train_classifier(model, stripes(384, seed=1), FAST, seed=0, val_set=test)
    assert not model.training
    assert [record["epoch"] for record in history["epochs"]] == [1, 2, 3]
    assert history["params"] == resolve_train_params(FAST)
    assert history["epochs"][-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the cosine ends at 0
    assert history["epochs"][-1]["val_acc"] > 0.8  # chance: 0.25
    accuracy = (predict_logits(model, test.images).argmax(1) == test.labels).mean()
    assert accuracy == history["epochs"][-1]["val_acc"]


@pytest.mark.parametrize("optimizer, precision", [("adamw", "bf16"), ("sgd", "fp32")])
def test_training_is_deterministic_for_a_seed(optimizer, precision):
    params = {**FAST, "optimizer": optimizer, "lr": 3e-3 if optimizer == "adamw" else 0.05, "precision": precision}
    first, second, other_seed = trained_state(0, params), trained_state(0, params), trained_state(1, params)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not all(torch.equal(first[key], other_seed[key]) for key in first)


def test_training_leaves_the_global_rng_alone():
    model = build_classifier("mini_resnet", num_classes=4)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    train_classifier(model, stripes(64, seed=1), {**FAST, "epochs": 1}, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_diverging_loss_stops_with_a_clear_error():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    params = {**FAST, "optimizer": "sgd", "lr": 1e30, "warmup_epochs": 0}
    with pytest.raises(TrainingDivergedError, match=r"training diverged: loss .* at epoch \d+, step \d+ .*lower params lr"):
        train_classifier(model, stripes(64, seed=1), params, seed=0)


def test_unknown_params_are_rejected():
    with pytest.raises(ValueError, match="unknown training params \\['epoch'\\]"):
        resolve_train_params({"epoch": 3})
    with pytest.raises(ValueError, match="optimizer"):
        resolve_train_params({"optimizer": "adam"})
    with pytest.raises(ValueError, match="precision"):
        resolve_train_params({"precision": "fp16"})


def test_random_crop_flip_takes_windows_of_the_padded_image():
    images = torch.arange(64 * 3 * 8 * 8, dtype=torch.float32).view(64, 3, 8, 8)
    padded = nn.functional.pad(images, (2, 2, 2, 2), mode="reflect")
    out = random_crop_flip(images, padding=2, hflip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    found = set()
    for i in range(64):
        windows = {
            (dy, dx, flip)
            for dy in range(5)
            for dx in range(5)
            for flip in (False, True)
            if torch.equal(out[i], (lambda w: w.flip(-1) if flip else w)(padded[i, :, dy : dy + 8, dx : dx + 8]))
        }
        assert len(windows) == 1, f"image {i} is not one window of its padded original"
        found |= windows
    assert {flip for _, _, flip in found} == {False, True}
    assert len({(dy, dx) for dy, dx, _ in found}) > 10


def test_random_crop_flip_without_padding_only_flips():
    images = torch.rand(32, 3, 8, 8)
    out = random_crop_flip(images, padding=0, hflip=True, generator=torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, x.flip(-1)) for o, x in zip(out, images)]
    kept = [torch.equal(o, x) for o, x in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
