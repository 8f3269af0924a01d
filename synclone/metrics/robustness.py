"""Robustness to attacks and corruptions: accuracy on views of the same images, and its ratio to clean accuracy.

All views of an eval set are resampled with the same image indices (paired bootstrap).

Adversarial values: ``clean_accuracy`` and per attack (e.g. fgsm, pgd) ``{attack}_accuracy`` and
``{attack}_ratio`` = attack accuracy / clean accuracy (R_adv; null when clean accuracy is 0).

Corruption values: ``clean_accuracy``, ``accuracy/{corruption}/{severity}`` (each pair on its own: the authors'
running mean across pairs is a bug), ``mean/{corruption}`` over severities, ``mean_accuracy_2d``,
``mean_accuracy_3d`` (when 3D corruptions are given), ``mean_accuracy`` over all pairs, and Avg. R_cc =
mean corrupted accuracy / clean accuracy as ``r_cc_2d``, ``r_cc_3d``, ``r_cc``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from synclone.metrics.bootstrap import Statistic, bootstrap
from synclone.metrics.common import (Arrays, bootstrap_estimate, check_same_images, checked_predictions,
                                     correctness_matrix, dataset_entry, label_map_for, ratio, view_accuracies)

CLEAN = "clean"


def corruption_view(eval_set: str, corruption: str, severity: int) -> str:
    """The name of the predictions of ``eval_set`` under one corruption at one severity, e.g. ``test@snow-3``."""
    return f"{eval_set}@{corruption}-{int(severity)}"


def adversarial_statistic(correct: Mapping[str, np.ndarray]) -> Statistic:
    """``correct`` maps ``clean`` and each attack to per-image correctness on the same images."""
    if CLEAN not in correct or len(correct) < 2:
        raise ValueError(f"adversarial correctness needs '{CLEAN}' and at least one attack, got {sorted(correct)}")
    attacks = [name for name in correct if name != CLEAN]
    matrix = correctness_matrix({CLEAN: correct[CLEAN], **{name: correct[name] for name in attacks}})

    def statistic(indices: np.ndarray) -> dict[str, np.ndarray]:
        accuracy = view_accuracies(matrix, indices)
        values = {"clean_accuracy": accuracy[:, 0]}
        for column, attack in enumerate(attacks, start=1):
            values[f"{attack}_accuracy"] = accuracy[:, column]
            values[f"{attack}_ratio"] = ratio(accuracy[:, column], accuracy[:, 0])
        return values

    return statistic


def adversarial(correct: Mapping[str, np.ndarray]) -> dict[str, float | None]:
    """Adversarial values from per-image correctness (no intervals)."""
    return bootstrap(adversarial_statistic(correct), len(correct[CLEAN]), n_boot=0).values


def evaluate_adversarial(correct: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> dict[str, dict]:
    """The adversarial rule's summary: ``correct`` = {"clean": ..., "fgsm": ..., "pgd": ...} per image of
    ``params['eval_set']``; one dataset named after the eval set."""
    eval_set = params["eval_set"]
    estimate, interval = bootstrap_estimate(adversarial_statistic(correct), len(correct[CLEAN]), params,
                                            "adversarial", eval_set)
    details = {"ratio": "attack accuracy / clean accuracy on the same images (R_adv)", "bootstrap": interval}
    return {eval_set: dataset_entry(len(correct[CLEAN]), estimate.values, estimate.ci95, details)}


def corruptions_statistic(clean: np.ndarray, views: Mapping[tuple[str, int], np.ndarray],
                          corruptions_2d: Sequence[str], corruptions_3d: Sequence[str],
                          severities: Sequence[int]) -> Statistic:
    """``views`` maps (corruption, severity) to per-image correctness on the same images as ``clean``."""
    groups = {"2d": list(corruptions_2d), "3d": list(corruptions_3d)}
    corruptions = groups["2d"] + groups["3d"]
    if not corruptions or len(set(corruptions)) != len(corruptions) or not severities:
        raise ValueError(f"need distinct corruptions (2D {groups['2d']}, 3D {groups['3d']}) and some severities, "
                         f"got severities {severities}")
    pairs = [(corruption, int(severity)) for corruption in corruptions for severity in severities]
    missing = [pair for pair in pairs if pair not in views]
    if missing:
        raise ValueError(f"no correctness for (corruption, severity) {missing}")
    matrix = correctness_matrix({CLEAN: clean, **{pair: views[pair] for pair in pairs}})

    def statistic(indices: np.ndarray) -> dict[str, np.ndarray]:
        accuracy = view_accuracies(matrix, indices)
        clean_accuracy = accuracy[:, 0]
        by_pair = dict(zip(pairs, accuracy[:, 1:].T))
        values = {"clean_accuracy": clean_accuracy}
        for corruption, severity in pairs:
            values[f"accuracy/{corruption}/{severity}"] = by_pair[corruption, severity]
        for corruption in corruptions:
            values[f"mean/{corruption}"] = np.mean([by_pair[corruption, int(s)] for s in severities], axis=0)
        for group, members in groups.items():
            if members:
                mean = np.mean([by_pair[pair] for pair in pairs if pair[0] in members], axis=0)
                values[f"mean_accuracy_{group}"] = mean
                values[f"r_cc_{group}"] = ratio(mean, clean_accuracy)
        values["mean_accuracy"] = accuracy[:, 1:].mean(axis=1)
        values["r_cc"] = ratio(values["mean_accuracy"], clean_accuracy)
        return values

    return statistic


def corruptions(clean: np.ndarray, views: Mapping[tuple[str, int], np.ndarray], corruptions_2d: Sequence[str],
                corruptions_3d: Sequence[str] = (),
                severities: Sequence[int] = (1, 2, 3, 4, 5)) -> dict[str, float | None]:
    """Corruption values from per-image correctness (no intervals)."""
    statistic = corruptions_statistic(clean, views, corruptions_2d, corruptions_3d, severities)
    return bootstrap(statistic, len(clean), n_boot=0).values


def evaluate_corruptions(predictions: Mapping[str, Arrays], params: Mapping[str, Any]) -> dict[str, dict]:
    """``params``: ``eval_set`` (the clean predictions), ``corruptions_2d``, ``corruptions_3d`` (optional),
    ``severities``; each view's predictions are named ``corruption_view(eval_set, corruption, severity)``."""
    eval_set = params["eval_set"]
    corruptions_2d, corruptions_3d = list(params["corruptions_2d"]), list(params.get("corruptions_3d", []))
    severities = [int(severity) for severity in params["severities"]]
    label_map = label_map_for(params, eval_set)
    clean = checked_predictions(predictions, eval_set)
    views = {}
    for corruption in corruptions_2d + corruptions_3d:
        for severity in severities:
            name = corruption_view(eval_set, corruption, severity)
            arrays = checked_predictions(predictions, name)
            check_same_images(eval_set, clean, name, arrays)
            views[corruption, severity] = label_map.correct(arrays["logits"], arrays["labels"])
    clean_correct = label_map.correct(clean["logits"], clean["labels"])
    statistic = corruptions_statistic(clean_correct, views, corruptions_2d, corruptions_3d, severities)
    estimate, interval = bootstrap_estimate(statistic, len(clean_correct), params, "corruptions", eval_set)
    details = {"corruptions_2d": corruptions_2d, "corruptions_3d": corruptions_3d, "severities": severities,
               "averaging": "accuracy of each (corruption, severity) on its own; means over (corruption, severity) "
                            "pairs; r_cc = mean corrupted accuracy / clean accuracy",
               "bootstrap": interval}
    return {eval_set: dataset_entry(len(clean_correct), estimate.values, estimate.ci95, details)}
