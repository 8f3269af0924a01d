import numpy as np
import pytest

from synclone.metrics import bootstrap as bootstrap_module
from synclone.metrics.bootstrap import bootstrap, resample_counts


def mean_statistic(values):
    return lambda indices: {"mean": values[indices].mean(axis=1)}


def bernoulli(n, p=0.7, seed=0):
    return (np.random.default_rng(seed).random(n) < p).astype(np.float64)


def test_interval_is_the_percentile_of_the_resampled_statistic():
    values = bernoulli(200)
    estimate = bootstrap(mean_statistic(values), 200, n_boot=500, seed=3, confidence=0.9)
    draws = values[np.random.default_rng(3).integers(0, 200, size=(500, 200))].mean(axis=1)
    assert estimate.values == {"mean": values.mean()}
    np.testing.assert_allclose(estimate.ci95["mean"], np.quantile(draws, [0.05, 0.95]))


def test_same_seed_same_interval_other_seed_other_interval():
    values = bernoulli(300)
    first = bootstrap(mean_statistic(values), 300, n_boot=200, seed=7)
    assert bootstrap(mean_statistic(values), 300, n_boot=200, seed=7) == first
    assert bootstrap(mean_statistic(values), 300, n_boot=200, seed=8).ci95 != first.ci95


def test_interval_contains_the_estimate_and_shrinks_like_one_over_root_n():
    widths = {}
    for n in (250, 4000):
        values = bernoulli(n, seed=n)
        estimate = bootstrap(mean_statistic(values), n, n_boot=1000, seed=0)
        lower, upper = estimate.ci95["mean"]
        assert lower < estimate.values["mean"] < upper
        widths[n] = upper - lower
        normal_width = 2 * 1.96 * np.sqrt(values.mean() * (1 - values.mean()) / n)
        assert widths[n] == pytest.approx(normal_width, rel=0.15)
    assert widths[4000] < 0.3 * widths[250]


def test_one_group_is_paired_across_views_and_groups_are_resampled_independently():
    views = bernoulli(500)
    paired = bootstrap(lambda indices: {"gap": views[indices].mean(axis=1) - views[indices].mean(axis=1)}, 500,
                       n_boot=200)
    assert paired.ci95["gap"] == [0.0, 0.0]

    shapes = []

    def two_groups(first, second):
        shapes.append((first.shape[1], second.shape[1]))
        return {"gap": views[first].mean(axis=1) - views[second].mean(axis=1)}

    independent = bootstrap(two_groups, [500, 500], n_boot=200)
    lower, upper = independent.ci95["gap"]
    assert independent.values["gap"] == 0.0 and lower < -0.02 and upper > 0.02
    assert set(shapes) == {(500, 500)}


def test_undefined_values_stay_null_and_undefined_resamples_are_left_out():
    values = np.array([0.0, 0.0, 1.0, 1.0])

    def statistic(indices):
        drawn = values[indices]
        ones = drawn.sum(axis=1)
        return {"never": np.full(len(indices), np.nan),
                "share_of_ones_among_ones": np.where(ones > 0, ones / np.maximum(ones, 1), np.nan)}

    estimate = bootstrap(statistic, 4, n_boot=300)
    assert estimate.values == {"never": None, "share_of_ones_among_ones": 1.0}
    assert estimate.ci95 == {"never": None, "share_of_ones_among_ones": [1.0, 1.0]}


def test_no_resamples_gives_values_and_null_intervals():
    estimate = bootstrap(mean_statistic(np.array([1.0, 0.0])), 2, n_boot=0)
    assert estimate.values == {"mean": 0.5} and estimate.ci95 == {"mean": None}


def test_a_single_image_gives_a_degenerate_interval():
    estimate = bootstrap(mean_statistic(np.array([1.0])), 1, n_boot=50)
    assert estimate.ci95 == {"mean": [1.0, 1.0]}


def test_resamples_are_processed_in_chunks_that_add_up_to_n_boot(monkeypatch):
    monkeypatch.setattr(bootstrap_module, "CHUNK_ELEMENTS", 10)
    rows = []

    def statistic(indices):
        rows.append(indices.shape[0])
        return {"mean": indices.mean(axis=1)}

    bootstrap(statistic, 4, n_boot=7)
    assert rows == [1, 2, 2, 2, 1]  # the full sample, then chunks of 10 // 4 resamples


def test_resample_counts_are_per_row_multiplicities():
    indices = np.array([[0, 0, 2], [1, 2, 2]])
    np.testing.assert_array_equal(resample_counts(indices, 4), [[2, 0, 1, 0], [0, 1, 2, 0]])


@pytest.mark.parametrize("sizes, n_boot, confidence", [(0, 10, 0.95), ([3, 0], 10, 0.95), (3, -1, 0.95), (3, 10, 1.0)])
def test_invalid_arguments_raise(sizes, n_boot, confidence):
    with pytest.raises(ValueError):
        bootstrap(lambda *indices: {"x": np.zeros(len(indices[0]))}, sizes, n_boot=n_boot, confidence=confidence)
