"""The surrogate's standard deviation is calibrated on held-out data (ionscreen.campaign.surrogate)."""

from __future__ import annotations

import numpy as np

from ionscreen.campaign.surrogate import coverage, fit_surrogate


def _data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-2, 2, size=(n, 6))
    y = 1.5 * np.sin(X[:, 0]) + X[:, 1] + rng.normal(0, 0.4, n)
    return X, y


def test_calibrated_std_covers_two_thirds_of_new_errors_where_the_tree_spread_does_not():
    # The spread over extremely randomised trees is no standard deviation of the error: here it
    # covers about 90 % of new errors; calibrated, about 68 %.
    rng = np.random.default_rng(1)
    X, y = _data(150, rng)
    groups = [f"g{i // 2}" for i in range(len(y))]  # pairs of near-duplicates share a group
    sur = fit_surrogate(X, y, groups, n_trees=100, folds=5, seed=0)
    Xt, yt = _data(3000, rng)  # fresh data: coverage measured out of sample
    mean, std = sur.predict(Xt)
    assert 0.58 <= coverage(mean, std, yt) <= 0.78
    raw = std / sur.std_scale
    assert abs(coverage(mean, raw, yt) - 0.6827) > 0.15 and sur.std_scale < 0.8
    assert 0.3 < sur.cv_mae < 0.9  # noise 0.4: the MAE of the CV is of that order, not 0


def test_too_few_groups_to_calibrate_leave_the_spread_as_it_is():
    rng = np.random.default_rng(2)
    X, y = _data(6, rng)
    sur = fit_surrogate(X, y, ["a", "a", "a", "b", "b", "b"], n_trees=20)
    assert sur.std_scale == 1.0 and np.isnan(sur.cv_mae) and sur.n_train == 6
