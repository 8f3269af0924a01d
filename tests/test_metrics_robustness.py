import numpy as np
import pytest

from synclone.metrics.robustness import (adversarial, corruption_view, corruptions, evaluate_adversarial,
                                         evaluate_corruptions)


def test_adversarial_accuracies_and_ratios_by_hand():
    values = adversarial({"clean": np.array([1, 1, 1, 0]), "fgsm": np.array([1, 0, 0, 0]),
                          "pgd": np.array([False, False, False, False])})
    assert values == {"clean_accuracy": 0.75, "fgsm_accuracy": 0.25, "fgsm_ratio": pytest.approx(1 / 3),
                      "pgd_accuracy": 0.0, "pgd_ratio": 0.0}


def test_adversarial_ratio_is_null_when_clean_accuracy_is_zero():
    datasets = evaluate_adversarial({"clean": np.zeros(5, bool), "fgsm": np.zeros(5, bool)},
                                    {"eval_set": "test", "bootstrap": {"n": 50}})
    entry = datasets["test"]
    assert entry["values"]["fgsm_ratio"] is None and entry["ci95"]["fgsm_ratio"] is None
    assert entry["values"]["clean_accuracy"] == 0.0 and entry["ci95"]["clean_accuracy"] == [0.0, 0.0]


def test_adversarial_views_are_resampled_together():
    rng = np.random.default_rng(0)
    clean = rng.random(400) < 0.8
    entry = evaluate_adversarial({"clean": clean, "fgsm": clean.copy()}, {"eval_set": "test"})["test"]
    assert entry["ci95"]["fgsm_ratio"] == [1.0, 1.0]  # independent resamples would scatter around 1
    lower, upper = entry["ci95"]["clean_accuracy"]
    assert lower < clean.mean() == entry["values"]["clean_accuracy"] < upper


@pytest.mark.parametrize("correct, message", [
    ({"fgsm": np.ones(3)}, "needs 'clean'"),
    ({"clean": np.ones(3)}, "at least one attack"),
    ({"clean": np.ones(3), "fgsm": np.ones(4)}, "same N"),
    ({"clean": np.ones(0), "fgsm": np.ones(0)}, "N > 0"),
    ({"clean": np.ones(3), "fgsm": np.array([0, 1, 2])}, "0/1"),
])
def test_adversarial_rejects_inconsistent_correctness(correct, message):
    with pytest.raises(ValueError, match=message):
        adversarial(correct)


CLEAN = np.array([1, 1, 0, 0])
VIEWS = {("shot_noise", 1): [1, 1, 1, 0], ("shot_noise", 2): [1, 1, 0, 0],
         ("snow", 1): [1, 0, 0, 0], ("snow", 2): [0, 0, 0, 0],
         ("fog_3d", 1): [1, 1, 1, 1], ("fog_3d", 2): [1, 1, 1, 0]}


def test_corruption_values_by_hand_each_pair_on_its_own():
    values = corruptions(CLEAN, {pair: np.array(v) for pair, v in VIEWS.items()}, ["shot_noise", "snow"],
                         ["fog_3d"], severities=[1, 2])
    expected = {
        "clean_accuracy": 0.5,
        "accuracy/shot_noise/1": 0.75, "accuracy/shot_noise/2": 0.5, "accuracy/snow/1": 0.25, "accuracy/snow/2": 0.0,
        "accuracy/fog_3d/1": 1.0, "accuracy/fog_3d/2": 0.75,
        "mean/shot_noise": 0.625, "mean/snow": 0.125, "mean/fog_3d": 0.875,
        "mean_accuracy_2d": 0.375, "mean_accuracy_3d": 0.875, "mean_accuracy": 3.25 / 6,
        "r_cc_2d": 0.75, "r_cc_3d": 1.75, "r_cc": 3.25 / 6 / 0.5,
    }
    assert values == pytest.approx(expected)
    # a running mean over the pairs (the authors' bug) would report 0.375 for snow at severity 2
    assert values["accuracy/snow/2"] == 0.0


def test_corruptions_without_3d_report_no_3d_values_and_null_ratios_for_zero_clean_accuracy():
    views = {pair: np.array(v) for pair, v in VIEWS.items() if pair[0] == "snow"}
    values = corruptions(np.zeros(4), views, ["snow"], severities=[1, 2])
    assert not any("3d" in name for name in values)
    assert values["r_cc_2d"] is None and values["r_cc"] is None and values["mean_accuracy"] == 0.125


def test_corruptions_reject_missing_pairs_and_duplicate_names():
    views = {pair: np.array(v) for pair, v in VIEWS.items()}
    with pytest.raises(ValueError, match=r"\('snow', 3\)"):
        corruptions(CLEAN, views, ["snow"], severities=[1, 2, 3])
    with pytest.raises(ValueError, match="distinct corruptions"):
        corruptions(CLEAN, views, ["snow"], ["snow"], severities=[1])


def predictions_file(logits, labels, ids=None):
    return {"logits": np.asarray(logits, np.float32), "labels": np.asarray(labels, np.int64),
            "ids": np.array(ids if ids is not None else [f"img{i}" for i in range(len(labels))])}


def one_hot(decisions, classes=3):
    return np.eye(classes)[decisions] * 4.0


def corruption_predictions():
    labels = np.array([0, 1, 2, 0])
    predictions = {"test": predictions_file(one_hot(np.where(CLEAN == 1, labels, (labels + 1) % 3)), labels)}
    for (corruption, severity), correct in VIEWS.items():
        decisions = np.where(np.array(correct) == 1, labels, (labels + 1) % 3)
        predictions[corruption_view("test", corruption, severity)] = predictions_file(one_hot(decisions), labels)
    return predictions


CORRUPTION_PARAMS = {"eval_set": "test", "corruptions_2d": ["shot_noise", "snow"], "corruptions_3d": ["fog_3d"],
                     "severities": [1, 2], "bootstrap": {"n": 100, "seed": 0, "confidence": 0.95}}


def test_evaluator_reads_the_views_by_name_and_matches_the_pure_function():
    entry = evaluate_corruptions(corruption_predictions(), CORRUPTION_PARAMS)["test"]
    expected = corruptions(CLEAN, {pair: np.array(v) for pair, v in VIEWS.items()}, ["shot_noise", "snow"],
                           ["fog_3d"], severities=[1, 2])
    assert entry["n"] == 4 and entry["values"] == expected
    assert set(entry["ci95"]) == set(expected)
    assert corruption_view("test", "shot_noise", 3) == "test@shot_noise-3"


@pytest.mark.parametrize("key, message", [("ids", "differ in ids"), ("labels", "differ in labels")])
def test_evaluator_rejects_views_of_other_images(key, message):
    predictions = corruption_predictions()
    view = predictions[corruption_view("test", "snow", 2)]
    view[key] = view[key][::-1].copy()
    with pytest.raises(ValueError, match=message):
        evaluate_corruptions(predictions, CORRUPTION_PARAMS)


def test_evaluator_names_a_missing_view():
    predictions = corruption_predictions()
    del predictions["test@fog_3d-2"]
    with pytest.raises(ValueError, match="no predictions named 'test@fog_3d-2'"):
        evaluate_corruptions(predictions, CORRUPTION_PARAMS)
