import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

from synclone.labelmaps import Identity, build_label_map
from synclone.metrics.calibration import (calibration, calibration_statistic, equal_width_bin, evaluate_calibration,
                                          reliability_bins, top_label)


def random_predictions(n=2000, classes=10, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) * scale
    logits[np.arange(n), labels] += rng.normal(1.0, 1.0, n) * scale  # better than chance, not perfect
    return logits.astype(np.float32), labels


def softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("bins", [15, 20])
def test_ece_matches_torchmetrics_away_from_bin_edges(bins):
    # torchmetrics bins [lo, hi) and gives confidence 1.0 a bin of its own; random confidences never sit on an
    # edge, so both conventions agree here (the edge cases are tested by hand below)
    logits, labels = random_predictions()
    values = calibration(logits, labels, bins=bins)
    reference = multiclass_calibration_error(torch.from_numpy(logits), torch.from_numpy(labels), num_classes=10,
                                             n_bins=bins, norm="l1")
    assert values["ece"] == pytest.approx(float(reference), abs=1e-5)


def test_nll_accuracy_and_confidence_match_independent_references():
    logits, labels = random_predictions(seed=1)
    values = calibration(logits, labels)
    probabilities = softmax(logits.astype(np.float64))
    assert values["nll"] == pytest.approx(log_loss(labels, probabilities, labels=np.arange(10)), rel=1e-9)
    assert values["accuracy"] == accuracy_score(labels, probabilities.argmax(axis=1))
    assert values["confidence"] == pytest.approx(probabilities.max(axis=1).mean(), rel=1e-12)


def test_confidence_exactly_one_falls_in_the_last_bin():
    logits = np.array([[0.0, -1000.0], [np.log(0.95 / 0.05), 0.0]])  # confidences exactly 1.0 and 0.95
    labels = np.array([1, 0])  # the certain prediction is wrong, the 0.95 one right
    confidence, correct, _ = top_label(logits, labels, Identity())
    assert confidence[0] == 1.0
    assert [b["count"] for b in reliability_bins(confidence, correct, 15)][-1] == 2
    # one bin: accuracy 0.5, mean confidence 0.975
    assert calibration(logits, labels, bins=15)["ece"] == pytest.approx(0.475)
    # torchmetrics puts 1.0 in a bin of its own: 0.5 * |0 - 1| + 0.5 * |1 - 0.95|
    reference = multiclass_calibration_error(torch.tensor(logits), torch.tensor(labels), num_classes=2, n_bins=15)
    assert float(reference) == pytest.approx(0.525)


def test_a_confidence_on_a_bin_edge_goes_to_the_lower_bin():
    edges = np.linspace(0, 1, 11)
    np.testing.assert_array_equal(equal_width_bin(edges, 10), [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(equal_width_bin(np.nextafter(edges[1:-1], 1), 10), np.arange(1, 10))
    # two equal logits: confidence exactly 0.5 = the edge of 2 bins, counted in (0, 0.5]
    confidence, correct, _ = top_label(np.zeros((1, 2)), np.array([0]), Identity())
    assert confidence[0] == 0.5
    assert [b["count"] for b in reliability_bins(confidence, correct, 2)] == [1, 0]


def test_empty_bins_are_reported_with_count_zero_and_null_accuracy():
    confidence, correct = np.array([0.55, 0.65, 0.95]), np.array([1.0, 0.0, 1.0])
    diagram = reliability_bins(confidence, correct, 10)
    assert len(diagram) == 10 and [b["count"] for b in diagram] == [0, 0, 0, 0, 0, 1, 1, 0, 0, 1]
    assert diagram[0] == {"lower": 0.0, "upper": 0.1, "count": 0, "accuracy": None, "confidence": None}
    assert diagram[5]["accuracy"] == 1.0 and diagram[5]["confidence"] == pytest.approx(0.55)
    assert diagram[9]["lower"] == pytest.approx(0.9) and diagram[9]["upper"] == 1.0


def test_ece_is_the_count_weighted_gap_of_the_reliability_bins():
    logits, labels = random_predictions(n=500, seed=2)
    confidence, correct, _ = top_label(logits, labels, Identity())
    diagram = reliability_bins(confidence, correct, 15)
    by_hand = sum(b["count"] / 500 * abs(b["accuracy"] - b["confidence"]) for b in diagram if b["count"])
    assert calibration(logits, labels)["ece"] == pytest.approx(by_hand, abs=1e-12)


@pytest.mark.parametrize("correct_value", [0.0, 1.0])
def test_all_wrong_and_all_correct(correct_value):
    confidence = np.array([0.3, 0.5, 0.7, 0.9])
    correct = np.full(4, correct_value)
    values = _values(confidence, correct, bins=10)
    assert values["accuracy"] == correct_value
    expected = abs(correct_value - confidence.mean())
    assert values["ece"] == pytest.approx(expected) and values["adaptive_ece"] == pytest.approx(expected)


def test_adaptive_ece_uses_equal_mass_bins_by_hand():
    confidence, correct = np.array([0.9, 0.6, 0.8, 0.7]), np.array([1.0, 0.0, 0.0, 1.0])
    # sorted: {0.6 wrong, 0.7 right} | {0.8 wrong, 0.9 right}: (|1 - 1.3| + |1 - 1.7|) / 4
    assert _values(confidence, correct, bins=2)["adaptive_ece"] == pytest.approx(0.25)
    # more bins than images: every image alone
    assert _values(confidence, correct, bins=6)["adaptive_ece"] == pytest.approx(np.abs(correct - confidence).mean())
    # equal-width bins put 0.6 and 0.7 in (0.5, 1] with the others: one bin, |2 - 3| / 4
    assert _values(confidence, correct, bins=2)["ece"] == pytest.approx(0.25)
    assert _values(confidence, correct, bins=10)["ece"] == pytest.approx(np.abs(correct - confidence).mean())


def test_a_single_sample():
    values = calibration(np.array([[2.0, 0.0, 0.0]]), np.array([0]))
    confidence = softmax(np.array([[2.0, 0.0, 0.0]]))[0, 0]
    assert values["accuracy"] == 1.0 and values["confidence"] == pytest.approx(confidence)
    assert values["ece"] == pytest.approx(1 - confidence) and values["adaptive_ece"] == pytest.approx(1 - confidence)
    assert values["nll"] == pytest.approx(-np.log(confidence))


def test_huge_logits_are_numerically_stable():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4 - 5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = calibration(logits, np.array([2, 2]))
    assert values["nll"] == pytest.approx((2e4 + 5 + np.log1p(np.exp(-5))) / 2)
    assert values["accuracy"] == 0.0 and values["confidence"] == pytest.approx((1 + 1 / (1 + np.exp(-5))) / 2)


def test_subset_label_map_scores_the_member_logits_only():
    logits, labels = random_predictions(n=300, classes=6, seed=3)
    indices = [5, 0, 3]
    members = np.isin(labels, indices)
    position_of = {index: position for position, index in enumerate(indices)}
    subset_labels = np.array([position_of[label] for label in labels[members]])  # labels are positions in indices
    label_map = build_label_map({"kind": "subset", "indices": indices})
    values = calibration(logits[members], subset_labels, label_map=label_map)
    assert values == calibration(logits[members][:, indices], subset_labels)


def test_vectorised_resamples_equal_the_metric_on_each_resample():
    logits, labels = random_predictions(n=60, seed=4)
    logits[:10] = logits[10:20]  # tied confidences
    labels[:10] = labels[10:20]
    statistic = calibration_statistic(*top_label(logits, labels, Identity()), bins=7)
    indices = np.random.default_rng(0).integers(0, 60, size=(5, 60))
    vectorised = statistic(indices)
    for row, resample in enumerate(indices):
        one = calibration(logits[resample], labels[resample], bins=7)
        for name, value in one.items():
            assert vectorised[name][row] == pytest.approx(value, abs=1e-12), name


def test_evaluator_output_and_speed_of_1000_resamples_on_2000_images():
    logits, labels = random_predictions()
    predictions = {"test": {"logits": logits, "labels": labels, "ids": np.arange(2000).astype(str)}}
    params = {"eval_sets": ["test"], "bins": 15, "bootstrap": {"n": 1000, "seed": 0, "confidence": 0.95}}
    start = time.perf_counter()
    entry = evaluate_calibration(predictions, params)["test"]
    assert time.perf_counter() - start < 2.0
    assert entry["n"] == 2000 and entry["values"] == calibration(logits, labels)
    for name, (lower, upper) in entry["ci95"].items():
        assert lower <= entry["values"][name] <= upper, name
    assert len(entry["details"]["reliability"]) == 15


def _values(confidence, correct, bins):
    """Calibration values from per-image arrays (NLL is irrelevant here)."""
    statistic = calibration_statistic(confidence, correct, np.zeros_like(confidence), bins)
    return {name: float(value[0]) for name, value in statistic(np.arange(len(confidence))[None]).items()}
