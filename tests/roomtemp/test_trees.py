"""The numpy tree ensemble: exported from scikit-learn, it predicts exactly as scikit-learn does."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ionscreen.roomtemp.trees import TreeEnsemble


def test_tree_export_predicts_exactly_as_scikit_learn_nan_included() -> None:
    from sklearn.ensemble import ExtraTreesRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = X[:, 0] * 2 - X[:, 1] + rng.normal(scale=0.1, size=200)
    X[rng.random(X.shape) < 0.05] = np.nan  # scikit-learn learns where missing values go
    forest = ExtraTreesRegressor(n_estimators=25, max_features=0.5, random_state=0).fit(X, y)
    Xq = rng.normal(size=(300, 6))
    Xq[rng.random(Xq.shape) < 0.1] = np.nan
    trees = TreeEnsemble.from_sklearn(forest)
    assert np.abs(trees.tree_predictions(Xq).mean(0) - forest.predict(Xq)).max() < 1e-12


def test_tree_export_round_trips_through_npz(tmp_path: Path) -> None:
    from sklearn.ensemble import ExtraTreesRegressor

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    trees = TreeEnsemble.from_sklearn(ExtraTreesRegressor(n_estimators=5, random_state=0).fit(X, y))
    trees.save(tmp_path / "t.npz")
    again = TreeEnsemble.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(again.tree_predictions(X), trees.tree_predictions(X))
