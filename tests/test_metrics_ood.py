import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from synclone.labelmaps import build_label_map
from synclone.metrics.ood import SCORES, entropy_score, energy_score, evaluate_ood, msp_score, ood, ood_statistic


def detection(id_scores, ood_scores):
    """AUROC and FPR@95 of raw scores (higher = ID) through the metric's statistic."""
    statistic = ood_statistic({"s": np.asarray(id_scores, float)}, {"x": {"s": np.asarray(ood_scores, float)}})
    values = statistic(np.arange(len(id_scores))[None], np.arange(len(ood_scores))[None])
    return float(values["x", "s/auroc"][0]), float(values["x", "s/fpr95"][0])


def brute_force_fpr95(id_scores, ood_scores):
    """The smallest OOD false-positive rate over every threshold t (score >= t is called ID) with TPR >= 0.95."""
    thresholds = np.concatenate([np.unique(np.concatenate([id_scores, ood_scores])), [np.inf]])
    best = 1.0
    for threshold in thresholds:
        if np.mean(id_scores >= threshold) >= 0.95:
            best = min(best, float(np.mean(ood_scores >= threshold)))
    return best


def sklearn_auroc(id_scores, ood_scores):
    return roc_auc_score(np.r_[np.ones(len(id_scores)), np.zeros(len(ood_scores))], np.r_[id_scores, ood_scores])


@pytest.mark.parametrize("n_id, n_ood, levels", [(500, 300, None), (20, 7, 4), (21, 40, 3), (37, 37, 2), (100, 1, 5)])
def test_auroc_matches_sklearn_and_fpr95_matches_brute_force_with_and_without_ties(n_id, n_ood, levels):
    rng = np.random.default_rng(n_id)
    id_scores, ood_scores = rng.normal(0.7, 1, n_id), rng.normal(0, 1, n_ood)
    if levels:  # few distinct values: many ties within and across sets
        id_scores, ood_scores = np.round(id_scores * levels / 3), np.round(ood_scores * levels / 3)
    auroc, fpr95 = detection(id_scores, ood_scores)
    assert auroc == pytest.approx(sklearn_auroc(id_scores, ood_scores), abs=1e-12)
    assert fpr95 == pytest.approx(brute_force_fpr95(id_scores, ood_scores), abs=1e-12)


def test_hand_cases_separation_reversal_and_all_ties():
    assert detection([2.0, 3.0], [0.0, 1.0]) == (1.0, 0.0)
    assert detection([0.0, 1.0], [2.0, 3.0]) == (0.0, 1.0)
    assert detection([1.0, 1.0], [1.0, 1.0, 1.0]) == (0.5, 1.0)
    # 20 ID images: keeping 95% = 19 of them puts the threshold at the 2nd lowest ID score (1.0)
    id_scores = np.r_[0.0, np.arange(1.0, 20.0)]
    assert detection(id_scores, [0.5, 0.99, 1.0, 5.0])[1] == 0.5  # 1.0 and 5.0 pass the threshold


def test_a_single_id_and_ood_image():
    assert detection([1.0], [0.0]) == (1.0, 0.0)


def test_scores_are_oriented_so_that_higher_means_in_distribution():
    confident, uniform = np.array([[10.0, 0.0, 0.0]]), np.zeros((1, 3))
    assert msp_score(confident)[0] > msp_score(uniform)[0] == pytest.approx(1 / 3)
    assert entropy_score(uniform)[0] == pytest.approx(-np.log(3))
    assert entropy_score(confident)[0] > entropy_score(uniform)[0]
    probabilities = np.exp(confident[0]) / np.exp(confident[0]).sum()
    assert entropy_score(confident)[0] == pytest.approx((probabilities * np.log(probabilities)).sum())
    assert energy_score(np.array([[1000.0, 1000.0]]))[0] == pytest.approx(1000 + np.log(2))


def test_metric_on_logits_matches_sklearn_for_every_score():
    rng = np.random.default_rng(5)
    id_logits = rng.normal(size=(400, 8)) * 2
    id_logits[np.arange(400), rng.integers(0, 8, 400)] += 4
    ood_logits = {"far": rng.normal(size=(300, 8)) * 2, "near": rng.normal(size=(200, 8)) * 3}
    values = ood(id_logits, ood_logits)
    for name, logits in ood_logits.items():
        for score, function in SCORES.items():
            expected = sklearn_auroc(function(id_logits), function(logits))
            assert values[name][f"{score}/auroc"] == pytest.approx(expected, abs=1e-12)
    for score in SCORES:
        for metric in ("auroc", "fpr95"):
            key = f"{score}/{metric}"
            assert values["mean"][key] == pytest.approx((values["far"][key] + values["near"][key]) / 2)


def test_vectorised_resamples_equal_the_metric_on_each_resample():
    rng = np.random.default_rng(6)
    id_scores, ood_scores = np.round(rng.normal(1, 1, 50), 1), np.round(rng.normal(0, 1, 30), 1)
    statistic = ood_statistic({"s": id_scores}, {"x": {"s": ood_scores}})
    id_indices, ood_indices = rng.integers(0, 50, (6, 50)), rng.integers(0, 30, (6, 30))
    values = statistic(id_indices, ood_indices)
    for row in range(6):
        auroc, fpr95 = detection(id_scores[id_indices[row]], ood_scores[ood_indices[row]])
        assert values["x", "s/auroc"][row] == pytest.approx(auroc, abs=1e-12)
        assert values["x", "s/fpr95"][row] == pytest.approx(fpr95, abs=1e-12)


def predictions_file(logits, labels=None):
    n = len(logits)
    return {"logits": logits.astype(np.float32), "labels": np.full(n, -1) if labels is None else labels,
            "ids": np.array([f"img{i}" for i in range(n)])}


def test_evaluator_gives_each_ood_set_and_their_mean_with_intervals_and_the_convention():
    rng = np.random.default_rng(7)
    predictions = {"test": predictions_file(rng.normal(size=(300, 5)) * 4),
                   "noise": predictions_file(rng.normal(size=(200, 5))),
                   "blank": predictions_file(rng.normal(size=(100, 5)) * 0.5)}
    params = {"id_set": "test", "ood_sets": ["noise", "blank"], "scores": ["msp", "entropy"], "headline": "entropy",
              "bootstrap": {"n": 200, "seed": 1, "confidence": 0.95}}
    datasets = evaluate_ood(predictions, params)
    assert set(datasets) == {"noise", "blank", "mean"}
    assert datasets["noise"]["n"] == 200 and datasets["mean"]["n"] == 300
    assert set(datasets["noise"]["values"]) == {"msp/auroc", "msp/fpr95", "entropy/auroc", "entropy/fpr95"}
    assert datasets["mean"]["details"]["headline"] == "entropy"
    assert "ID" in datasets["mean"]["details"]["convention"]["positive_class"]
    for entry in datasets.values():
        for name, (lower, upper) in entry["ci95"].items():
            assert lower <= entry["values"][name] <= upper
    assert datasets == evaluate_ood(predictions, params)


def test_evaluator_scores_every_set_through_the_id_sets_label_map():
    rng = np.random.default_rng(8)
    id_logits, ood_logits = rng.normal(size=(60, 6)) * 3, rng.normal(size=(40, 6))
    predictions = {"test": predictions_file(id_logits), "other": predictions_file(ood_logits)}
    indices = [0, 2, 4]
    params = {"id_set": "test", "ood_sets": ["other"], "bootstrap": {"n": 0},
              "label_maps": {"test": {"kind": "subset", "indices": indices}}}
    values = evaluate_ood(predictions, params)["other"]["values"]
    assert values == ood(id_logits[:, indices], {"other": ood_logits[:, indices]})["other"]
    label_map = build_label_map(params["label_maps"]["test"])
    assert values == ood(id_logits, {"other": ood_logits}, label_map=label_map)["other"]


@pytest.mark.parametrize("change, message", [
    ({"headline": "energy", "scores": ["msp"]}, "headline"),
    ({"scores": ["odin"]}, "non-empty list of"),
    ({"ood_sets": ["mean"]}, "distinct sets"),
    ({"ood_sets": ["noise", "noise"]}, "distinct sets"),
    ({"ood_sets": ["missing"]}, "no predictions named 'missing'"),
])
def test_evaluator_rejects_bad_params(change, message):
    predictions = {"test": predictions_file(np.zeros((3, 2))), "noise": predictions_file(np.ones((3, 2)))}
    with pytest.raises(ValueError, match=message):
        evaluate_ood(predictions, {"id_set": "test", "ood_sets": ["noise"], **change})
