"""A campaign round's own cost (no MD) on a pool of 20,000 structures: the surrogate trained on the
labels so far with its calibration CV, the pool predicted, the acquisition and the picks
(``ionscreen.campaign.replay.choose``), from features already pooled per material; then the same
from the embeddings tables as the round job reads them (``campaign.stage.material_features``).
Baseline: what a user's script would do, scikit-learn's RandomForestRegressor fitted once and its
per-tree predictions for a spread (no calibration).

    python benchmarks/campaign_round.py [--pool 20000] [--labels 200] [--li 4]

The figure to compare with is one round's MD on a GPU: ``campaign.picks`` materials x
temperatures x picoseconds at the measured rate (``snakemake plan``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pool", type=int, default=20_000)
    p.add_argument("--labels", type=int, default=200)
    p.add_argument("--li", type=int, default=4, help="Li atoms per material (rows of the embeddings table)")
    p.add_argument("--dim", type=int, default=456, help="embedding width (invariant variant: 456)")
    a = p.parse_args()

    from ionscreen import schema
    from ionscreen.campaign.acquire import CampaignSettings
    from ionscreen.campaign.replay import choose
    from ionscreen.campaign.stage import material_features

    rng = np.random.default_rng(0)
    formulas = ["LiCl", "Li2O", "Li3N", "LiF", "Li3PS4", "Li7La3Zr2O12", "LiFePO4", "Li2S", "Li6PS5Cl", "LiBH4"]
    n = a.pool + a.labels
    ids = [f"m{i:06d}" for i in range(n)]
    groups = [formulas[i % len(formulas)] + f"-{i % 997}" for i in range(n)]
    latent = rng.normal(size=(n, 8))
    emb = (latent @ rng.normal(size=(8, a.dim)) + 0.1 * rng.normal(size=(n, a.dim))).astype(np.float32)
    y = latent[:, 0] - 0.5 * latent[:, 1] ** 2 + rng.normal(0, 0.2, n)
    s = CampaignSettings(picks=10)

    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            {"material_id": m, "atom_index": k, "species": "Li", "embedding": emb[i] + 0.01 * k}
            for i, m in enumerate(ids)
            for k in range(a.li)
        ]
        structures = [
            {"material_id": m, "reduced_formula": formulas[i % len(formulas)], "structure_json": "{}"}
            for i, m in enumerate(ids)
        ]
        schema.write_table(rows, Path(tmp) / "emb.parquet", "embeddings")
        schema.write_table(structures, Path(tmp) / "st.parquet", "structures")
        del rows
        t0 = time.perf_counter()
        feats = material_features(
            schema.read_table(Path(tmp) / "emb.parquet"), schema.read_table(Path(tmp) / "st.parquet")
        )
        t_feat = time.perf_counter() - t0
    X = np.stack(feats["features"].to_list())
    lab, pool = np.arange(a.labels), np.arange(a.labels, n)
    t0 = time.perf_counter()
    c = choose(X[lab], y[lab], [groups[i] for i in lab], X[pool], list(feats["element_set"].iloc[pool]), s, 1)
    t_choose = time.perf_counter() - t0

    from sklearn.ensemble import RandomForestRegressor

    t0 = time.perf_counter()
    rf = RandomForestRegressor(n_estimators=200, n_jobs=-1, random_state=0).fit(X[lab], y[lab])
    per_tree = np.stack([t.predict(X[pool]) for t in rf.estimators_])
    mean, std = per_tree.mean(0), per_tree.std(0)
    assert len(np.argsort(-(mean + std))[:10]) == 10
    t_rf = time.perf_counter() - t0
    print(f"pool {a.pool:,} materials ({a.li} Li rows each, {X.shape[1]} features), {a.labels} labels, 10 picks")
    print(f"  features from the embeddings tables (read, mean over Li, composition): {t_feat:6.1f} s")
    print(
        f"  ionscreen round (trees + {s.calibration_folds}-fold calibration, pool, {s.acquisition}, diversity): {t_choose:6.1f} s"
    )
    print(
        f"  baseline: a random forest fitted once, per-tree spread, ucb (no calibration): {t_rf:6.1f} s "
        f"(ionscreen / baseline {t_choose / t_rf:.2f})"
    )
    print(
        f"  a round without MD, in all: {t_feat + t_choose:.1f} s; std scale {c.surrogate.std_scale:.2f}, picks {len(c.picks)}"
    )


if __name__ == "__main__":
    main()
