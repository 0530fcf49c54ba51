"""Experiments on trained models: the paper's ablations, k-fold composition-grouped
cross-validation next to a random forest, and the AML paper's table for a LiFlow-trained model.

``ablations`` reruns the training routes with the paper's switches on one split and the same
seeds. ``cross_validate`` gives k-fold CV of the configured predictor and of a random forest on
composition features on the same samples and folds. ``paper_table`` takes the data set's own test split, times inference from structure alone (SevenNet
embedding + the predictor ensemble, as a screening user would run it), and writes the MAE of the
log10 target per temperature next to the published figures for LiFlow's 419 test materials.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen import atomic, schema
from ionscreen.learn.config import TrainConfig
from ionscreen.learn.dataset import load_dataset
from ionscreen.learn.folds import grouped_folds, grouped_split
from ionscreen.learn.metrics import regression_metrics
from ionscreen.learn.skill import composition_features
from ionscreen.learn.train import train

log = logging.getLogger(__name__)

PUBLISHED_SOURCE = "published: AML paper on LiFlow's 419 test materials (docs/method.md section 5)"
# method -> (inference seconds for 419 materials or NaN, {T: MAE of log10 MSD})
PUBLISHED: dict[str, tuple[float, dict[int, float]]] = {
    "LiFlow (autoregressive generator)": (2910.0, {600: 0.378, 800: 0.392, 1000: 0.457, 1200: 0.407}),
    "DenseGNN": (29.0, {600: 0.412, 800: 0.472, 1000: 0.531, 1200: 0.523}),
    "random forest": (math.nan, {600: 0.465, 800: 0.582, 1000: 0.705, 1200: 0.816}),
    "AML without model-level learning": (math.nan, {600: 0.395, 800: 0.428, 1000: 0.473, 1200: 0.467}),
    "AML, gradient distillation": (math.nan, {600: 0.354, 800: 0.406, 1000: 0.455, 1200: 0.421}),
    "AML (full)": (14.0, {600: 0.344, 800: 0.367, 1000: 0.402, 1200: 0.390}),
}


def paper_table(
    model_dir: str | Path,
    structures_path: str | Path,
    labels_path: str | Path,
    out: str | Path,
    *,
    markdown_out: str | Path | None = None,
    device: str = "auto",
    batch_atoms: int | None = None,
) -> pd.DataFrame:
    """Rows (method, temperature_K, mae, n_test, inference_s, source) for this run and the paper."""
    from ionscreen.embed.structure import embedder_for, embeddings_by_material
    from ionscreen.learn.model import Batch, load_predictor
    from ionscreen.mlip import resolve_device
    from ionscreen.structures.prepare import structure_from_row

    predictor = load_predictor(model_dir)
    meta = predictor.meta
    target = meta.target_column
    labels = schema.read_table(labels_path, "labels")
    if "split" not in labels.columns or not (labels["split"] == "test").any():
        raise ValueError(f"{labels_path} has no test split: the paper table needs the data set's own test part")
    vals = pd.to_numeric(labels[target], errors="coerce")
    test = labels[(labels["split"] == "test") & (labels["status"] == "ok") & (vals > 0)]
    structures = schema.read_table(structures_path, "structures").set_index("material_id")
    mats = sorted(set(test["material_id"]) & set(structures.index))

    # Inference from structure alone, timed end to end: build structures, embed, predict.
    embedder = embedder_for(meta.embedding, device)
    t0 = time.perf_counter()
    items = [(m, structure_from_row({"structure_json": structures.loc[m, "structure_json"]})) for m in mats]
    by_mat = embeddings_by_material(pd.DataFrame(embedder(items, batch_atoms=batch_atoms, progress=False)))
    samples = [(m, float(t)) for m, t in zip(test["material_id"], test["temperature_K"], strict=True) if m in by_mat]
    batch = Batch.build([by_mat[m] for m, _ in samples], [t for _, t in samples], meta.poly_expansion)
    pred, _, _ = predictor.predict(batch)
    inference_s = time.perf_counter() - t0

    y = dict(
        zip(
            zip(test["material_id"], test["temperature_K"].astype(float), strict=True),
            np.log10(vals[test.index]),
            strict=True,
        )
    )
    truth = np.array([y[s] for s in samples])
    temps = np.array([t for _, t in samples])
    method = f"ionscreen {meta.route} (this run)"
    source = f"this run: {len(mats)} test materials, {resolve_device(device)}"
    out_rows: list[dict[str, Any]] = []
    for T in sorted(set(temps)):
        sel = temps == T
        out_rows.append(
            {
                "method": method,
                "temperature_K": float(T),
                "mae": float(np.mean(np.abs(pred[sel] - truth[sel]))),
                "n_test": int(sel.sum()),
                "inference_s": inference_s,
                "source": source,
                "target": f"log10_{target}",
            }
        )
    for name, (secs, maes) in PUBLISHED.items():
        for T, mae in maes.items():
            out_rows.append(
                {
                    "method": name,
                    "temperature_K": float(T),
                    "mae": mae,
                    "n_test": 419,
                    "inference_s": secs,
                    "source": PUBLISHED_SOURCE,
                    "target": "log10_msd",
                }
            )
    df = pd.DataFrame(out_rows)
    schema.write_table(df, out, "paper_table", model_dir=str(model_dir))
    if markdown_out is not None:
        atomic.write_text_atomic(markdown_out, to_markdown(df))
    log.info("paper table: %d test materials predicted in %.2f s", len(mats), inference_s)
    return df


def to_markdown(df: pd.DataFrame) -> str:
    """Methods as rows, temperatures as columns, like the paper."""
    wide = df.pivot_table(index=["method", "inference_s", "n_test"], columns="temperature_K", values="mae", sort=False)
    wide = wide[sorted(wide.columns)]  # temperatures ascending, whichever row listed them first
    wide.columns = [f"{c:g} K" for c in wide.columns]
    lines = [
        "| method | test materials | inference (s) | " + " | ".join(wide.columns) + " |",
        "|---|---|---|" + "---|" * len(wide.columns),
    ]
    for (method, secs, n), r in wide.iterrows():
        cells = " | ".join("" if pd.isna(v) else f"{v:.3f}" for v in r)
        lines.append(f"| {method} | {n} | {'-' if pd.isna(secs) else f'{secs:.2f}'} | {cells} |")
    return (
        "\n".join(lines)
        + "\n\nMAE of the log10 target; the published rows are log10 MSD on LiFlow's 419 test materials.\n"
    )


# ----------------------------------------------------------------------------- ablations


ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "full": ("AML: trainer g, closed-form f1, fine-tuning", {}),
    "no_aml": ("f1 from scratch on structures only", {"aml": False}),
    "gradient_distillation": ("f1 encoder by gradient descent on g's hidden states", {"init": "distillation"}),
    "no_polynomial_expansion": ("embedding e only, no [e^2, e^3]", {"poly_expansion": False}),
    "no_alpha": ("trainer loss without the structure-only term", {"alpha": 0.0}),
}


def ablations(
    labels: pd.DataFrame,
    embeddings: pd.DataFrame,
    structures: pd.DataFrame,
    cfg: TrainConfig,
    out: str | Path,
    *,
    trajectories: pd.DataFrame,
    other_trajectories: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The paper's ablations on one composition-grouped split and the same seeds: one row per
    variant and split with the ensemble's metrics and the seeds' MAE mean +- std.

    ``other_trajectories`` adds full-AML rows with other trajectory embeddings (e.g.
    ``{"fourier_only": table}`` next to MOMENT)."""
    variants = [(name, doc, {**over}, trajectories) for name, (doc, over) in ABLATIONS.items()]
    for name, tbl in (other_trajectories or {}).items():
        variants.append((f"trajectory_{name}", f"full AML with {name} trajectory embeddings", {}, tbl))
    rows = []
    for name, doc, over, traj in variants:
        vcfg = replace(cfg, **over)
        log.info("ablation %s: %s", name, doc)
        res = train(labels, embeddings, structures, vcfg, None, trajectories=traj)
        m = res.metrics
        ens = m[m["seed"].isna() & m["temperature_K"].isna() & (m["model"] != "g (with trajectories)")]
        for _, r in ens.iterrows():
            rows.append(
                {
                    "variant": name,
                    "description": doc,
                    "route": res.meta.route,
                    "trajectory_embedder": res.meta.trajectory_embedder,
                    "split": r["split"],
                    "n": r["n"],
                    "mae": r["mae"],
                    "mae_seed_mean": r["mae_seed_mean"],
                    "mae_seed_std": r["mae_seed_std"],
                    "spearman": r["spearman"],
                    "r2": r["r2"],
                    "train_seconds": res.meta.train_seconds,
                }
            )
    schema.write_table(rows, out, "ablations", config=asdict(cfg))
    return pd.DataFrame(rows)


def cross_validate(
    labels: pd.DataFrame,
    embeddings: pd.DataFrame,
    structures: pd.DataFrame,
    cfg: TrainConfig,
    out: str | Path | None,
    *,
    n_folds: int = 5,
    seed: int = 0,
    trajectories: pd.DataFrame | None = None,
    rf_trees: int = 500,
    fold_of: dict[str, int] | None = None,
) -> pd.DataFrame:
    """k-fold composition-grouped CV of the configured predictor and of a random forest on
    composition features, on the same samples and folds. Inside each fold, validation
    compositions for early stopping come from the training folds only. ``fold_of`` (composition
    -> fold) imposes folds made on a larger set, so other models can be compared fold by fold."""
    from sklearn.ensemble import RandomForestRegressor

    data = load_dataset(
        labels, embeddings, structures, cfg.target, trajectories if cfg.aml else None, censored=cfg.censored
    )
    folds = np.array([fold_of[g] for g in data.groups]) if fold_of else grouped_folds(data.groups, n_folds, seed)
    comp = composition_features(data.groups)
    rows = []
    for k in range(n_folds):
        test = folds == k
        inner = grouped_split(
            [g for g, s in zip(data.groups, test, strict=True) if not s], cfg.val_fraction, 0.0, cfg.split_seed + k
        )
        split = np.full(len(data.y), "test", dtype=object)
        split[~test] = inner
        with tempfile.TemporaryDirectory() as tmp:
            res = train(labels, embeddings, structures, cfg, Path(tmp) / "model", split=split, data=data)
        p = res.per_seed.mean(axis=0)
        fit_rows, score = ~test & data.exact, test & data.exact  # the forest cannot use bounds; scores on values
        rf = RandomForestRegressor(n_estimators=rf_trees, random_state=seed, n_jobs=-1).fit(
            comp[fit_rows], data.y[fit_rows]
        )
        mean = np.full(int(score.sum()), data.y[fit_rows].mean())
        for name, pr, seconds in (
            (f"predictor ({res.meta.route})", p[score], res.meta.train_seconds),
            ("random forest (composition)", rf.predict(comp[score]), math.nan),
            ("training mean", mean, math.nan),
        ):
            rows.append(
                {
                    "model": name,
                    "fold": k,
                    "n_train": int((~test).sum()),
                    "n_test": int(score.sum()),
                    **{k2: v for k2, v in regression_metrics(data.y[score], pr).items() if k2 != "n"},
                    "train_seconds": seconds,
                }
            )
        log.info(
            "fold %d: predictor MAE %.3f, random forest MAE %.3f, training mean %.3f",
            k,
            rows[-3]["mae"],
            rows[-2]["mae"],
            rows[-1]["mae"],
        )
    df = pd.DataFrame(rows)
    summary = df.groupby("model")["mae"].agg(["mean", "std"])
    for name, r in summary.iterrows():
        log.info("%d-fold grouped CV MAE (log10 %s) %s: %.3f +- %.3f", n_folds, cfg.target, name, r["mean"], r["std"])
    if out is not None:
        schema.write_table(df, out, "cross_validation", config=asdict(cfg), n_folds=n_folds, seed=seed)
    return df
