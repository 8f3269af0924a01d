import json
import subprocess
import sys

import numpy as np
import pytest

from synclone.metrics import LOGIT_METRICS, METRIC_NAMES, PREDICTION_NAMES, corruption_view, evaluate_adversarial
from synclone.metrics.calibration import evaluate_calibration
from synclone.results import make_result, validate_result

BOOTSTRAP = {"n": 100, "seed": 0, "confidence": 0.95}
CLASSES = 4

PARAMS = {
    "calibration": {"eval_sets": ["test", "shifted"], "bins": 10},
    "corruptions": {"eval_set": "test", "corruptions_2d": ["snow", "jpeg"], "corruptions_3d": ["fog_3d"],
                    "severities": [1, 3]},
    "ood": {"id_set": "test", "ood_sets": ["noise", "shifted"], "scores": ["msp", "entropy", "energy"],
            "headline": "entropy"},
    "context_bias": {"eval_set": "focus"},
    "shape_bias": {"eval_set": "cue_conflict"},
    "background_bias": {"original": "bg_original", "mixed_same": "bg_same", "mixed_rand": "bg_rand", "paired": True,
                        "label_maps": {name: {"kind": "top1_map", "map": [0, 1, 1, -1]}
                                       for name in ("bg_original", "bg_same", "bg_rand")}},
}


def predictions_file(rng, n, labels=None, **extra):
    labels = rng.integers(0, CLASSES, n) if labels is None else labels
    logits = rng.normal(size=(n, CLASSES)) * 2
    logits[np.arange(n), labels] += 2.0
    return {"logits": logits.astype(np.float32), "labels": labels.astype(np.int64),
            "ids": np.array([f"images/{i:06d}.png" for i in range(n)]), **extra}


def all_predictions():
    rng = np.random.default_rng(0)
    predictions = {name: predictions_file(rng, 120) for name in ("test", "shifted", "noise", "cue_conflict")}
    labels = predictions["test"]["labels"]
    for corruption in ("snow", "jpeg", "fog_3d"):
        for severity in (1, 3):
            predictions[corruption_view("test", corruption, severity)] = predictions_file(rng, 120, labels)
    predictions["focus"] = predictions_file(rng, 80, uncommon_count=rng.integers(0, 4, 80))
    predictions["cue_conflict"]["texture_label"] = rng.integers(0, CLASSES, 120)
    bg_labels = rng.integers(0, 2, 90)
    for name in ("bg_original", "bg_same", "bg_rand"):
        predictions[name] = predictions_file(rng, 90, bg_labels)
    return predictions


@pytest.mark.parametrize("metric", sorted(LOGIT_METRICS))
def test_every_evaluator_writes_a_valid_result_from_exactly_its_listed_predictions(metric):
    params = {**PARAMS[metric], "bootstrap": BOOTSTRAP}
    listed = PREDICTION_NAMES[metric](params)
    predictions = {name: arrays for name, arrays in all_predictions().items() if name in listed}
    datasets = LOGIT_METRICS[metric](predictions, params)
    result = make_result("model_a", metric, params, datasets)
    validate_result(result)
    json.dumps(datasets, allow_nan=False)  # plain JSON types only, no NaN
    for entry in datasets.values():
        assert set(entry["ci95"]) == set(entry["values"])
        for name, interval in entry["ci95"].items():
            if entry["values"][name] is None:
                assert interval is None
            else:
                assert interval[0] <= entry["values"][name] <= interval[1], name
        assert entry["details"]["bootstrap"]["n"] == BOOTSTRAP["n"]
    assert datasets == LOGIT_METRICS[metric](predictions, params)  # deterministic


def test_adversarial_summary_writes_a_valid_result():
    rng = np.random.default_rng(1)
    clean = rng.random(200) < 0.8
    correct = {"clean": clean, "fgsm": clean & (rng.random(200) < 0.5), "pgd": clean & (rng.random(200) < 0.3)}
    params = {"eval_set": "test", "eps": 1 / 255, "bootstrap": BOOTSTRAP}
    datasets = evaluate_adversarial(correct, params)
    validate_result(make_result("model_a", "adversarial", params, datasets))
    assert set(datasets["test"]["values"]) == {"clean_accuracy", "fgsm_accuracy", "fgsm_ratio", "pgd_accuracy",
                                               "pgd_ratio"}


def test_metric_names_cover_the_logit_metrics_and_the_adversarial_summary():
    assert set(METRIC_NAMES) == {*LOGIT_METRICS, "adversarial"}
    assert set(PREDICTION_NAMES) == set(LOGIT_METRICS)


def test_no_resamples_gives_null_intervals():
    params = {"eval_sets": ["test"], "bootstrap": {"n": 0, "seed": 0, "confidence": 0.95}}
    entry = evaluate_calibration(all_predictions(), params)["test"]
    assert all(interval is None for interval in entry["ci95"].values())


@pytest.mark.parametrize("corrupt, message", [
    (lambda p: p.update(logits=np.where(np.arange(4) == 1, np.nan, p["logits"]).astype(np.float32)), "NaN or infinite"),
    (lambda p: p.update(logits=p["logits"][:0], labels=p["labels"][:0], ids=p["ids"][:0]), "empty"),
    (lambda p: p.update(labels=p["labels"][:-1]), "must both have shape"),
    (lambda p: p.update(labels=p["labels"].astype(float)), "labels must be integers"),
    (lambda p: p.update(logits=p["logits"][:, 0]), "float N x C"),
    (lambda p: p.update(logits=p["logits"].astype(np.int64)), "float N x C"),
    (lambda p: p.pop("ids"), r"lack array\(s\) \['ids'\]"),
    (lambda p: p.update(labels=p["labels"] + CLASSES), "classes 0..3"),
])
def test_broken_predictions_raise_a_clear_error(corrupt, message):
    predictions = all_predictions()
    corrupt(predictions["test"])
    with pytest.raises(ValueError, match=message):
        evaluate_calibration(predictions, {"eval_sets": ["test"], "bootstrap": {"n": 10}})


def test_unknown_bootstrap_keys_are_rejected():
    with pytest.raises(ValueError, match="unknown key"):
        evaluate_calibration(all_predictions(), {"eval_sets": ["test"], "bootstrap": {"n": 10, "resamples": 5}})


def test_a_probability_metric_refuses_a_decision_only_label_map():
    params = {"eval_sets": ["test"], "label_maps": {"test": {"kind": "top1_map", "map": [0, 0, 1, 1]}}}
    with pytest.raises(ValueError, match="decisions only"):
        evaluate_calibration(all_predictions(), params)


def test_the_metrics_package_imports_without_torch_sklearn_or_torchmetrics():
    code = ("import sys, synclone.metrics, synclone.labelmaps; "
            "print(sorted(m for m in ('torch', 'sklearn', 'torchmetrics', 'pandas') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
