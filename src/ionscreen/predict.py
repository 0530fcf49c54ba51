"""Batch prediction for new structures (stage ``screen``): no MD, no trajectories.

Candidates go through the same reading, validation and disorder policy as training structures
(no supercell: embeddings are per-atom and periodic, so a supercell gives the same rows), then
SevenNet embeddings, then the trained ensemble. Each (candidate, temperature) row carries flags:

- ``disorder_resolved``: partial occupancies were ordered at random (seeded): one of many orderings.
- ``temperature_outside_training``: T lies outside the training temperatures (extrapolation).
- ``elements_unseen_in_training``: the candidate has elements no training material had.
- ``far_from_training``: hidden-space distance to the nearest training sample above the
  threshold set on validation data at training time.
Inputs that cannot be predicted at all (unreadable, no Li, elements unknown to the MLIP,
overlapping atoms, too large) go to the rejected table with the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen import schema
from ionscreen.embed import embeddings_by_material
from ionscreen.model import Batch, Predictor, load_predictor

log = logging.getLogger(__name__)


def predict_table(
    predictor: Predictor,
    structures: pd.DataFrame,
    embeddings: pd.DataFrame,
    temperatures_K: Sequence[float],
    rank_temperature_K: float | None = None,
) -> pd.DataFrame:
    """Predictions rows (see the ``predictions`` table) for prepared, embedded candidates."""
    from pymatgen.core import Composition

    meta = predictor.meta
    emb_meta = meta.get("embedding", {})
    if len(embeddings) and emb_meta:
        got = (str(embeddings["model"].iloc[0]), int(embeddings["layer"].iloc[0]), str(embeddings["variant"].iloc[0]))
        want = (emb_meta.get("model"), emb_meta.get("layer"), emb_meta.get("variant"))
        if got != want:
            raise ValueError(f"candidate embeddings {got} differ from the model's training embeddings {want}")
    embs = embeddings_by_material(embeddings)
    info = structures.set_index("material_id")
    tmin, tmax = meta["temperature_range_K"]
    train_el = set(meta["training_elements"])
    ids = [m for m in info.index if m in embs]
    temps = [float(t) for t in temperatures_K]
    rank_T = float(rank_temperature_K if rank_temperature_K is not None else min(temps))
    if rank_T not in temps:
        temps.append(rank_T)
    samples = [(m, t) for m in ids for t in temps]
    batch = Batch.build([embs[m] for m, _ in samples], [t for _, t in samples], meta["poly_expansion"])
    mean, std, hidden = predictor.predict(batch) if samples else (np.zeros(0), np.zeros(0), np.zeros((0, 1)))
    dist = predictor.nearest_training_distance(hidden)
    rows = []
    for k, (m, t) in enumerate(samples):
        formula = str(info.loc[m, "reduced_formula"])
        flags = []
        if str(info.loc[m, "ordering"]) not in ("none", "", "nan"):
            flags.append("disorder_resolved")
        if not tmin <= t <= tmax:
            flags.append("temperature_outside_training")
        if {el.symbol for el in Composition(formula).elements} - train_el:
            flags.append("elements_unseen_in_training")
        if math.isfinite(dist[k]) and dist[k] > meta["far_threshold"]:
            flags.append("far_from_training")
        rows.append({"material_id": m, "temperature_K": t, "target": meta["target"],
                     "prediction": float(mean[k]), "prediction_std": float(std[k]), "flags": flags,
                     "formula": formula, "nearest_training_distance": float(dist[k])})
    df = pd.DataFrame(rows, columns=schema.spec("predictions").column_names)
    df = add_arrhenius(df)
    if len(df):
        at = df[df["temperature_K"] == rank_T].sort_values("prediction", ascending=False)
        rank = {m: r + 1 for r, m in enumerate(at["material_id"])}
        df["rank"] = df["material_id"].map(rank).astype("int32")
        df = df.sort_values(["rank", "temperature_K"]).reset_index(drop=True)
    return df


def add_arrhenius(df: pd.DataFrame) -> pd.DataFrame:
    """Per candidate, fit prediction (log10 target) = a - Ea / (k_B T ln 10) over its temperatures.

    For a diffusivity or conductivity target Ea is the activation energy; for MSD over a fixed
    duration it is the apparent one. Needs >= 2 temperatures; 300 K is an extrapolation unless it
    lies within the predicted range.
    """
    from ionscreen.labels import K_B_EV, arrhenius_fit

    df = df.copy()
    df["Ea_eV"], df["prediction_300K"], df["extrapolated_300K"] = np.nan, np.nan, True
    for mid, grp in df.groupby("material_id"):
        T = grp["temperature_K"].to_numpy(float)
        if len(np.unique(T)) < 2:
            continue
        fit = arrhenius_fit(T, 10.0 ** grp["prediction"].to_numpy(float))  # predictions are log10 values
        sel = df["material_id"] == mid
        df.loc[sel, "Ea_eV"] = fit["Ea_eV"]
        df.loc[sel, "prediction_300K"] = fit["log10_D0_cm2_s"] - fit["Ea_eV"] / (K_B_EV * 300.0 * math.log(10))
        df.loc[sel, "extrapolated_300K"] = not (T.min() <= 300.0 <= T.max())
    return df


def screen_tables(
    model_dir: str | Path,
    structures_path: str | Path,
    embeddings_path: str | Path,
    temperatures_K: Sequence[float],
    out: str | Path,
    rank_temperature_K: float | None = None,
) -> pd.DataFrame:
    """Workflow entry: predictions for prepared + embedded candidates, written to ``out``."""
    predictor = load_predictor(model_dir)
    df = predict_table(predictor, schema.read_table(structures_path, "structures"),
                       schema.read_table(embeddings_path, "embeddings"), temperatures_K, rank_temperature_K)
    schema.write_table(df, out, "predictions", model_dir=str(model_dir), target=predictor.meta["target"],
                       rank_temperature_K=rank_temperature_K)
    return df


def predict_paths(
    model_dir: str | Path,
    paths: Sequence[str | Path],
    temperatures_K: Sequence[float],
    out: str | Path,
    *,
    rejected_out: str | Path | None = None,
    rank_temperature_K: float | None = None,
    relax_steps: int = 0,
    device: str = "auto",
    threads: int = 1,
    progress: bool = True,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``ionscreen predict``: structure files in, ranked predictions out (one process)."""
    from ionscreen import mlip
    from ionscreen.embed import SevenNetEmbedder
    from ionscreen.structures import (
        PrepareSettings,
        list_structure_files,
        material_id,
        prepare_many,
    )

    predictor = load_predictor(model_dir)
    emb_meta = predictor.meta.get("embedding", {})
    mlip.set_threads(threads)
    files = list_structure_files(paths)
    settings = PrepareSettings(mlip=emb_meta.get("model", "7net-0"), device=device, min_width_A=0.0,
                               relax_steps=relax_steps)
    ok, bad = prepare_many([(material_id(f), str(f), f) for f in files], settings,
                           relax=relax_steps > 0, progress=progress)
    for b in bad:
        b["stage"] = "screen"
    structures = pd.DataFrame(ok, columns=schema.spec("structures").column_names)
    from ionscreen.structures import structure_from_row

    embedder = SevenNetEmbedder(emb_meta.get("model", "7net-0"), int(emb_meta.get("layer", 10)),
                                emb_meta.get("variant", "full"), device)
    rows = embedder([(r["material_id"], structure_from_row(r)) for r in ok], progress=progress)
    embeddings = pd.DataFrame(rows, columns=schema.spec("embeddings").column_names)
    df = predict_table(predictor, structures, embeddings, temperatures_K, rank_temperature_K)
    schema.write_table(df, out, "predictions", model_dir=str(model_dir), target=predictor.meta["target"])
    if rejected_out is not None:
        schema.write_table(bad, rejected_out, "rejected")
    return df, bad
