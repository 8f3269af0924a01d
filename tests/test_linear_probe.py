"""Linear probing: the learning rate is chosen on held-out train data (never test), the head folds into the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synclone import linear_probe as lp
from synclone.clone_params import ProbeParams
from synclone.models.classifier import build_classifier

TINY_RESNET = {"channels": (8, 8, 16, 16), "stem_width": 8}


def _blobs(n_per_class: int, classes: int, dim: int, seed: int, spread: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(classes, dim))
    labels = np.repeat(np.arange(classes), n_per_class)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def test_the_sweep_keeps_the_lr_best_on_held_out_data_even_when_another_is_best_on_test(monkeypatch):
    features, labels = _blobs(30, 3, 3, seed=0)
    fit, holdout = lp.stratified_holdout(labels, 0.3, seed=0)
    eye = np.eye(3, dtype=np.float32)

    # the head each lr "learns": lr 0.1 reads the class centres right; lr 1.0 shifts every prediction by one class
    def fake_train(features, labels, num_classes, lr, params, seed):
        centres = np.stack([features[labels == c].mean(axis=0) for c in range(num_classes)])
        weight = centres if lr == 0.1 else np.roll(eye, 1, axis=0) @ centres
        return weight, -0.5 * (weight**2).sum(axis=1)

    monkeypatch.setattr(lp, "train_linear_head", fake_train)
    # a test split whose labels follow the shifted head: there, lr 1.0 would win
    test_features, test_labels = features[holdout], (labels[holdout] + 1) % 3
    test_accuracy = {lr: lp._accuracy(*fake_train(features[fit], labels[fit], 3, lr, None, 0), test_features,
                                      test_labels) for lr in (0.1, 1.0)}
    assert test_accuracy[1.0] > test_accuracy[0.1]

    params = ProbeParams(lrs=(1.0, 0.1))
    sweep = lp.sweep_learning_rates(features[fit], labels[fit], features[holdout], labels[holdout], 3, params, 0)
    assert sweep["best_lr"] == 0.1
    assert list(sweep["holdout_accuracy"]) == [1.0, 0.1]  # in the order tried, each recorded
    assert sweep["holdout_accuracy"][0.1] > sweep["holdout_accuracy"][1.0]
    np.testing.assert_allclose(sweep["weight"], fake_train(features[fit], labels[fit], 3, 0.1, None, 0)[0])


def test_ties_go_to_the_smaller_learning_rate():
    features, labels = _blobs(20, 2, 2, seed=1, spread=20.0)  # easy: every lr is perfect
    fit, holdout = lp.stratified_holdout(labels, 0.5, seed=0)
    params = ProbeParams(lrs=(1.0, 0.3, 3.0), epochs=5)
    sweep = lp.sweep_learning_rates(features[fit], labels[fit], features[holdout], labels[holdout], 2, params, 0)
    assert set(sweep["holdout_accuracy"].values()) == {1.0}
    assert sweep["best_lr"] == 0.3


def test_the_held_out_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), [10, 20, 3, 7])
    fit, holdout = lp.stratified_holdout(labels, 0.2, seed=3)
    assert len(np.intersect1d(fit, holdout)) == 0 and len(fit) + len(holdout) == len(labels)
    assert np.bincount(labels[holdout]).tolist() == [2, 4, 1, 1]  # >= 1 per class
    again, _ = lp.stratified_holdout(labels, 0.2, seed=3)
    other, _ = lp.stratified_holdout(labels, 0.2, seed=4)
    assert np.array_equal(fit, again) and not np.array_equal(fit, other)
    with pytest.raises(ValueError, match="class 2"):
        lp.stratified_holdout(np.array([0, 0, 1, 1, 2]), 0.5, seed=0)


def test_a_real_head_learns_separable_features():
    features, labels = _blobs(40, 4, 6, seed=2)
    weight, bias = lp.train_linear_head(features, labels, 4, 0.1, ProbeParams(epochs=10), seed=0)
    assert lp._accuracy(weight, bias, features, labels) > 0.95


def test_the_probed_model_is_a_plain_classifier_with_the_standardised_head_folded_in():
    torch.manual_seed(0)
    model = build_classifier("mini_resnet", num_classes=3, arch_kwargs=TINY_RESNET).eval()
    images = np.random.default_rng(0).integers(0, 256, (45, 32, 32, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 15)
    record = lp.linear_probe(model, images, labels, {"lrs": [0.1, 1.0], "epochs": 3, "holdout_fraction": 0.2}, 0)
    assert record["n_fit"] + record["n_holdout"] == len(labels)
    accuracies = {entry["lr"]: entry["accuracy"] for entry in record["holdout_accuracy"]}
    assert set(accuracies) == {0.1, 1.0} and accuracies[record["best_lr"]] == max(accuracies.values())

    # the model's own logits equal the kept head on features standardised with the fit split's statistics
    features = lp.extract_features(model, images)
    fit, _ = lp.stratified_holdout(labels, 0.2, seed=0)
    mean, std = features[fit].mean(axis=0), features[fit].std(axis=0) + 1e-6
    standardised = (features - mean) / std
    weight, bias = lp.train_linear_head(standardised[fit], labels[fit], 3, record["best_lr"],
                                        ProbeParams(lrs=(0.1, 1.0), epochs=3, holdout_fraction=0.2), 0)
    with torch.no_grad():
        logits = model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_allclose(logits, standardised @ weight.T + bias, rtol=1e-3, atol=1e-3)
