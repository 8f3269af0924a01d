"""Biases: context (FOCUS analogue), shape vs texture (cue-conflict), background (IN-9 analogue).

Context values: ``accuracy``, ``accuracy_p{k}`` for k = 0..3 (P_k = images with exactly k uncommon attributes),
``cb_{k}`` = Acc(P_k) / Acc(P_0) for k = 1..3 (null when a group is empty or Acc(P_0) is 0).
Shape values: ``shape_bias`` = shape / (shape + texture decisions) on cue-conflict images (shape != texture),
``shape_fraction`` and ``texture_fraction`` = those decisions over all images (model-vs-human's denominators).
Background values: ``original_accuracy``, ``mixed_same_accuracy``, ``mixed_rand_accuracy``,
``bg_gap`` = mixed_same - mixed_rand.
All values are fractions (the paper prints percentages).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from synclone.labelmaps import Identity, LabelMap
from synclone.metrics.bootstrap import Statistic, bootstrap, resample_counts
from synclone.metrics.common import (Arrays, bootstrap_estimate, check_same_images, checked_predictions,
                                     correctness_matrix, dataset_entry, extra_array, label_map_for, ratio,
                                     view_accuracies)

UNCOMMON_GROUPS = 4  # P0..P3: time, weather and location can each be uncommon
VARIANTS = ("original", "mixed_same", "mixed_rand")
SUMMARY = "summary"


def context_bias_statistic(correct: np.ndarray, uncommon_count: np.ndarray) -> Statistic:
    """``uncommon_count[i]`` = number of uncommon attributes of image i (0..3)."""
    uncommon_count = np.asarray(uncommon_count)
    if uncommon_count.shape != np.shape(correct) or uncommon_count.min() < 0 or uncommon_count.max() >= UNCOMMON_GROUPS:
        raise ValueError(f"uncommon_count must give 0..{UNCOMMON_GROUPS - 1} per image, got shape "
                         f"{uncommon_count.shape} and values {np.unique(uncommon_count)[:10]}")
    n = len(uncommon_count)
    member = (uncommon_count[:, None] == np.arange(UNCOMMON_GROUPS)).astype(np.float64)
    per_image = np.concatenate([member * np.asarray(correct, dtype=np.float64)[:, None], member], axis=1)

    def statistic(indices: np.ndarray) -> dict[str, np.ndarray]:
        sums = resample_counts(indices, n) @ per_image
        correct_sums, group_sizes = sums[:, :UNCOMMON_GROUPS], sums[:, UNCOMMON_GROUPS:]
        accuracy = ratio(correct_sums, group_sizes)
        values = {"accuracy": correct_sums.sum(axis=1) / n}
        values.update({f"accuracy_p{k}": accuracy[:, k] for k in range(UNCOMMON_GROUPS)})
        values.update({f"cb_{k}": ratio(accuracy[:, k], accuracy[:, 0]) for k in range(1, UNCOMMON_GROUPS)})
        return values

    return statistic


def context_bias(logits: np.ndarray, labels: np.ndarray, uncommon_count: np.ndarray,
                 label_map: LabelMap | None = None) -> dict[str, float | None]:
    """Context-bias values (no intervals); FOCUS scores through a ``top1_in_sets`` map."""
    correct = (label_map or Identity()).correct(logits, labels)
    return bootstrap(context_bias_statistic(correct, uncommon_count), len(correct), n_boot=0).values


def evaluate_context_bias(predictions: Mapping[str, Arrays], params: Mapping[str, Any]) -> dict[str, dict]:
    """``params['eval_set']``'s predictions with a per-image ``uncommon_count`` array; one dataset."""
    eval_set = params["eval_set"]
    arrays = checked_predictions(predictions, eval_set)
    uncommon_count = extra_array(arrays, "uncommon_count", eval_set)
    correct = label_map_for(params, eval_set).correct(arrays["logits"], arrays["labels"])
    estimate, interval = bootstrap_estimate(context_bias_statistic(correct, uncommon_count), len(correct), params,
                                            "context_bias", eval_set)
    details = {"counts": {f"p{k}": int((uncommon_count == k).sum()) for k in range(UNCOMMON_GROUPS)},
               "definition": "P_k = images with exactly k uncommon attributes (time, weather, location); "
                             "CB_k = Acc(P_k) / Acc(P_0)",
               "bootstrap": interval}
    return {eval_set: dataset_entry(len(correct), estimate.values, estimate.ci95, details)}


def _cue_decisions(decisions: np.ndarray, shape_label: np.ndarray,
                   texture_label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: a shape decision, a texture decision (cue-conflict images only, shape != texture)."""
    conflict = shape_label != texture_label
    return conflict & (decisions == shape_label), conflict & (decisions == texture_label)


def shape_bias_statistic(decisions: np.ndarray, shape_label: np.ndarray, texture_label: np.ndarray) -> Statistic:
    n = len(decisions)
    per_image = np.stack(_cue_decisions(decisions, shape_label, texture_label), axis=1).astype(np.float64)

    def statistic(indices: np.ndarray) -> dict[str, np.ndarray]:
        shape, texture = (resample_counts(indices, n) @ per_image / n).T
        return {"shape_bias": ratio(shape, shape + texture), "shape_fraction": shape, "texture_fraction": texture}

    return statistic


def shape_bias_by_class(decisions: np.ndarray, shape_label: np.ndarray,
                        texture_label: np.ndarray) -> dict[str, float | None]:
    """Shape bias among the cue-conflict images of each shape class (None when it has no shape or texture decision)."""
    shape, texture = _cue_decisions(decisions, shape_label, texture_label)
    by_class = {}
    for label in np.unique(shape_label):
        members = shape_label == label
        decided = shape[members].sum() + texture[members].sum()
        by_class[str(label)] = float(shape[members].sum() / decided) if decided else None
    return by_class


def _shape_inputs(logits: np.ndarray, shape_label: np.ndarray, texture_label: np.ndarray,
                  label_map: LabelMap) -> np.ndarray:
    num_logits = np.shape(logits)[1]
    label_map.check_labels(shape_label, num_logits, "shape labels")
    label_map.check_labels(texture_label, num_logits, "texture labels")
    return label_map.decisions(logits)


def shape_bias(logits: np.ndarray, shape_label: np.ndarray, texture_label: np.ndarray,
               label_map: LabelMap | None = None) -> dict[str, float | None]:
    """Shape-bias values (no intervals); cue-conflict scores through a ``mean_groups`` map."""
    decisions = _shape_inputs(logits, shape_label, texture_label, label_map or Identity())
    return bootstrap(shape_bias_statistic(decisions, shape_label, texture_label), len(decisions), n_boot=0).values


def evaluate_shape_bias(predictions: Mapping[str, Arrays], params: Mapping[str, Any]) -> dict[str, dict]:
    """``params['eval_set']``'s predictions: ``labels`` are the shape classes, ``texture_label`` the textures."""
    eval_set = params["eval_set"]
    arrays = checked_predictions(predictions, eval_set)
    shape_label, texture_label = np.asarray(arrays["labels"]), extra_array(arrays, "texture_label", eval_set)
    decisions = _shape_inputs(arrays["logits"], shape_label, texture_label, label_map_for(params, eval_set))
    estimate, interval = bootstrap_estimate(shape_bias_statistic(decisions, shape_label, texture_label),
                                            len(decisions), params, "shape_bias", eval_set)
    shape, texture = _cue_decisions(decisions, shape_label, texture_label)
    details = {"counts": {"images": len(decisions), "cue_conflict": int((shape_label != texture_label).sum()),
                          "shape_decisions": int(shape.sum()), "texture_decisions": int(texture.sum())},
               "shape_bias_by_shape_class": shape_bias_by_class(decisions, shape_label, texture_label),
               "rule": "model-vs-human: images whose shape equals their texture are left out; only decisions equal "
                       "to the shape or the texture class count; fractions are over all images",
               "bootstrap": interval}
    return {eval_set: dataset_entry(len(decisions), estimate.values, estimate.ci95, details)}


def background_bias_statistic(correct: Mapping[str, np.ndarray], paired: bool) -> Statistic:
    """``correct`` maps each of VARIANTS to per-image correctness. ``paired``: the variants show the same images
    in the same order, so one resample serves all three; otherwise each variant is resampled on its own."""
    if set(correct) != set(VARIANTS):
        raise ValueError(f"background bias needs correctness for {VARIANTS}, got {sorted(correct)}")

    def summary(accuracy: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {f"{variant}_accuracy": accuracy[variant] for variant in VARIANTS}
        values["bg_gap"] = accuracy["mixed_same"] - accuracy["mixed_rand"]
        return values

    if paired:
        matrix = correctness_matrix({variant: correct[variant] for variant in VARIANTS})
        return lambda indices: summary(dict(zip(VARIANTS, view_accuracies(matrix, indices).T)))
    matrices = [correctness_matrix({variant: correct[variant]}) for variant in VARIANTS]
    return lambda *indices: summary({variant: view_accuracies(matrix, variant_indices)[:, 0]
                                     for variant, matrix, variant_indices in zip(VARIANTS, matrices, indices)})


def background_bias(correct: Mapping[str, np.ndarray], paired: bool = False) -> dict[str, float | None]:
    """Background-bias values (no intervals) from per-image correctness of each variant."""
    sizes = [len(correct[variant]) for variant in VARIANTS]
    return bootstrap(background_bias_statistic(correct, paired), sizes[:1] if paired else sizes, n_boot=0).values


def evaluate_background_bias(predictions: Mapping[str, Arrays], params: Mapping[str, Any]) -> dict[str, dict]:
    """``params``: the eval set of each variant (``original``, ``mixed_same``, ``mixed_rand``) and ``paired``
    (default false: the variants are resampled independently). IN-9 scores through a ``top1_map``. One dataset,
    ``summary``."""
    names = {variant: params[variant] for variant in VARIANTS}
    paired = bool(params.get("paired", False))
    arrays = {variant: checked_predictions(predictions, name) for variant, name in names.items()}
    if paired:
        for variant in VARIANTS[1:]:
            check_same_images(names["original"], arrays["original"], names[variant], arrays[variant])
    correct = {variant: label_map_for(params, name).correct(arrays[variant]["logits"], arrays[variant]["labels"])
               for variant, name in names.items()}
    sizes = [len(correct[variant]) for variant in VARIANTS]
    estimate, interval = bootstrap_estimate(background_bias_statistic(correct, paired), sizes[:1] if paired else sizes,
                                            params, "background_bias", *names.values())
    details = {"eval_sets": names, "paired": paired, "counts": dict(zip(VARIANTS, sizes)),
               "bg_gap": "accuracy on mixed_same - accuracy on mixed_rand", "bootstrap": interval}
    return {SUMMARY: dataset_entry(sizes[0], estimate.values, estimate.ci95, details)}
