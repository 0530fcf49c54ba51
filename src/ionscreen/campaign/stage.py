"""The workflow's campaign jobs (rules/campaign.smk): a round (train, predict the pool, pick, and
the MD batch jobs of the picks), a round's labels from the oracle, and the campaign's summary.

Features of a material: the mean over its Li atoms of the SevenNet embedding (the ``embeddings``
table the screening shards and the training set already have) and the project's composition
features (``learn.skill.composition_features``). The label of a material: log10 of the
campaign's target column (``train.target``) of its label row at the campaign's temperature.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen import atomic, schema
from ionscreen.campaign.acquire import CampaignError, CampaignSettings, element_set
from ionscreen.campaign.replay import choose
from ionscreen.campaign.surrogate import coverage

log = logging.getLogger(__name__)


def material_features(embeddings: pd.DataFrame, structures: pd.DataFrame) -> pd.DataFrame:
    """One row per material that has both: ``material_id``, ``group`` (reduced formula),
    ``element_set`` and ``features`` (mean Li embedding, then composition features)."""
    from ionscreen.learn.skill import composition_features

    formula = dict(zip(structures["material_id"], structures["reduced_formula"], strict=True))
    emb = embeddings[embeddings["material_id"].isin(formula)]
    ids, means = [], []
    for mid, grp in emb.groupby("material_id", sort=True):
        ids.append(str(mid))
        means.append(np.stack([np.asarray(e, dtype=float) for e in grp["embedding"]]).mean(0))
    if not ids:
        return pd.DataFrame(columns=["material_id", "group", "element_set", "features"])
    comp = composition_features([formula[m] for m in ids])
    return pd.DataFrame(
        {
            "material_id": ids,
            "group": [formula[m] for m in ids],
            "element_set": [element_set(formula[m]) for m in ids],
            "features": list(np.hstack([np.stack(means), comp])),
        }
    )


def label_of(rows: pd.DataFrame, target: str, temperature_K: float) -> tuple[float, str]:
    """(log10 of ``target`` in the label row at ``temperature_K``, '') or (NaN, why not)."""
    at = rows[np.isclose(rows["temperature_K"].astype(float), temperature_K)]
    if at.empty:
        return math.nan, f"no label row at {temperature_K:g} K"
    row = at.iloc[0]
    if row["status"] != "ok":
        return math.nan, f"label {row['status']} at {temperature_K:g} K: {row.get('reason', '')}"
    value = float(row[target])
    if not value > 0:
        return math.nan, f"{target} is {value:g} at {temperature_K:g} K (log10 needs > 0)"
    return math.log10(value), ""


def initial_labels(labels: pd.DataFrame, target: str, temperature_K: float) -> pd.DataFrame:
    """The training set's labels as the campaign's: material_id and label (finite ones only)."""
    out = []
    for mid, rows in labels.groupby("material_id", sort=True):
        y, _ = label_of(rows, target, temperature_K)
        if math.isfinite(y):
            out.append({"material_id": str(mid), "label": y})
    if not out:
        raise CampaignError(
            f"the training set has no {target} label at {temperature_K:g} K: campaign.temperature_K must be "
            "one of md.temperatures_K"
        )
    return pd.DataFrame(out)


def starting_labels(
    settings: CampaignSettings, labels_path: str | None, materials: Sequence[str], target: str, temperature_K: float
) -> pd.DataFrame:
    """The labels a campaign starts from: the training set's MD labels (md oracle), or the
    training materials looked up in the oracle table (table oracle: every label from one source;
    training materials the table lacks are left out)."""
    if settings.oracle == "table":
        truth = read_oracle_table(settings.table, settings.table_column)
        have = [m for m in materials if m in truth.index]
        if not have:
            raise CampaignError(f"campaign.table {settings.table} has none of the training materials' labels")
        return pd.DataFrame({"material_id": have, "label": truth[have].to_numpy(float)})
    if not labels_path:
        raise CampaignError("the md oracle starts from the training set's MD labels (train.labels: md)")
    return initial_labels(schema.read_table(labels_path, "labels"), target, temperature_K)


def round_batches(
    materials: Sequence[str], temperatures: Sequence[Any], size: int, round_: int
) -> dict[str, list[str]]:
    """The md batch jobs of a round's picks: {"<T>K-r<round>-<k>": runs "<material>/<T>K"}, ``size``
    runs each, one temperature per batch (the ladder's order holds as for the training runs)."""
    out: dict[str, list[str]] = {}
    ms = sorted(materials)
    for t in temperatures:
        for k in range(0, len(ms), size):
            out[f"{t}K-r{round_:02d}-{k // size:05d}"] = [f"{m}/{t}K" for m in ms[k : k + size]]
    return out


def run_round(
    round_: int,
    settings: CampaignSettings,
    *,
    target: str,
    temperature_K: float,
    trainset: Mapping[str, str],
    pool: Sequence[tuple[str, str]],
    earlier: Sequence[str],
    out: Mapping[str, str],
    temperatures: Sequence[Any] = (),
    batch_size: int = 1,
) -> pd.DataFrame:
    """Round ``round_``: the surrogate on the training set's labels and the labels of ``earlier``
    rounds (campaign_labels files), the pool (``(candidates, embeddings)`` per screening shard)
    less every labelled material, the picks. Writes ``out``: picks, pool (predictions), model
    (the surrogate, ``.npz``), batches (JSON: the picks' md batch jobs, for the md oracle)."""
    known = material_features(
        schema.read_table(trainset["embeddings"], "embeddings"), schema.read_table(trainset["structures"], "structures")
    )
    labels = starting_labels(settings, trainset.get("labels"), list(known["material_id"]), target, temperature_K)
    done = [schema.read_table(path, "campaign_labels") for path in earlier]
    for d in done:
        labels = pd.concat([labels, d.loc[d["status"] == "ok", ["material_id", "label"]]], ignore_index=True)
    picked_before = {m for d in done for m in d["material_id"]}
    parts = [material_features(schema.read_table(e, "embeddings"), schema.read_table(c, "structures")) for c, e in pool]
    pool_feats = pd.concat(parts, ignore_index=True).drop_duplicates("material_id")
    cands = pool_feats
    cands = cands[
        ~cands["material_id"].isin(set(labels["material_id"]) | picked_before | set(known["material_id"]))
    ].reset_index(drop=True)
    if len(cands) < settings.picks:
        raise CampaignError(
            f"round {round_}: {len(cands)} candidates are left, fewer than campaign.picks {settings.picks}"
        )
    # Features of the labelled: the training set's own, or the pool's for earlier picks.
    feats = pd.concat([known, pool_feats]).drop_duplicates("material_id").set_index("material_id")
    train = labels[labels["material_id"].isin(feats.index)]
    X = np.stack(feats.loc[train["material_id"], "features"].to_list())
    c = choose(
        X,
        train["label"].to_numpy(float),
        list(feats.loc[train["material_id"], "group"]),
        np.stack(cands["features"].to_list()),
        list(cands["element_set"]),
        settings,
        round_,
    )
    log.info(
        "round %d: surrogate on %d labels (grouped-CV MAE %.3f, std scale %.2f); pool %d; picks %s",
        round_, len(train), c.surrogate.cv_mae, c.surrogate.std_scale, len(cands),
        ", ".join(cands["material_id"].iloc[c.picks]),
    )  # fmt: skip
    picks = cands.iloc[c.picks].assign(
        round=round_,
        rank=np.arange(1, len(c.picks) + 1),
        predicted=c.mean[c.picks],
        predicted_std=c.std[c.picks],
        acquisition=settings.acquisition,
        acquisition_value=c.values[c.picks],
    )
    meta = {"round": round_, "cv_mae": c.surrogate.cv_mae, "std_scale": c.surrogate.std_scale, "n_train": len(train)}
    schema.write_table(
        picks.drop(columns="features"), out["picks"], "campaign_picks", **meta, settings=asdict(settings)
    )
    pool_table = pd.DataFrame(
        {
            "round": round_,
            "material_id": cands["material_id"],
            "predicted": c.mean,
            "predicted_std": c.std,
            "acquisition_value": c.values,
            "picked": np.isin(np.arange(len(cands)), c.picks),
        }
    )
    schema.write_table(pool_table, out["pool"], "campaign_pool", **meta)
    with atomic.atomic_output(out["model"]) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, std_scale=c.surrogate.std_scale, **asdict(c.surrogate.trees))
    batches = round_batches(list(picks["material_id"]), temperatures, batch_size, round_)
    with atomic.atomic_output(out["batches"]) as tmp:
        Path(tmp).write_text(json.dumps(batches, indent=1) + "\n")
    return picks


def read_oracle_table(path: str | Path, column: str) -> pd.Series:
    """material_id -> label of an oracle table (Parquet or CSV), or ``CampaignError`` naming what
    is missing."""
    path = Path(path)
    if not path.is_file():
        raise CampaignError(f"campaign.table {path} does not exist")
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    for col, what in (("material_id", "the materials' ids"), (column, "campaign.table_column")):
        if col not in df.columns:
            have = ", ".join(map(str, df.columns[:12])) + (", ..." if len(df.columns) > 12 else "")
            raise CampaignError(f"campaign.table {path} has no column {col!r} ({what}); it has {have}")
    df = df.drop_duplicates("material_id")
    return pd.Series(df[column].astype(float).to_numpy(), index=df["material_id"].astype(str))


def label_round(
    round_: int,
    picks_path: str,
    settings: CampaignSettings,
    *,
    out: str,
    target: str = "",
    temperature_K: float = 0.0,
    label_files: Mapping[str, str] | None = None,
    run_files: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Round ``round_``'s picks labelled: from the label stage's files (``label_files``: material ->
    labels parquet; ``run_files``: material -> its md_runs row files, for the MD cost) when the
    oracle is md, from ``settings.table`` when it is a table. A pick the table lacks is an error
    that names it; a pick whose MD or label failed gets status failed and the reason."""
    picks = schema.read_table(picks_path, "campaign_picks")
    rows = []
    if settings.oracle == "table":
        truth = read_oracle_table(settings.table, settings.table_column)
        missing = sorted(set(picks["material_id"]) - set(truth.index))
        if missing:
            raise CampaignError(
                f"round {round_}: the oracle table {settings.table} has no label for {', '.join(missing)}"
            )
    cost = _md_cost(run_files or {})
    for p in picks.itertuples():
        if settings.oracle == "table":
            y, why = float(truth[p.material_id]), ""
        else:
            y, why = label_of(schema.read_table(label_files[p.material_id], "labels"), target, temperature_K)
        runs, ps, wall = cost.get(p.material_id, (0, 0.0, 0.0))
        rows.append(
            {
                "round": round_,
                "material_id": p.material_id,
                "label": y,
                "status": "ok" if math.isfinite(y) else "failed",
                "reason": why,
                "predicted": p.predicted,
                "predicted_std": p.predicted_std,
                "md_runs": runs,
                "md_simulated_ps": ps,
                "md_wall_s": wall,
            }
        )
    df = pd.DataFrame(rows)
    schema.write_table(df, out, "campaign_labels", oracle=settings.oracle)
    ok = df[df["status"] == "ok"]
    log.info(
        "round %d labelled: %d of %d; |error| before labelling %.3f; within 1 std: %.2f",
        round_, len(ok), len(df), float(np.abs(ok["label"] - ok["predicted"]).mean()) if len(ok) else math.nan,
        coverage(ok["predicted"], ok["predicted_std"], ok["label"]),
    )  # fmt: skip
    return df


def _md_cost(run_files: Mapping[str, Sequence[str]]) -> dict[str, tuple[int, float, float]]:
    """material -> (MD runs, simulated ps, share of its batch jobs' wall s) from md_runs files."""
    from ionscreen.md.plan import batch_names, batch_wall_s

    paths = [(m, p) for m, ps in run_files.items() for p in ps if Path(p).is_file()]
    if not paths:
        return {}
    runs = pd.concat([schema.read_table(p, "md_runs").assign(_m=m) for m, p in paths], ignore_index=True)
    ran = runs[runs["status"] != "skipped"].copy()
    ran["_batch"] = batch_names(ran)
    walls = batch_wall_s(runs)
    share = ran["_batch"].map(walls) / ran.groupby("_batch")["_batch"].transform("size")
    ran["_ps"] = ran["n_steps"].astype(float) * ran["timestep_fs"].astype(float) / 1000.0
    ran["_wall"] = share
    g = ran.groupby("_m")
    return {str(m): (int(len(x)), float(x["_ps"].sum()), float(x["_wall"].sum())) for m, x in g}


def summarise(
    initial: pd.DataFrame, rounds: Sequence[tuple[str, str]], settings: CampaignSettings, out: str
) -> pd.DataFrame:
    """``campaign_summary``: round 0 (the initial labels) and one row per round from its
    (picks, labels) files: best label so far, top-decile finds (table oracle), the error and
    1-std coverage on the picks before labelling, the surrogate's CV error and the MD cost."""
    truth = read_oracle_table(settings.table, settings.table_column) if settings.oracle == "table" else None
    labelled = initial[["material_id", "label"]].copy()
    top: set[str] = set()
    if truth is not None:
        pool = truth[~truth.index.isin(set(labelled["material_id"]))]
        top = set(pool.index[pool >= pool.quantile(0.9)]) if len(pool) else set()
    rows = [_summary_row(0, labelled, top, truth, None, math.nan)]
    for picks_path, labels_path in rounds:
        lab = schema.read_table(labels_path, "campaign_labels")
        cv = float(schema.read_provenance(picks_path).get("cv_mae", math.nan))
        labelled = pd.concat([labelled, lab.loc[lab["status"] == "ok", ["material_id", "label"]]], ignore_index=True)
        rows.append(_summary_row(int(lab["round"].iloc[0]), labelled, top, truth, lab, cv))
    df = pd.DataFrame(rows)
    schema.write_table(df, out, "campaign_summary", settings=asdict(settings))
    return df


def _summary_row(
    r: int, labelled: pd.DataFrame, top: set[str], truth: pd.Series | None, lab: pd.DataFrame | None, cv: float
) -> dict[str, Any]:
    best = labelled.loc[labelled["label"].idxmax()]
    ok = (
        lab[lab["status"] == "ok"] if lab is not None else pd.DataFrame(columns=["label", "predicted", "predicted_std"])
    )
    return {
        "round": r,
        "labels": len(labelled),
        "best_label": float(best["label"]),
        "best_material_id": str(best["material_id"]),
        "top_decile_found": len(top & set(labelled["material_id"])) if truth is not None else None,
        "top_decile_total": len(top) if truth is not None else None,
        "picks_mae": float(np.abs(ok["label"] - ok["predicted"]).mean()) if len(ok) else math.nan,
        "picks_coverage": coverage(ok["predicted"], ok["predicted_std"], ok["label"]) if len(ok) else math.nan,
        "cv_mae": cv,
        "md_runs": int(lab["md_runs"].sum()) if lab is not None else 0,
        "md_simulated_ps": float(lab["md_simulated_ps"].sum()) if lab is not None else 0.0,
        "md_wall_hours": float(lab["md_wall_s"].sum()) / 3600 if lab is not None else 0.0,
    }


def campaign_summary(
    settings: CampaignSettings,
    *,
    trainset: Mapping[str, str],
    rounds: Sequence[tuple[str, str]],
    out: str,
    target: str,
    temperature_K: float,
) -> pd.DataFrame:
    """The summary job: the starting labels (as round 1 read them), ``summarise``, and the HTML
    report beside the summary (``report.html``)."""
    from ionscreen.campaign.report import write_campaign_report

    ids = schema.read_table(trainset["structures"], "structures")["material_id"].astype(str).tolist()
    start = starting_labels(settings, trainset.get("labels"), ids, target, temperature_K)
    summary = summarise(start, rounds, settings, out)
    labels = pd.concat([schema.read_table(lab, "campaign_labels") for _, lab in rounds], ignore_index=True)
    write_campaign_report(Path(out).with_name("report.html"), summary, labels, settings, target)
    return summary
