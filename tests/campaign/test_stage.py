"""A workflow round, its labels and the summary on small tables (ionscreen.campaign.stage)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ionscreen import schema
from ionscreen.campaign.acquire import CampaignError, CampaignSettings
from ionscreen.campaign.stage import label_round, round_batches, run_round, summarise

FORMULAS = ["LiCl", "LiBr", "LiI", "Li2O", "Li2S", "Li2Se", "Li3N", "Li3P", "LiF", "Li3Sb", "Li2Te", "LiH"]


def _tables(folder, ids, rng):
    structures = [
        {"material_id": m, "reduced_formula": FORMULAS[i % len(FORMULAS)], "structure_json": "{}"}
        for i, m in enumerate(ids)
    ]
    emb = [
        {"material_id": m, "atom_index": a, "species": "Li", "embedding": rng.normal(size=8).astype(np.float32)}
        for m in ids
        for a in range(2)
    ]
    s, e = folder / "structures.parquet", folder / "embeddings.parquet"
    schema.write_table(structures, s, "structures")
    schema.write_table(emb, e, "embeddings")
    return str(s), str(e)


@pytest.fixture
def campaign(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "train").mkdir()
    (tmp_path / "pool").mkdir()
    train = [f"t{i}" for i in range(6)]
    pool = [f"p{i}" for i in range(12)]
    ts, te = _tables(tmp_path / "train", train, rng)
    ps, pe = _tables(tmp_path / "pool", pool, rng)
    truth = pd.DataFrame({"material_id": train + pool, "log10_sigma": rng.normal(-4, 1, 18)})
    table = tmp_path / "truth.csv"
    truth.to_csv(table, index=False)
    s = CampaignSettings(rounds=2, picks=3, oracle="table", table=str(table), table_column="log10_sigma", n_trees=20)
    return tmp_path, s, {"structures": ts, "embeddings": te}, [(ps, pe)], truth.set_index("material_id")["log10_sigma"]


def test_two_rounds_with_a_table_oracle(campaign):
    folder, s, trainset, pool, truth = campaign
    rounds = []
    for r in (1, 2):
        out = {k: str(folder / f"r{r}.{k}") for k in ("picks", "pool", "model", "batches")}
        picks = run_round(r, s, target="", temperature_K=0, trainset=trainset, pool=pool,
                          earlier=[p for _, p in rounds], out=out, temperatures=[800, 1200], batch_size=2)  # fmt: skip
        assert len(picks) == 3 and set(picks["material_id"]) <= {f"p{i}" for i in range(12)}
        pool_pred = schema.read_table(out["pool"], "campaign_pool")
        assert len(pool_pred) == 12 - 3 * (r - 1)  # earlier picks leave the pool
        assert pool_pred["picked"].sum() == 3
        batches = json.loads(open(out["batches"]).read())
        assert sorted(batches) == sorted(f"{t}K-r0{r}-0000{k}" for t in (1200, 800) for k in (0, 1))
        assert sorted(run for runs in batches.values() for run in runs) == sorted(
            f"{m}/{t}K" for m in picks["material_id"] for t in (800, 1200)
        )
        lab = label_round(r, out["picks"], s, out=str(folder / f"r{r}.labels"))
        assert lab["label"].tolist() == pytest.approx(truth[lab["material_id"]].tolist())
        rounds.append((out["picks"], str(folder / f"r{r}.labels")))
    picked = [m for _, p in rounds for m in schema.read_table(p, "campaign_labels")["material_id"]]
    assert len(set(picked)) == 6  # no material picked twice
    start = pd.DataFrame(
        {"material_id": [f"t{i}" for i in range(6)], "label": truth[[f"t{i}" for i in range(6)]].to_numpy()}
    )
    summary = summarise(start, rounds, s, str(folder / "summary.parquet"))
    assert summary["labels"].tolist() == [6, 9, 12]
    assert summary["best_label"].is_monotonic_increasing
    assert summary["best_label"].iloc[-1] == pytest.approx(truth[start["material_id"].tolist() + picked].max())
    assert (summary["top_decile_total"] == 2).all()  # 12 pool entries: the top decile holds 2
    from ionscreen.campaign.report import write_campaign_report

    labels = pd.concat([schema.read_table(p, "campaign_labels") for _, p in rounds])
    page = write_campaign_report(folder / "report.html", summary, labels, s, "").read_text()
    assert "2 rounds of 3 picks by <b>ucb</b>" in page and page.count("<img") == 1


def test_a_pick_missing_from_the_oracle_table_is_named(campaign):
    folder, s, trainset, pool, truth = campaign
    out = {k: str(folder / f"r1.{k}") for k in ("picks", "pool", "model", "batches")}
    picks = run_round(1, s, target="", temperature_K=0, trainset=trainset, pool=pool, earlier=[], out=out)
    missing = picks["material_id"].iloc[0]
    truth.drop(missing).reset_index().to_csv(s.table, index=False)
    with pytest.raises(CampaignError, match=f"has no label for {missing}"):
        label_round(1, out["picks"], s, out=str(folder / "r1.labels"))


def test_an_oracle_table_without_its_label_column_is_refused(campaign):
    folder, s, trainset, pool, _ = campaign
    out = {k: str(folder / f"r1.{k}") for k in ("picks", "pool", "model", "batches")}
    bad = CampaignSettings(**{**s.__dict__, "table_column": "sigma"})
    with pytest.raises(CampaignError, match="has no column 'sigma'"):
        run_round(1, bad, target="", temperature_K=0, trainset=trainset, pool=pool, earlier=[], out=out)


def test_round_batches_pack_the_picks_per_temperature():
    b = round_batches(["b", "a", "c"], [1200, 800], 2, 3)
    assert b == {
        "1200K-r03-00000": ["a/1200K", "b/1200K"],
        "1200K-r03-00001": ["c/1200K"],
        "800K-r03-00000": ["a/800K", "b/800K"],
        "800K-r03-00001": ["c/800K"],
    }
