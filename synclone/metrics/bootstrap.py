"""Percentile bootstrap confidence intervals by resampling image indices.

A *statistic* takes one index array per independently resampled group of images, each of shape ``(B, n_g)`` (B
resamples at once, so statistics vectorise over resamples), and returns ``{name: array of B values}``; NaN marks
a value that is undefined on a resample. Metrics over several views of the same images (corruptions, attacks)
use one group, so every view sees the same resampled images (paired); OOD detection resamples the ID set and each
OOD set as separate groups.
"""

from __future__ import annotations

import math
from typing import Callable, Hashable, Mapping, NamedTuple, Sequence

import numpy as np

Statistic = Callable[..., Mapping[Hashable, np.ndarray]]

# index arrays per chunk of resamples (B x sum of n_g): bounds memory at ImageNet size
CHUNK_ELEMENTS = 2**22


class Estimate(NamedTuple):
    values: dict[Hashable, float | None]  # on the full sample; None where undefined
    ci95: dict[Hashable, list[float] | None]  # [lower, upper]; None where the value is None or n_boot is 0


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` images occurs in each resample: B x n integer counts from B x m indices.

    Statistics that are sums over images become ``counts @ per_image_values``, one matrix product for all resamples.
    """
    rows = indices.shape[0]
    flat = (indices + n * np.arange(rows)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n)


def bootstrap(statistic: Statistic, sizes: int | Sequence[int], n_boot: int = 1000, seed: int = 0,
              confidence: float = 0.95) -> Estimate:
    """Point values of ``statistic`` on all images and percentile intervals over ``n_boot`` resamples.

    ``sizes`` is the number of images of each group. Resamples draw from ``np.random.default_rng(seed)``, so the
    result is deterministic. Resamples on which a value is undefined (NaN, e.g. an empty group) are left out of
    its interval; a value undefined on the full sample, or on every resample, gets a null interval.
    """
    sizes = [sizes] if isinstance(sizes, (int, np.integer)) else list(sizes)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"every resampled group needs at least one image, got sizes {sizes}")
    if n_boot < 0 or not 0 < confidence < 1:
        raise ValueError(f"need n_boot >= 0 and 0 < confidence < 1, got {n_boot}, {confidence}")
    full = statistic(*(np.arange(n)[None, :] for n in sizes))
    values = {name: float(np.asarray(value).reshape(-1)[0]) for name, value in full.items()}
    draws: dict[Hashable, list[np.ndarray]] = {name: [] for name in values}
    rng = np.random.default_rng(seed)
    per_chunk = max(1, CHUNK_ELEMENTS // sum(sizes))
    for start in range(0, n_boot, per_chunk):
        rows = min(per_chunk, n_boot - start)
        resampled = statistic(*(rng.integers(0, n, size=(rows, n)) for n in sizes))
        for name in values:
            draws[name].append(np.asarray(resampled[name], dtype=np.float64))

    tail = (1 - confidence) / 2
    ci95: dict[Hashable, list[float] | None] = {}
    for name, value in values.items():
        drawn = np.concatenate(draws[name]) if n_boot else np.empty(0)
        defined = drawn[np.isfinite(drawn)]
        if math.isfinite(value) and defined.size:
            ci95[name] = [float(q) for q in np.quantile(defined, [tail, 1 - tail])]
        else:
            ci95[name] = None
    return Estimate({name: value if math.isfinite(value) else None for name, value in values.items()}, ci95)
