"""Batch prediction for new structures (stage ``screen``): no MD, no trajectories.

Candidates go through the same reading, validation and disorder policy as training structures
(no supercell: embeddings are per-atom and periodic, so a supercell gives the same rows), then
SevenNet embeddings, then the trained ensemble. Each (candidate, temperature) row carries flags:

- ``disorder_resolved``: partial occupancies were ordered at random (seeded): one of many orderings.
- ``temperature_outside_training``: T lies outside the training temperatures (extrapolation).
- ``elements_unseen_in_training``: the candidate has elements no training material had.
- ``far_from_training``: hidden-space distance to the nearest training sample above the
  threshold set on validation data at training time.
- ``composition_approximate``: the disorder could only be ordered with a composition error above
  5 % within the atom budget (``ordering_error`` of the candidates table); the best ordering found
  was embedded.
- ``relaxation_not_converged``: the MLIP relaxation stopped with forces above its threshold.
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

APPROXIMATE_ORDERING = 0.05  # composition error above which an ordering is flagged (the ordering tolerance)


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
        if float(info.loc[m].get("ordering_error", 0.0) or 0.0) > APPROXIMATE_ORDERING:
            flags.append("composition_approximate")
        converged = info.loc[m].get("relax_converged")
        if converged is not None and not pd.isna(converged) and not bool(converged):
            flags.append("relaxation_not_converged")
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
    return rank_predictions(add_arrhenius(df), rank_T)


def rank_predictions(df: pd.DataFrame, rank_temperature_K: float) -> pd.DataFrame:
    """Rank candidates by their prediction at ``rank_temperature_K`` (1 = fastest transport)."""
    if not len(df):
        return df
    at = df[df["temperature_K"] == float(rank_temperature_K)].sort_values(["prediction", "material_id"],
                                                                         ascending=[False, True], kind="stable")
    rank = {m: r + 1 for r, m in enumerate(at["material_id"])}
    df = df.copy()
    df["rank"] = df["material_id"].map(rank).astype("int32")
    return df.sort_values(["rank", "temperature_K"], kind="stable").reset_index(drop=True)


def merge_predictions(paths: Sequence[str | Path], out: str | Path, rank_temperature_K: float) -> pd.DataFrame:
    """Workflow entry: the predictions of every candidate shard, ranked together, into ``out``."""
    frames = [schema.read_table(p, "predictions") for p in paths]
    provs = [schema.read_provenance(p) for p in paths]
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=schema.spec("predictions").column_names)
    df = rank_predictions(df, rank_temperature_K)
    meta = {k: provs[0].get(k) for k in ("model_dir", "target")} if provs else {}
    schema.write_table(df, out, "predictions", rank_temperature_K=rank_temperature_K, shards=len(paths), **meta)
    log.info("ranked %d candidates from %d shards", df["material_id"].nunique() if len(df) else 0, len(paths))
    return df


def arrhenius_kind(target: str) -> str:
    """What an Arrhenius fit of predictions of ``target`` (a labels column) means.

    - ``activation (D)``: ln D against 1/T; Ea is the activation energy of diffusion.
    - ``activation (sigma T)``: Nernst-Einstein makes sigma ~ D / T, so ln(sigma T) against 1/T
      gives the same Ea (fitting ln sigma alone comes out k_B T too low).
    - ``apparent (MSD)``: an MSD over a fixed duration (or MSD / duration) includes the
      vibrational floor that does not activate, so its "Ea" is only an apparent one.
    """
    t = target.removeprefix("log10_")
    if t.startswith("D_"):
        return "activation (D)"
    if t.startswith("sigma"):
        return "activation (sigma T)"
    return "apparent (MSD)"


def add_arrhenius(df: pd.DataFrame) -> pd.DataFrame:
    """Per candidate, an Arrhenius fit of its predictions (log10 target) over its temperatures,
    the kind of Ea that gives (``arrhenius_kind``) and the fit's value at 300 K (log10 target).

    Needs >= 2 temperatures; 300 K is an extrapolation unless it lies within the predicted range.
    """
    from ionscreen.labels import K_B_EV, arrhenius_fit

    df = df.copy()
    df["Ea_eV"], df["prediction_300K"], df["extrapolated_300K"] = np.nan, np.nan, True
    df["Ea_kind"] = [arrhenius_kind(str(t)) for t in df["target"]] if len(df) else []
    for mid, grp in df.groupby("material_id"):
        T = grp["temperature_K"].to_numpy(float)
        if len(np.unique(T)) < 2:
            continue
        value = 10.0 ** grp["prediction"].to_numpy(float)  # predictions are log10 values
        sigma_like = arrhenius_kind(str(grp["target"].iloc[0])) == "activation (sigma T)"
        fit = arrhenius_fit(T, value * T if sigma_like else value)
        ln10 = math.log(10)
        at_300 = fit["log10_D0_cm2_s"] - fit["Ea_eV"] / (K_B_EV * 300.0 * ln10)  # log10 of the fitted quantity
        sel = df["material_id"] == mid
        df.loc[sel, "Ea_eV"] = fit["Ea_eV"]
        df.loc[sel, "prediction_300K"] = at_300 - math.log10(300.0) if sigma_like else at_300
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
    max_atoms: int | None = None,
    device: str = "auto",
    threads: int = 1,
    progress: bool = True,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``ionscreen predict``: structure files in, ranked predictions out (one process)."""
    from ionscreen import mlip
    from ionscreen.embed import SevenNetEmbedder
    from ionscreen.structures import (
        candidate_settings,
        list_structure_files,
        material_id,
        prepare_many,
    )

    predictor = load_predictor(model_dir)
    emb_meta = predictor.meta.get("embedding", {})
    mlip.set_threads(threads)
    files = list_structure_files(paths)
    settings = candidate_settings(mlip=emb_meta.get("model", "7net-0"), device=device, relax_steps=relax_steps,
                                  **({} if max_atoms is None else {"max_atoms": max_atoms}))
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
