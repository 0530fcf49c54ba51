"""One campaign round as a function (``choose``), and whole campaigns replayed on a table of known
labels (``replay``): no MD, the truth known, so what an acquisition finds can be counted.

``benchmarks/campaign_replay.py`` replays OBELiX's training split this way; the workflow's round
job (``campaign.stage``) calls ``choose`` with the pool's features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ionscreen.campaign.acquire import CampaignSettings, acquisition_values, select
from ionscreen.campaign.surrogate import Surrogate, coverage, fit_surrogate


@dataclass
class Choice:
    """What one round decided: the surrogate, its prediction of the pool and the picks."""

    surrogate: Surrogate
    mean: np.ndarray  # the pool's predicted label
    std: np.ndarray  # calibrated std
    values: np.ndarray  # the acquisition's value
    picks: np.ndarray  # indices into the pool, in the order picked


def choose(
    X_train: np.ndarray,
    y_train: np.ndarray,
    groups: list[str],
    X_pool: np.ndarray,
    element_sets: Sequence[str],
    s: CampaignSettings,
    round_: int,
) -> Choice:
    """Round ``round_``'s picks from the pool: the surrogate trained on the labels so far
    (seed ``s.seed + round_``), the acquisition against the best label so far, the diversity step."""
    seed = s.seed + round_
    sur = fit_surrogate(X_train, y_train, groups, n_trees=s.n_trees, folds=s.calibration_folds, seed=seed)
    mean, std = sur.predict(X_pool)
    values = acquisition_values(mean, std, float(np.max(y_train)), s.acquisition, s.kappa, seed)
    picks = select(values, element_sets, min(s.picks, len(mean)), s.diversity)
    return Choice(sur, mean, std, values, picks)


def replay(
    X: np.ndarray,
    y: np.ndarray,
    groups: list[str],
    element_sets: Sequence[str],
    s: CampaignSettings,
    *,
    start: int = 20,
    top_fraction: float = 0.1,
) -> pd.DataFrame:
    """A campaign on a pool whose labels ``y`` are all known: ``start`` random entries (seed
    ``s.seed``, the same for every acquisition), then ``s.rounds`` rounds of ``s.picks``. One row per
    round (round 0: the start) with the labels so far, the pool's top-``top_fraction`` entries
    found (``hits``), the best label so far, and the model's error and 1-std coverage on that
    round's picks before they were labelled."""
    y = np.asarray(y, float)
    top = y >= np.quantile(y, 1.0 - top_fraction)
    labelled = np.zeros(len(y), bool)
    labelled[np.random.default_rng(s.seed).choice(len(y), start, replace=False)] = True
    rows = [_row(0, labelled, top, y, float("nan"), float("nan"))]
    g = np.asarray(groups)
    for r in range(1, s.rounds + 1):
        pool = np.flatnonzero(~labelled)
        if len(pool) == 0:
            break
        c = choose(X[labelled], y[labelled], list(g[labelled]), X[pool], [element_sets[i] for i in pool], s, r)
        picked = pool[c.picks]
        mae = float(np.abs(c.mean[c.picks] - y[picked]).mean())
        cov = coverage(c.mean[c.picks], c.std[c.picks], y[picked])
        labelled[picked] = True
        rows.append(_row(r, labelled, top, y, mae, cov))
    return pd.DataFrame(rows)


def _row(r: int, labelled: np.ndarray, top: np.ndarray, y: np.ndarray, mae: float, cov: float) -> dict[str, float]:
    return {
        "round": r,
        "labels": int(labelled.sum()),
        "hits": int((labelled & top).sum()),
        "best": float(y[labelled].max()),
        "picks_mae": mae,
        "picks_coverage": cov,
    }
