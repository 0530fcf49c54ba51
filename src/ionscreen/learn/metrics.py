"""Regression metrics shared by training and evaluation: MAE, Spearman rank correlation and R^2
of log10 targets, the metrics table rows of an ensemble (per split, temperature and seed), the
training-predictions rows (numpy only; the loss of training is ``model.censored_l1``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ionscreen.learn.dataset import Dataset


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from scipy.stats import spearmanr

    n = len(y)
    mae = float(np.mean(np.abs(y - p))) if n else math.nan
    ss = float(np.sum((y - y.mean()) ** 2)) if n else 0.0
    r2 = 1.0 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else math.nan
    rho = float(spearmanr(y, p).statistic) if n > 2 and np.ptp(y) > 0 and np.ptp(p) > 0 else math.nan
    return {"n": n, "mae": mae, "spearman": rho, "r2": r2}


def metric_rows(
    data: Dataset, split: np.ndarray, per_seed: np.ndarray, target: str, model: str
) -> list[dict[str, Any]]:
    """Ensemble rows (seed null, with the seeds' MAE mean and std) and one row per seed, per split
    and temperature (NaN = all temperatures); exact labels only (an upper bound has no error)."""
    rows = []
    ens = per_seed.mean(axis=0)
    for part in ("train", "validation", "test"):
        sel = (split == part) & data.exact
        if not sel.any():
            continue
        for temp in [math.nan, *sorted(set(data.temperatures[sel]))]:
            s = sel & (np.isnan(temp) | (data.temperatures == temp))
            seed_maes = [regression_metrics(data.y[s], p[s])["mae"] for p in per_seed]
            base = {"split": part, "temperature_K": temp, "target": target, "model": model}
            rows.append(
                {
                    **base,
                    "seed": None,
                    **regression_metrics(data.y[s], ens[s]),
                    "mae_seed_mean": float(np.mean(seed_maes)),
                    "mae_seed_std": float(np.std(seed_maes, ddof=1)) if len(seed_maes) > 1 else 0.0,
                }
            )
            rows += [{**base, "seed": k, **regression_metrics(data.y[s], p[s])} for k, p in enumerate(per_seed)]
    return rows


def training_predictions(data: Dataset, split: np.ndarray, per_seed: np.ndarray) -> pd.DataFrame:
    """The ``training_predictions`` rows: every sample with its split, label and the ensemble's
    mean and spread (log10 units; ``per_seed`` is (members, samples))."""
    pred = per_seed.mean(axis=0)
    std = per_seed.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros_like(pred)
    return pd.DataFrame(
        {
            "material_id": data.material_ids,
            "temperature_K": data.temperatures,
            "split": split,
            "y_log10": data.y,
            "prediction": pred,
            "prediction_std": std,
            "censored": ~data.exact,
        }
    )
