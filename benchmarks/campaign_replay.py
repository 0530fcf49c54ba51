"""What a guided campaign buys, replayed without MD on measured data: OBELiX's training split
as pool and oracle (one label per composition: the median log10 sigma of its entries, grouped as
obelix-rt's CV groups them), the campaign's surrogate (obelix-rt's tree learner on its 270
descriptors) retrained every round. Start from 20 random compositions, 10 rounds of 10 picks;
the pool's top-decile compositions found after 120 labels, mean +- std over seeds, for every
acquisition against ``random`` on the same seeds (same 20 starts), with and without the
diversity step. A plot of hits against labels goes to ``--plot``.

    python benchmarks/campaign_replay.py [--seeds 10] [--plot docs/figures/campaign_replay.png]

Ceiling: with N compositions in the pool and T of them in the top decile, random expects
120 T / N hits and a perfect guide T, so no acquisition can exceed N / 120 times random.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]


def pool() -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(descriptors, label, group, element set) per OBELiX training composition."""
    from ionscreen.campaign.acquire import element_set
    from ionscreen.roomtemp.descriptors import obelix_descriptors
    from ionscreen.roomtemp.fit import training_table

    table = training_table(REPO / "resources" / "obelix")
    X = obelix_descriptors(table)
    groups = table["formula"].astype(str)
    rows, labels, names = [], [], []
    for g, idx in groups.groupby(groups).groups.items():
        idx = np.asarray([groups.index.get_loc(i) for i in idx])
        rows.append(np.nanmean(X[idx], axis=0) if len(idx) > 1 else X[idx[0]])
        labels.append(float(np.median(table["log10_sigma_S_cm"].to_numpy(float)[idx])))
        names.append(str(g))
    return np.asarray(rows), np.asarray(labels), names, [element_set(n) for n in names]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--acquisitions", nargs="+", default=["random", "greedy", "uncertainty", "ucb", "ei"])
    p.add_argument("--n-trees", type=int, default=100)
    p.add_argument("--plot", default=None, help="PNG: hits against labels, one line per acquisition")
    p.add_argument("--out", default=None, help="CSV of every replay's rounds")
    a = p.parse_args()

    from ionscreen.campaign.acquire import CampaignSettings
    from ionscreen.campaign.replay import replay

    t0 = time.perf_counter()
    X, y, groups, elements = pool()
    n, top = len(y), int((y >= np.quantile(y, 0.9)).sum())
    print(
        f"pool: {n} OBELiX compositions, {top} in the top decile (log10 sigma >= {np.quantile(y, 0.9):.2f}); "
        f"{len(set(elements))} element sets; descriptors in {time.perf_counter() - t0:.1f} s"
    )
    print(f"random expects {120 * top / n:.1f} hits after 120 labels; the ceiling is {top} ({n / 120:.2f}x random)")
    variants = [(acq, div) for acq in a.acquisitions for div in (["none"] if acq == "random" else ["elements", "none"])]
    runs = []
    for acq, div in variants:
        t1 = time.perf_counter()
        for seed in range(a.seeds):
            s = CampaignSettings(rounds=10, picks=10, acquisition=acq, diversity=div, seed=seed, n_trees=a.n_trees)
            r = replay(X, y, groups, elements, s, start=20)
            runs.append(r.assign(acquisition=acq, diversity=div, seed=seed))
        print(f"  {acq:<12} diversity {div:<9} {a.seeds} seeds in {time.perf_counter() - t1:.0f} s", flush=True)
    df = pd.concat(runs, ignore_index=True)
    if a.out:
        df.to_csv(a.out, index=False)
    last = df[df["labels"] == df["labels"].max()]
    rand = last[last["acquisition"] == "random"].set_index("seed")["hits"]
    print(f"\ntop-decile compositions found after {int(df['labels'].max())} labels (mean +- std over {a.seeds} seeds)")
    print(
        f"{'acquisition':<14}{'diversity':<11}{'hits':>13}{'x random':>10}{'x random per seed':>20}"
        f"{'pick MAE':>10}{'pick coverage':>15}"
    )
    summary = []
    for (acq, div), g in last.groupby(["acquisition", "diversity"], sort=False):
        h = g.set_index("seed")["hits"]
        ratio = h / rand
        picks = df[(df["acquisition"] == acq) & (df["diversity"] == div) & (df["round"] > 0)]
        summary.append(
            (
                acq,
                div,
                h.mean(),
                h.std(),
                h.mean() / rand.mean(),
                ratio.mean(),
                ratio.std(),
                picks["picks_mae"].mean(),
                picks["picks_coverage"].mean(),
            )
        )
    for acq, div, hm, hs, rr, pm, ps, mae, cov in sorted(summary, key=lambda x: -x[2]):
        print(f"{acq:<14}{div:<11}{hm:>7.1f} +- {hs:<4.1f}{rr:>9.2f}x{pm:>12.2f} +- {ps:<5.2f}{mae:>10.2f}{cov:>15.2f}")
    print(
        f"\n(pick MAE: the surrogate's error on each round's picks before they were labelled, log10 S/cm;"
        f" pick coverage: share within one calibrated std, 0.68 when calibrated). Total {time.perf_counter() - t0:.0f} s"
    )
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for (acq, div), g in df.groupby(["acquisition", "diversity"], sort=False):
            m = g.groupby("labels")["hits"].agg(["mean", "std"])
            line = ax.plot(
                m.index,
                m["mean"],
                marker="o",
                ms=3,
                ls="-" if div != "none" or acq == "random" else "--",
                label=f"{acq}"
                + ("" if acq == "random" else f" ({'diverse' if div == 'elements' else 'no diversity'})"),
            )
            ax.fill_between(m.index, m["mean"] - m["std"], m["mean"] + m["std"], color=line[0].get_color(), alpha=0.1)
        ax.axhline(top, color="grey", lw=0.8, ls=":", label=f"all {top} top-decile compositions")
        ax.set_xlabel("labels (20 random, then 10 per round)")
        ax.set_ylabel("top-decile compositions found")
        ax.set_title(f"Campaign replay on OBELiX ({n} compositions), mean +- std over {a.seeds} seeds", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        Path(a.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(a.plot, dpi=130)
        print(f"plot: {a.plot}")


if __name__ == "__main__":
    main()
