"""The figures of obelix-rt's model card, computed from the cross-validation's held-out predictions
and the training table: OBELiX's repeated measurements, the error by measured conductivity, how
well the held-out entries are ranked, and who the errors above 2 decades are (decades of log10
sigma, S/cm)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ionscreen.roomtemp.descriptors import FOREST, NAME, TARGET


def replicate_measurements(table: pd.DataFrame) -> pd.DataFrame:
    """OBELiX's repeated measurements of one phase: the rows of ``table`` (``training_table``) whose
    normalised reduced composition (``formula``) and space group another row shares (the same material measured in another
    paper or sample). Their descriptors differ at most by the stoichiometry and cell each paper
    reports, so how far they disagree is scatter that a model of composition and cell can hardly
    learn: it bounds such a model's error from below.

    Columns: ``ID``, ``material`` ("composition | space group"), ``n_measurements``,
    ``log10_sigma_S_cm``, ``others_mean`` (mean log10 sigma of the material's other measurements) and
    ``disagreement`` = |log10 sigma - others_mean| (decades)."""
    key = table["formula"].astype(str) + " | " + table["Space group #"].astype(int).astype(str)
    y = table[TARGET].astype(float)
    n = y.groupby(key).transform("count")
    others = (y.groupby(key).transform("sum") - y) / (n - 1).where(n > 1)
    out = pd.DataFrame(
        {
            "ID": table["ID"],
            "material": key,
            "n_measurements": n,
            TARGET: y,
            "others_mean": others,
            "disagreement": (y - others).abs(),
        }
    )
    return out[n > 1].reset_index(drop=True)


def summarise_replicates(rep: pd.DataFrame) -> dict[str, float]:
    """Figures of ``replicate_measurements`` (decades of log10 sigma): how many entries and
    materials, the mean and median disagreement with the other measurements, the MAE of each
    material's median measurement (the least any predictor that gives a material one value can
    reach on these entries, judged on the entries it was taken from), the mean difference
    within materials measured exactly twice, and that difference / sqrt(2): the scatter of one
    measurement if the two err independently and alike (an estimate, not a measurement). Figures
    of no entries (no repeats, no pairs) are NaN."""
    pairs = rep[rep["n_measurements"] == 2]["disagreement"]
    y = rep[TARGET]
    return {
        "n_entries": len(rep),
        "n_materials": int(rep["material"].nunique()),
        "mae_vs_others": float(rep["disagreement"].mean()),
        "median_vs_others": float(rep["disagreement"].median()),
        "mae_vs_material_median": float((y - y.groupby(rep["material"]).transform("median")).abs().mean()),
        "n_pairs": len(pairs) // 2,
        "pair_difference": float(pairs.mean()),
        "scatter_per_measurement": float(pairs.mean() / math.sqrt(2)),
    }


# "Fast conductor": sigma >= 1e-4 S/cm, where a solid electrolyte starts to be worth making; the
# edge of the top band and the class the ranking figure's ROC AUC tells apart.
FAST_LOG10_S_CM = -4.0


# Bands of measured log10 sigma (S/cm) the held-out error is broken down by; 1e-8 S/cm starts the
# tail of poor (often extrapolated) values.
MEASURED_BANDS = (
    (-math.inf, -8.0, "sigma < 1e-8"),
    (-8.0, FAST_LOG10_S_CM, f"1e-8 <= sigma < 1e{FAST_LOG10_S_CM:g}"),
    (FAST_LOG10_S_CM, math.inf, f"sigma >= 1e{FAST_LOG10_S_CM:g}"),
)


_OOF_MODELS = {NAME: "prediction", FOREST: "forest"}  # cross_validate's out-of-fold columns


def accuracy_by_measured_range(oof: pd.DataFrame) -> pd.DataFrame:
    """Where the held-out error lies: for ``cross_validate``'s out-of-fold table, per band of the
    measured log10 sigma (``MEASURED_BANDS``, then "all") and model (obelix-rt, the forest): the
    entries per fold seed, the MAE and the bias (mean of prediction - measurement), decades of
    log10 S/cm, each the mean over fold seeds. A band without entries is left out."""
    bands = [*MEASURED_BANDS, (-math.inf, math.inf, "all")]
    rows = []
    for lo, hi, band in bands:
        sel = oof[(oof["y"] >= lo) & (oof["y"] < hi)]
        if not len(sel):
            continue
        seed = sel["fold_seed"]
        n_entries = float(seed.value_counts().mean())
        for model, col in _OOF_MODELS.items():
            err = sel[col] - sel["y"]
            rows.append(
                {
                    "band": band,
                    "model": model,
                    "n_entries": n_entries,
                    "mae": float(err.abs().groupby(seed).mean().mean()),
                    "bias": float(err.groupby(seed).mean().mean()),
                }
            )
    return pd.DataFrame(rows)


def ranking_scores(oof: pd.DataFrame, fast_log10: float = FAST_LOG10_S_CM) -> dict[str, dict[str, float]]:
    """How well each model orders the held-out entries (``cross_validate``'s out-of-fold table), the
    use a screen makes of it: per model, the Spearman rank correlation of prediction and measurement,
    and the ROC AUC of the prediction for telling measured log10 sigma >= ``fast_log10`` (S/cm)
    from below it (NaN when one side is empty); each the mean over fold seeds."""
    from sklearn.metrics import roc_auc_score

    from ionscreen.learn.metrics import regression_metrics

    out = {}
    for model, col in _OOF_MODELS.items():
        rho, auc = [], []
        for _, o in oof.groupby("fold_seed"):
            y, p = o["y"].to_numpy(float), o[col].to_numpy(float)
            fast = y >= fast_log10
            rho.append(regression_metrics(y, p)["spearman"])
            auc.append(float(roc_auc_score(fast, p)) if 0 < fast.sum() < len(fast) else math.nan)
        out[model] = {"spearman": float(np.mean(rho)), "roc_auc_fast": float(np.mean(auc))}
    return out


def over_2_decades(oof: pd.DataFrame) -> dict[str, int]:
    """Who the held-out predictions off by more than 2 decades are (``cross_validate``'s out-of-fold
    table, pooled over fold seeds): how many (``n``), and how many of them were measured below
    1e-10 and below 1e-8 S/cm; the card's figures on the tail."""
    big = oof[(oof["prediction"] - oof["y"]).abs() > 2.0]
    return {
        "n": len(big),
        "n_fold_seeds": int(oof["fold_seed"].nunique()),
        "below_1e-10": int((big["y"] < -10.0).sum()),
        "below_1e-8": int((big["y"] < -8.0).sum()),
    }


def _defined(figures: dict[str, float]) -> dict[str, float]:
    """``figures`` without the undefined (NaN) ones, for ``model.json``: JSON has no NaN."""
    return {k: v for k, v in figures.items() if not math.isnan(v)}


def held_out_figures(oof: pd.DataFrame) -> dict[str, Any]:
    """``model.json``'s figures of where the held-out error lies and how well the held-out entries
    are ranked (``accuracy_by_measured_range``, ``ranking_scores``; undefined scores left out, as
    JSON has no NaN): the input of ``accuracy_section``."""
    return {
        "by_measured_range": accuracy_by_measured_range(oof).to_dict("records"),
        "fast_log10_S_cm": FAST_LOG10_S_CM,
        "ranking": {m: _defined(r) for m, r in ranking_scores(oof).items()},
    }
