"""The report's figures as inline PNGs (matplotlib, Agg): parity of predictions against labels,
MSD curves, Arrhenius lines with their credible bands, and the hidden-space distance to training."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np
import pandas as pd


def inline_png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def figure(w: float = 5.0, h: float = 4.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(w, h))


def parity_plot(pred: pd.DataFrame, target: str) -> str:
    fig, ax = figure()
    colors = {"train": "#9aa5b1", "validation": "#d9480f", "test": "#1c7ed6"}
    censored = (
        pred["censored"].fillna(False).astype(bool)
        if "censored" in pred.columns
        else pd.Series(False, index=pred.index)
    )
    for part, grp in pred[~censored].groupby("split"):
        ax.errorbar(
            grp["y_log10"],
            grp["prediction"],
            yerr=grp["prediction_std"],
            fmt="o",
            ms=5,
            color=colors.get(part, "k"),
            label=part,
            alpha=0.85,
        )
    if censored.any():  # an upper bound: any prediction left of the diagonal at or below it is right
        b = pred[censored]
        ax.scatter(
            b["y_log10"],
            b["prediction"],
            marker="<",
            s=30,
            facecolors="none",
            edgecolors="#555",
            label="upper bound (censored)",
        )
    lo = float(np.nanmin(pred[["y_log10", "prediction"]].to_numpy())) - 0.2
    hi = float(np.nanmax(pred[["y_log10", "prediction"]].to_numpy())) + 0.2
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel=f"label ({target})", ylabel=f"prediction ({target})", xlim=(lo, hi), ylim=(lo, hi))
    ax.legend()
    return inline_png(fig)


def msd_plot(curves: dict[str, Any]) -> str:
    fig, ax = figure(6, 4.5)
    for key, c in curves.items():
        t, m = np.asarray(c["dt_ps"]), np.asarray(c["msd_A2"])
        ok = (t > 0) & (m > 0)
        (line,) = ax.loglog(t[ok], m[ok], lw=1.2, label=key.replace("|", " ") + " K")
        s = c.get("start_dt_ps")
        if s is not None and isinstance(s, float) and math.isfinite(s):
            ax.axvline(s, color=line.get_color(), ls=":", lw=0.8)
    if curves:
        t = np.logspace(
            np.log10(min(min(c["dt_ps"]) for c in curves.values())),
            np.log10(max(max(c["dt_ps"]) for c in curves.values())),
            10,
        )
        ax.loglog(t, t / t[0] * 1e-2, "k--", lw=0.8, label="slope 1")
    ax.set(xlabel="time interval (ps)", ylabel="Li MSD (A^2)")
    ax.legend(fontsize=6, ncol=2)
    return inline_png(fig)


def arrhenius_plot(labels: pd.DataFrame, arrhenius: pd.DataFrame | None = None) -> tuple[str, str]:
    """(image, caption). D with 95 % credible intervals and each fit with its 95 % band; without
    any diffusive run, MSD_final against 1/T instead (and the caption says so)."""
    from ionscreen.labels.transport import arrhenius_band

    fig, ax = figure(6, 4.5)
    ok = labels[labels["status"] == "ok"]
    diff = ok[ok["diffusive"].fillna(False).astype(bool) & (ok["D_cm2_s"] > 0)]
    if len(diff):
        fits = arrhenius.set_index("material_id") if arrhenius is not None and len(arrhenius) else pd.DataFrame()
        for mid, grp in diff.groupby("material_id"):
            grp = grp.sort_values("temperature_K")
            x = 1000.0 / grp["temperature_K"]
            yerr = [grp["D_cm2_s"] - grp["D_ci95_low_cm2_s"], grp["D_ci95_high_cm2_s"] - grp["D_cm2_s"]]
            bars = ax.errorbar(x, grp["D_cm2_s"], yerr=yerr, fmt="o", ms=4, capsize=2, label=str(mid))
            if mid in fits.index and fits.loc[mid, "status"] == "ok":
                T = np.linspace(grp["temperature_K"].min(), grp["temperature_K"].max(), 50)
                d, lo, hi = arrhenius_band(fits.loc[mid].to_dict(), T)
                color = bars[0].get_color()
                ax.plot(1000.0 / T, d, color=color, lw=1)
                ax.fill_between(1000.0 / T, lo, hi, color=color, alpha=0.2)
        ax.set_yscale("log")
        ax.set(xlabel="1000 / T (1/K)", ylabel="D* (cm^2/s)")
        caption = (
            "Arrhenius plot: kinisi D* with 95 % credible intervals for diffusive runs; lines and "
            "bands are weighted Arrhenius fits with their 95 % band (>= 3 diffusive temperatures)."
        )
    else:
        for mid, grp in ok.groupby("material_id"):
            grp = grp.sort_values("temperature_K")
            ax.semilogy(1000.0 / grp["temperature_K"], grp["msd_final_A2"], "o-", label=str(mid), ms=4)
        ax.set(xlabel="1000 / T (1/K)", ylabel="MSD_final (A^2)")
        caption = (
            "No run became diffusive (runs too short or Li caged), so there is no D or Arrhenius fit: "
            "MSD_final against 1/T is shown instead."
        )
    ax.legend(fontsize=6, ncol=2)
    return inline_png(fig), caption


def hidden_plot(ranking: pd.DataFrame, threshold: float) -> str:
    fig, ax = figure(6, 3.5)
    r = ranking.drop_duplicates("material_id")
    ax.barh(r["material_id"].astype(str), r["nearest_training_distance"], color="#1c7ed6")
    ax.axvline(threshold, color="#d9480f", ls="--", label="far_from_training threshold")
    ax.invert_yaxis()
    ax.set(xlabel="hidden-space distance to nearest training sample")
    ax.legend(fontsize=7)
    return inline_png(fig)
