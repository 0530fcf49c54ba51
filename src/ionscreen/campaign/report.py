"""The campaign's report: one self-contained HTML page (``campaign/report.html``) from the summary
and every round's labels: the best label so far and the pool's top decile found per round, the
surrogate's error on each round's picks before they were labelled (an honest out-of-sample figure
per round), and what each round's MD cost."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from ionscreen import atomic
from ionscreen.campaign.acquire import CampaignSettings
from ionscreen.campaign.surrogate import coverage
from ionscreen.screen.plots import inline_png
from ionscreen.screen.report import html_page, html_table


def progress_plot(summary: pd.DataFrame, labels: pd.DataFrame) -> str:
    """Left: the best label so far against the labels spent. Right: each pick's prediction (+- one
    std) against its label, coloured by round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax.plot(summary["labels"], summary["best_label"], marker="o", color="#1c7ed6")
    for r in summary.itertuples():
        ax.annotate(f"r{r.round}", (r.labels, r.best_label), textcoords="offset points", xytext=(3, -10), fontsize=7)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("labels so far")
    ax.set_ylabel("best label so far")
    ok = labels[labels["status"] == "ok"]
    if len(ok):
        rounds = sorted(ok["round"].unique())
        cmap = plt.get_cmap("viridis", max(2, len(rounds)))
        for k, r in enumerate(rounds):
            g = ok[ok["round"] == r]
            bx.errorbar(
                g["label"], g["predicted"], yerr=g["predicted_std"], fmt="o", ms=4, color=cmap(k), label=f"round {r}"
            )
        lo, hi = np.nanmin(ok[["label", "predicted"]].to_numpy()), np.nanmax(ok[["label", "predicted"]].to_numpy())
        bx.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        bx.legend(fontsize=7)
    bx.set_xlabel("label (after MD / from the table)")
    bx.set_ylabel("predicted before labelling (+- 1 std)")
    fig.tight_layout()
    return inline_png(fig)


def write_campaign_report(
    out: str | Path, summary: pd.DataFrame, labels: pd.DataFrame, settings: CampaignSettings, target: str
) -> Path:
    """Write the campaign's HTML report atomically."""
    last = summary.iloc[-1]
    ok = labels.loc[labels["status"] == "ok"]
    within = coverage(ok["predicted"], ok["predicted_std"], ok["label"])  # NaN when no pick was labelled
    found = (
        f" It has found {int(last['top_decile_found'])} of the pool's {int(last['top_decile_total'])} top-decile materials."
        if pd.notna(last.get("top_decile_found"))
        else ""
    )
    what = f"log10 {target}" if settings.oracle == "md" else f"{settings.table_column} from {settings.table}"
    parts = [
        "<h1>ionscreen campaign</h1>",
        f"<p class=lead>{int(last['round'])} round{'s' if int(last['round']) != 1 else ''} of {settings.picks} "
        f"pick{'s' if settings.picks != 1 else ''} by <b>{settings.acquisition}</b> "
        f"(diversity: {settings.diversity}; oracle: {settings.oracle}). The best label so far is "
        f"{last['best_label']:.3g} ({html.escape(str(last['best_material_id']))}).{found}</p>",
        f"<p class=m>Label: {html.escape(what)} (larger is better). The surrogate's std is calibrated on held-out "
        f"data so that 68 % of errors fall within one std; on the picks, once labelled, {within:.0%} did.</p>",
        progress_plot(summary, labels),
        "<h2>Round by round</h2><p>Round 0 is the initial training set. <i>picks_mae</i> and <i>picks_coverage</i> "
        "judge the surrogate on each round's picks before they were labelled: data it never saw.</p>",
        html_table(summary.astype({c: float for c in ("top_decile_found", "top_decile_total")})),
        "<h2>Every pick</h2>",
        html_table(labels),
    ]
    return atomic.write_text_atomic(out, html_page("ionscreen campaign", parts))
