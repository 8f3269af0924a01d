"""OOD detection: an in-distribution (ID) set against OOD sets, scored from the ID set's mapped logits.

Values per OOD set and for their ``mean``: ``{score}/auroc`` and ``{score}/fpr95`` for score in msp, entropy,
energy (the paper's headline score is entropy). ID is the positive class, every score is oriented so that higher
means more in-distribution, and all values are fractions in [0, 1].
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from synclone.labelmaps import Identity, LabelMap
from synclone.metrics.bootstrap import Statistic, bootstrap, resample_counts
from synclone.metrics.common import (Arrays, bootstrap_estimate, checked_predictions, dataset_entry, label_map_for,
                                     log_softmax, logsumexp)

TPR_LEVEL = 0.95
SUMMARY = "mean"


def msp_score(logits: np.ndarray) -> np.ndarray:
    """Maximum softmax probability."""
    return np.exp(log_softmax(logits).max(axis=1))


def entropy_score(logits: np.ndarray) -> np.ndarray:
    """Minus the softmax entropy, sum_c p_c log p_c (0 for a one-hot softmax, -log C for a uniform one)."""
    log_probabilities = log_softmax(logits)
    return (np.exp(log_probabilities) * log_probabilities).sum(axis=1)


def energy_score(logits: np.ndarray) -> np.ndarray:
    """Minus the free energy at temperature 1: logsumexp of the logits."""
    return logsumexp(logits)


SCORES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "msp": msp_score, "entropy": entropy_score, "energy": energy_score,
}

CONVENTION = {
    "positive_class": "in-distribution (ID)",
    "scores": "higher = more in-distribution: msp = max softmax probability, entropy = minus the softmax entropy, "
              "energy = logsumexp of the logits (minus the energy)",
    "auroc": "P(ID score > OOD score) + P(equal) / 2: ties count one half, as sklearn.metrics.roc_auc_score",
    "fpr95": "share of OOD images scored >= t, where t is the highest threshold that keeps >= 95% of ID "
             "(the ceil(0.95 * n_id)-th largest ID score); equals the smallest FPR over thresholds with TPR >= 0.95",
    "resampling": "the ID set and each OOD set are resampled independently",
}


def ood_statistic(id_scores: Mapping[str, np.ndarray], ood_scores: Mapping[str, Mapping[str, np.ndarray]]) -> Statistic:
    """Statistic over groups (ID, OOD set 1, ...) giving values keyed (OOD set or ``mean``, ``{score}/{metric}``).

    ``id_scores`` maps a score name to the ID images' scores, ``ood_scores`` maps each OOD set to the same.
    Counting, not sorting, per resample: every score is replaced by its position among the distinct scores of all
    sets; the resampled ID images become counts per distinct score, whose cumulative sum gives both the FPR@95
    threshold and, for an OOD image at any score, how many ID images score above or equal to it.
    """
    ood_sets = list(ood_scores)
    n_id = len(next(iter(id_scores.values())))
    kept = math.ceil(round(TPR_LEVEL * n_id, 9))  # round: 0.95 * n is not exact in binary
    positions = {}
    for score, id_values in id_scores.items():
        distinct = np.unique(np.concatenate([id_values, *(ood_scores[name][score] for name in ood_sets)]))
        positions[score] = (distinct.size, np.searchsorted(distinct, id_values),
                            [np.searchsorted(distinct, ood_scores[name][score]) for name in ood_sets])

    def statistic(id_indices: np.ndarray, *ood_indices: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
        values = {}
        for score, (size, id_position, ood_positions) in positions.items():
            id_counts = resample_counts(id_position[id_indices], size)  # resampled ID images per distinct score
            id_cumulative = np.cumsum(id_counts, axis=1)
            # the highest distinct score that keeps >= 95% of ID (ID kept = n_id - ID scored below)
            threshold = np.count_nonzero(id_cumulative - id_counts <= n_id - kept, axis=1) - 1
            # an OOD image at a given score adds to AUROC each ID image above it and half of each equal one:
            # twice that credit, in integers
            twice_credit = 2 * (n_id - id_cumulative) + id_counts
            per_set = []
            for position, indices in zip(ood_positions, ood_indices):
                drawn = position[indices]
                auroc = np.take_along_axis(twice_credit, drawn, axis=1).sum(axis=1) / (2.0 * n_id * indices.shape[1])
                per_set.append((auroc, (drawn >= threshold[:, None]).mean(axis=1)))
            for name, (auroc, fpr95) in zip(ood_sets, per_set):
                values[name, f"{score}/auroc"], values[name, f"{score}/fpr95"] = auroc, fpr95
            values[SUMMARY, f"{score}/auroc"] = np.mean([auroc for auroc, _ in per_set], axis=0)
            values[SUMMARY, f"{score}/fpr95"] = np.mean([fpr95 for _, fpr95 in per_set], axis=0)
        return values

    return statistic


def _scores(logits: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: SCORES[name](logits) for name in names}


def _check_score_names(names: Sequence[str]) -> list[str]:
    if not names or set(names) - set(SCORES):
        raise ValueError(f"OOD scores must be a non-empty list of {sorted(SCORES)}, got {list(names)}")
    return list(names)


def ood(id_logits: np.ndarray, ood_logits: Mapping[str, np.ndarray], scores: Sequence[str] = tuple(SCORES),
        label_map: LabelMap | None = None) -> dict[str, dict[str, float]]:
    """``{ood set or 'mean': {'{score}/auroc': ..., '{score}/fpr95': ...}}`` without intervals."""
    label_map, scores = label_map or Identity(), _check_score_names(scores)
    id_scores = _scores(label_map.mapped_logits(id_logits), scores)
    ood_scores = {name: _scores(label_map.mapped_logits(logits), scores) for name, logits in ood_logits.items()}
    values = bootstrap(ood_statistic(id_scores, ood_scores),
                       [len(id_logits), *(len(logits) for logits in ood_logits.values())], n_boot=0).values
    return _by_dataset(values)


def _by_dataset(flat: Mapping[tuple[str, str], Any]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for (dataset, name), value in flat.items():
        grouped.setdefault(dataset, {})[name] = value
    return grouped


def evaluate_ood(predictions: Mapping[str, Arrays], params: Mapping[str, Any]) -> dict[str, dict]:
    """``params``: ``id_set``, ``ood_sets``, ``scores`` (default all), ``headline`` (default entropy).

    Every set is scored through the ID set's label map (ImageNet-R-style subsets apply to the OOD sets alike).
    One dataset per OOD set plus ``mean`` (the mean over OOD sets, with its own bootstrap interval).
    """
    id_set, ood_sets = params["id_set"], list(params["ood_sets"])
    names = _check_score_names(params.get("scores", list(SCORES)))
    headline = params.get("headline", "entropy")
    if not ood_sets or len(set(ood_sets)) < len(ood_sets) or SUMMARY in ood_sets or id_set in ood_sets:
        raise ValueError(f"ood_sets must be a non-empty list of distinct sets other than the ID set and '{SUMMARY}', "
                         f"got {ood_sets}")
    if headline not in names:
        raise ValueError(f"the headline score '{headline}' is not among the scores {names}")
    label_map = label_map_for(params, id_set)
    logits = {name: label_map.mapped_logits(checked_predictions(predictions, name, need_labels=False)["logits"])
              for name in [id_set, *ood_sets]}
    scores = {name: _scores(values, names) for name, values in logits.items()}
    sizes = {name: len(values) for name, values in logits.items()}
    estimate, interval = bootstrap_estimate(ood_statistic(scores[id_set], {name: scores[name] for name in ood_sets}),
                                            list(sizes.values()), params, "ood", id_set)
    values, ci95 = _by_dataset(estimate.values), _by_dataset(estimate.ci95)
    common = {"id_set": id_set, "n_id": sizes[id_set], "headline": headline, "convention": CONVENTION,
              "bootstrap": interval}
    datasets = {name: dataset_entry(sizes[name], values[name], ci95[name], {**common, "n_ood": sizes[name]})
                for name in ood_sets}
    datasets[SUMMARY] = dataset_entry(sum(sizes[name] for name in ood_sets), values[SUMMARY], ci95[SUMMARY],
                                      {**common, "ood_sets": ood_sets})
    return datasets
