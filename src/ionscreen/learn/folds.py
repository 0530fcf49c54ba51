"""Composition-grouped splits and folds (numpy only): every composition (``group``) lands in
exactly one part, so no model is judged on a composition it trained on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def grouped_split(groups: list[str], val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """'train' / 'validation' / 'test' per sample; every group lands in exactly one part."""
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    n = len(uniq)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    if n - n_test - n_val < 1:
        raise ValueError(f"{n} compositions are too few for val {val_fraction} and test {test_fraction}")
    part = {g: "test" for g in uniq[:n_test]}
    part.update({g: "validation" for g in uniq[n_test : n_test + n_val]})
    part.update({g: "train" for g in uniq[n_test + n_val :]})
    return np.array([part[g] for g in groups])


def grouped_folds(groups: Sequence[str], n_folds: int, seed: int) -> np.ndarray:
    """Fold index per sample; compositions shuffled (seeded) and dealt round-robin to the folds."""
    uniq = sorted(set(groups))
    if len(uniq) < n_folds:
        raise ValueError(f"{len(uniq)} compositions are too few for {n_folds} folds")
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    fold = {g: i % n_folds for i, g in enumerate(uniq)}
    return np.array([fold[g] for g in groups])
