"""The campaign's surrogate: a tree ensemble with a standard deviation calibrated on held-out data.

Why trees: the labels of a campaign are few (tens to hundreds) and the features many (270
composition descriptors, or a 456-977-d SevenNet embedding); an extremely randomised tree ensemble
(obelix-rt's learner, ``roomtemp.fit``) needs no tuning at that size, and a forest is as good a
surrogate for materials active learning as a tuned Gaussian process (Liang et al. 2021).

Why calibrate: the spread over trees is not a standard deviation of the error. Grouped k-fold CV
on the labels so far gives held-out errors and held-out spreads; ``std_scale`` is the factor
that puts ``CALIBRATION_COVERAGE`` (68.3 %) of held-out |errors| within one std. The coverage a
round reports is measured later, out of sample: on that round's picks once they are labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ionscreen.roomtemp.trees import TreeEnsemble

CALIBRATION_COVERAGE = 0.6827  # one standard deviation of a normal


@dataclass
class Surrogate:
    """Trees on the features, and the factor that turns their spread into a calibrated std."""

    trees: TreeEnsemble
    std_scale: float  # std = std_scale x spread over trees (label units)
    cv_mae: float  # grouped-CV mean absolute error of the labels so far (NaN: too few groups)
    n_train: int

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, calibrated std) of the label for each row of X."""
        per_tree = self.trees.tree_predictions(X)
        return per_tree.mean(0), self.std_scale * per_tree.std(0)


def _trees(X: np.ndarray, y: np.ndarray, n_trees: int, seed: int) -> TreeEnsemble:
    from sklearn.ensemble import ExtraTreesRegressor

    forest = ExtraTreesRegressor(n_estimators=n_trees, max_features=0.5, random_state=seed, n_jobs=-1)
    return TreeEnsemble.from_sklearn(forest.fit(X, y))


def fit_surrogate(
    X: np.ndarray, y: np.ndarray, groups: list[str], *, n_trees: int = 200, folds: int = 5, seed: int = 0
) -> Surrogate:
    """The surrogate on labels ``y`` of feature rows ``X``: trees on every row, the std scale
    from grouped ``folds``-fold CV (groups: compositions; fewer groups than folds: leave one group
    out; under 3 groups: scale 1, CV MAE NaN)."""
    from ionscreen.learn.folds import grouped_folds

    X, y = np.asarray(X, float), np.asarray(y, float)
    n_groups = len(set(groups))
    scale, mae = 1.0, float("nan")
    if n_groups >= 3:
        k = min(folds, n_groups)
        fold = grouped_folds(groups, k, seed)
        err, spread = np.empty(len(y)), np.empty(len(y))
        for f in range(k):
            te = fold == f
            per_tree = _trees(X[~te], y[~te], n_trees, seed).tree_predictions(X[te])
            err[te] = np.abs(per_tree.mean(0) - y[te])
            spread[te] = per_tree.std(0)
        scale = float(np.quantile(err / np.maximum(spread, 1e-9), CALIBRATION_COVERAGE))
        mae = float(err.mean())
    return Surrogate(_trees(X, y, n_trees, seed), max(scale, 1e-6), mae, len(y))


def coverage(mean: np.ndarray, std: np.ndarray, y: np.ndarray) -> float:
    """Share of labels within one std of the prediction (0.683 when the std is calibrated)."""
    y = np.asarray(y, float)
    return float(np.mean(np.abs(np.asarray(mean) - y) <= np.asarray(std))) if len(y) else float("nan")
