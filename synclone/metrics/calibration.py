"""Calibration of the top-label confidence: ECE on equal-width and equal-mass bins, NLL, accuracy, confidence.

Values: ``ece``, ``adaptive_ece``, ``nll``, ``accuracy``, ``confidence`` (mean top-label confidence).
Confidence is the largest softmax probability of the mapped logits (ImageNet-R/A: the 200 member classes).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from synclone.labelmaps import Identity, LabelMap
from synclone.metrics.bootstrap import Statistic, bootstrap, resample_counts
from synclone.metrics.common import (Arrays, bootstrap_estimate, checked_predictions, dataset_entry, label_map_for,
                                     log_softmax)

BINNING = ("equal-width bins (lo, hi]: a confidence equal to a bin edge falls in the lower bin, 1.0 in the last; "
           "ECE = sum over bins of |B|/N * |accuracy(B) - mean confidence(B)|")
ADAPTIVE_BINNING = ("equal-mass bins: images sorted by confidence (ties in image order), the image at position p of "
                    "N falls in bin floor(p * bins / N)")


def top_label(logits: np.ndarray, labels: np.ndarray, label_map: LabelMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: top-label confidence, correctness (as 0/1 floats) and negative log-likelihood of the label."""
    log_probabilities = log_softmax(label_map.mapped_logits(logits))
    labels = label_map.check_labels(labels, np.shape(logits)[1])
    rows = np.arange(len(labels))
    confidence = np.exp(log_probabilities.max(axis=1))
    correct = (log_probabilities.argmax(axis=1) == labels).astype(np.float64)
    return confidence, correct, -log_probabilities[rows, labels]


def equal_width_bin(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Bin j holds confidences in (j/bins, (j+1)/bins]; 0 joins the first bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)


def calibration_statistic(confidence: np.ndarray, correct: np.ndarray, nll: np.ndarray, bins: int) -> Statistic:
    """The bootstrap statistic of the calibration values over resampled images (see synclone.metrics.bootstrap)."""
    if bins < 1:
        raise ValueError(f"calibration needs at least one bin, got {bins}")
    n = len(confidence)
    gap = correct - confidence
    # gap of each image in its equal-width bin's column, so per-bin sums of all resamples are one matrix product
    gap_by_bin = np.zeros((n, bins))
    gap_by_bin[np.arange(n), equal_width_bin(confidence, bins)] = gap
    per_image = np.stack([correct, confidence, nll], axis=1)
    order = np.argsort(confidence, kind="stable")
    gap_sorted = gap[order]
    # position p is in equal-mass bin floor(p * bins / n), so bin j starts at position ceil(j * n / bins)
    mass_edges = -(-np.arange(bins + 1) * n // bins)

    def statistic(indices: np.ndarray) -> dict[str, np.ndarray]:
        counts = resample_counts(indices, n)
        accuracy, mean_confidence, mean_nll = (counts @ per_image / n).T
        ece = np.abs(counts @ gap_by_bin).sum(axis=1) / n
        # the resample in confidence order: each sorted image repeated as often as it was drawn
        rows = counts.shape[0]
        sorted_positions = np.repeat(np.tile(np.arange(n), rows), counts[:, order].astype(np.int64).ravel())
        cumulative_gap = np.zeros((rows, n + 1))
        cumulative_gap[:, 1:] = np.cumsum(gap_sorted[sorted_positions.reshape(rows, n)], axis=1)
        adaptive_ece = np.abs(np.diff(cumulative_gap[:, mass_edges], axis=1)).sum(axis=1) / n
        return {"ece": ece, "adaptive_ece": adaptive_ece, "nll": mean_nll, "accuracy": accuracy,
                "confidence": mean_confidence}

    return statistic


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """The reliability diagram: per equal-width bin its edges, count, accuracy and mean confidence (None if empty)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    bin_of = equal_width_bin(confidence, bins)
    counts = np.bincount(bin_of, minlength=bins)
    correct_sums = np.bincount(bin_of, weights=correct, minlength=bins)
    confidence_sums = np.bincount(bin_of, weights=confidence, minlength=bins)
    return [
        {"lower": float(edges[j]), "upper": float(edges[j + 1]), "count": int(counts[j]),
         "accuracy": float(correct_sums[j] / counts[j]) if counts[j] else None,
         "confidence": float(confidence_sums[j] / counts[j]) if counts[j] else None}
        for j in range(bins)
    ]


def calibration(logits: np.ndarray, labels: np.ndarray, bins: int = 15,
                label_map: LabelMap | None = None) -> dict[str, float]:
    """Calibration values of one set of predictions (no intervals)."""
    confidence, correct, nll = top_label(logits, labels, label_map or Identity())
    return bootstrap(calibration_statistic(confidence, correct, nll, bins), len(confidence), n_boot=0).values


def evaluate_calibration(predictions: Mapping[str, Arrays], params: Mapping[str, Any]) -> dict[str, dict]:
    """One dataset per ``params['eval_sets']``; ``params['bins']`` equal-width bins (default 15, paper mode 20)."""
    bins = int(params.get("bins", 15))
    datasets = {}
    for eval_set in params["eval_sets"]:
        arrays = checked_predictions(predictions, eval_set)
        confidence, correct, nll = top_label(arrays["logits"], arrays["labels"], label_map_for(params, eval_set))
        estimate, interval = bootstrap_estimate(calibration_statistic(confidence, correct, nll, bins), len(confidence),
                                                params, "calibration", eval_set)
        details = {"bins": bins, "binning": BINNING, "adaptive_binning": ADAPTIVE_BINNING,
                   "reliability": reliability_bins(confidence, correct, bins), "bootstrap": interval}
        datasets[eval_set] = dataset_entry(len(confidence), estimate.values, estimate.ci95, details)
    return datasets
