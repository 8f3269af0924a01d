"""Helpers shared by the metrics: stable softmax pieces, safe ratios, checks of prediction arrays, result entries.

Numpy only: the evaluate jobs must start fast, so nothing here imports torch or sklearn.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from synclone.labelmaps import LabelMap, build_label_map
from synclone.metrics.bootstrap import Estimate, Statistic, bootstrap, resample_counts
from synclone.seeding import derive_seed

Arrays = Mapping[str, np.ndarray]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64, shifted by the row maximum (log-sum-exp) so no exp overflows."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def logsumexp(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN (reported as null) where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.full(np.broadcast(numerator, denominator).shape, np.nan),
                     where=denominator != 0)


def checked_predictions(predictions: Mapping[str, Arrays], name: str, need_labels: bool = True) -> Arrays:
    """The arrays of prediction ``name`` after checking shapes, dtypes and values; ValueError says what is wrong."""
    if name not in predictions:
        raise ValueError(f"no predictions named '{name}'; available: {', '.join(sorted(predictions)) or '(none)'}")
    arrays = predictions[name]
    missing = [key for key in ("logits", "labels", "ids") if key not in arrays]
    if missing:
        raise ValueError(f"predictions '{name}' lack array(s) {missing}; a predictions file holds logits, labels, ids")
    logits, labels, ids = (np.asarray(arrays[key]) for key in ("logits", "labels", "ids"))
    if logits.ndim != 2 or not np.issubdtype(logits.dtype, np.floating):
        raise ValueError(f"predictions '{name}': logits must be a float N x C array, got {logits.dtype} {logits.shape}")
    n = logits.shape[0]
    if n == 0 or logits.shape[1] == 0:
        raise ValueError(f"predictions '{name}' are empty (logits {logits.shape}); a metric needs N > 0 images")
    if not np.isfinite(logits).all():
        bad = int((~np.isfinite(logits)).any(axis=1).sum())
        raise ValueError(f"predictions '{name}': {bad} of {n} images have NaN or infinite logits")
    if labels.shape != (n,) or ids.shape != (n,):
        raise ValueError(f"predictions '{name}': labels {labels.shape} and ids {ids.shape} must both have shape ({n},)")
    if need_labels and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"predictions '{name}': labels must be integers, got {labels.dtype}")
    return arrays


def extra_array(arrays: Arrays, key: str, name: str) -> np.ndarray:
    """An optional per-image array (e.g. ``texture_label``) that a metric requires."""
    if key not in arrays:
        raise ValueError(f"predictions '{name}' lack the per-image array '{key}' that this metric needs")
    values = np.asarray(arrays[key])
    if values.shape != (len(arrays["labels"]),) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"predictions '{name}': '{key}' must be an integer array of shape ({len(arrays['labels'])},), "
                         f"got {values.dtype} {values.shape}")
    return values


def correctness_matrix(correct: Mapping[Any, np.ndarray]) -> np.ndarray:
    """Views x images 0/1 matrix; ValueError unless every view is a 1-D 0/1 array over the same N > 0 images."""
    rows = [np.asarray(values) for values in correct.values()]
    n = rows[0].shape if rows else None
    for view, values in zip(correct, rows):
        if values.ndim != 1 or values.shape != n or values.size == 0:
            raise ValueError(f"correctness of '{view}' has shape {values.shape}; every view needs one entry per image "
                             f"of the same N > 0 images (first view: {n})")
        if not np.isin(values, (0, 1)).all():
            raise ValueError(f"correctness of '{view}' must be booleans or 0/1")
    return np.stack(rows).astype(np.float64)


def view_accuracies(matrix: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Resamples x views accuracies; the same resampled images for every view."""
    return resample_counts(indices, matrix.shape[1]) @ matrix.T / matrix.shape[1]


def check_same_images(reference: str, reference_arrays: Arrays, name: str, arrays: Arrays) -> None:
    """Views of one eval set (corruptions, paired variants) must list the same images with the same labels."""
    for key in ("ids", "labels"):
        if not np.array_equal(np.asarray(reference_arrays[key]), np.asarray(arrays[key])):
            raise ValueError(f"predictions '{name}' and '{reference}' differ in {key}; views of one eval set must list "
                             "the same images in the same order")


def label_map_for(params: Mapping[str, Any], eval_set: str) -> LabelMap:
    """The eval set's label map from ``params['label_maps']``; identity when none is given."""
    return build_label_map(params.get("label_maps", {}).get(eval_set))


def bootstrap_estimate(statistic: Statistic, sizes: int | Sequence[int], params: Mapping[str, Any],
                       *seed_names: object) -> tuple[Estimate, dict]:
    """Run the bootstrap as ``params['bootstrap']`` says (defaults: n 1000, seed 0, confidence 0.95).

    The seed is derived from the configured seed and ``seed_names`` (metric, eval set), so eval sets get
    independent resamples. Returns the estimate and a description of the interval for the result's details.
    """
    settings = {"n": 1000, "seed": 0, "confidence": 0.95, **params.get("bootstrap", {})}
    unknown = set(settings) - {"n", "seed", "confidence"}
    if unknown:
        raise ValueError(f"bootstrap: unknown key(s) {sorted(unknown)}; valid keys: n, seed, confidence")
    seed = derive_seed(int(settings["seed"]), *seed_names)
    n_boot, confidence = int(settings["n"]), float(settings["confidence"])
    estimate = bootstrap(statistic, sizes, n_boot=n_boot, seed=seed, confidence=confidence)
    description = {"n": n_boot, "confidence": confidence, "seed": seed,
                   "method": "percentile interval over resamples of the images with replacement"}
    return estimate, description


def dataset_entry(n: int, values: Mapping[str, float | None], ci95: Mapping[str, Any],
                  details: Mapping[str, Any]) -> dict:
    """One ``datasets`` entry of a result file (see synclone.results)."""
    return {"n": int(n), "values": dict(values), "ci95": dict(ci95), "details": dict(details)}
