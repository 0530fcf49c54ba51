"""Regression-tree ensembles as plain numpy arrays: a scikit-learn forest exported once, then
loaded and evaluated without scikit-learn (the shipped ``obelix-rt`` model is one)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class TreeEnsemble:
    """Regression trees as flat arrays (node ``k`` of tree ``t`` at ``offset[t] + k``): split
    ``feature`` (-1 at leaves), ``threshold`` (go left when x <= threshold), ``missing_left`` (where
    a NaN goes, as scikit-learn decided), ``left``/``right`` child indices within the tree, leaf
    ``value``. Loads and predicts with numpy."""

    offset: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray

    @classmethod
    def from_sklearn(cls, forest: Any) -> TreeEnsemble:
        trees = [e.tree_ for e in forest.estimators_]
        sizes = np.array([t.node_count for t in trees])
        return cls(
            offset=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            feature=np.concatenate([t.feature for t in trees]).astype(np.int16),
            threshold=np.concatenate([t.threshold for t in trees]).astype(np.float64),
            missing_left=np.concatenate([t.missing_go_to_left for t in trees]).astype(bool),
            left=np.concatenate([t.children_left for t in trees]).astype(np.int32),
            right=np.concatenate([t.children_right for t in trees]).astype(np.int32),
            value=np.concatenate([t.value[:, 0, 0] for t in trees]).astype(np.float64),
        )

    def tree_predictions(self, X: np.ndarray) -> np.ndarray:
        """[n_trees, n] leaf values. X is cast to float32 first, as scikit-learn's trees do."""
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        n = len(X)
        out = np.empty((len(self.offset), n))
        rows = np.arange(n)
        for t, off in enumerate(self.offset):
            node = np.zeros(n, dtype=np.int64)
            while True:
                f = self.feature[off + node]
                inner = f >= 0
                if not inner.any():
                    break
                x = X[rows[inner], f[inner]]
                at = off + node[inner]
                go_left = (x <= self.threshold[at]) | (np.isnan(x) & self.missing_left[at])
                node[inner] = np.where(go_left, self.left[at], self.right[at])
            out[t] = self.value[off + node]
        return out

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> TreeEnsemble:
        with np.load(path) as z:
            return cls(
                **{k: z[k] for k in ("offset", "feature", "threshold", "missing_left", "left", "right", "value")}
            )
