"""Batch prediction for new structures (stage ``screen``): no MD, no trajectories.

Candidates go through the same reading, validation and disorder policy as training structures
(no supercell: embeddings are per-atom and periodic, so a supercell gives the same rows), then
SevenNet embeddings, then the trained ensemble. Each (candidate, temperature) row carries flags:
of the structure (``disorder_resolved``, ``composition_approximate``, ``relaxation_not_converged``),
of the model's reach (``temperature_outside_training``, ``elements_unseen_in_training``,
``far_from_training``, ``orientation_dependent``) and of its temperature dependence
(``no_temperature_dependence``, ``add_arrhenius``); ``ionscreen.flags`` names each and says what
it means.
Inputs that cannot be predicted at all (unreadable, no Li, elements unknown to the MLIP,
overlapping atoms, too large) go to the rejected table with the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ionscreen import flags as flags_
from ionscreen import schema
from ionscreen.embed.structure import embeddings_by_material

if TYPE_CHECKING:
    from ionscreen.learn.model import Predictor

log = logging.getLogger(__name__)

APPROXIMATE_ORDERING = 0.05  # composition error above which an ordering is flagged (the ordering tolerance)


class NothingPredicted(ValueError):
    """Every input was rejected: no prediction, no table written. ``rejected`` holds the rows."""

    def __init__(self, rejected: list[dict[str, Any]]) -> None:
        self.rejected = rejected
        first = f" (first: {rejected[0]['source']}: {rejected[0]['reason']})" if rejected else ""
        super().__init__(f"nothing predicted: all {len(rejected)} inputs were rejected{first}")


def predict_table(
    predictor: Predictor,
    structures: pd.DataFrame,
    embeddings: pd.DataFrame,
    temperatures_K: Sequence[float],
    rank_temperature_K: float | None = None,
) -> pd.DataFrame:
    """Predictions rows (see the ``predictions`` table) for prepared, embedded candidates."""
    check_embeddings(predictor, embeddings)
    embs = embeddings_by_material(embeddings)
    info = structures[structures["material_id"].isin(embs)]
    temps, rank_T = temperatures_with_rank(temperatures_K, rank_temperature_K)
    df = prediction_rows(predictor, info, [embs[m] for m in info["material_id"]], temps)
    return rank_by_model(add_arrhenius(df, predictor.meta.temperature_range_K), rank_T, predictor)


def check_embeddings(predictor: Predictor, embeddings: pd.DataFrame) -> None:
    """Refuse candidate embeddings made with another model, layer, variant or frame than the
    training ones."""
    from ionscreen.embed.structure import embedding_meta_of, embedding_settings

    emb_meta = predictor.meta.embedding
    if len(embeddings) and emb_meta:
        got, want = embedding_settings(embedding_meta_of(embeddings)), embedding_settings(emb_meta)
        if got != want:
            raise ValueError(
                f"candidate embeddings (model, layer, variant, frame) {got} differ from the model's "
                f"training embeddings {want}: embed the candidates with the model's settings"
            )


def temperatures_with_rank(
    temperatures_K: Sequence[float], rank_temperature_K: float | None
) -> tuple[list[float], float]:
    """The temperatures to predict (K), the ranking one included, and the ranking temperature."""
    temps = [float(t) for t in temperatures_K]
    rank_T = float(rank_temperature_K if rank_temperature_K is not None else min(temps))
    if rank_T not in temps:
        temps.append(rank_T)
    return temps, rank_T


def prediction_rows(
    predictor: Predictor, info: pd.DataFrame, embs: Sequence[np.ndarray], temperatures_K: Sequence[float]
) -> pd.DataFrame:
    """Unranked ``predictions`` rows with flags: ``info`` holds one structures row per material
    (material_id, reduced_formula, ordering, ordering_error, relax_converged), ``embs`` its Li
    embeddings in the same order. The structure part of the encoder runs once per material
    (``Predictor.predict_materials``)."""
    from pymatgen.core import Composition

    from ionscreen.embed.graph import orientation_invariant
    from ionscreen.embed.structure import embedding_settings

    meta = predictor.meta
    temps = [float(t) for t in temperatures_K]
    oriented = bool(meta.embedding) and not orientation_invariant(*embedding_settings(meta.embedding)[2:])
    mean, std, hidden = predictor.predict_materials(embs, temps)
    dist = predictor.nearest_training_distance(hidden).reshape(len(embs), len(temps))
    tmin, tmax = meta.temperature_range_K
    train_el = set(meta.training_elements)
    ids = info["material_id"].astype(str).to_numpy()
    formulas = info["reduced_formula"].astype(str).to_numpy()
    ordering = info["ordering"].astype(str).to_numpy() if "ordering" in info else np.full(len(ids), "none")
    err = (
        pd.to_numeric(info["ordering_error"], errors="coerce").fillna(0.0).to_numpy()
        if "ordering_error" in info
        else np.zeros(len(ids))
    )
    conv = info["relax_converged"].to_numpy() if "relax_converged" in info else np.full(len(ids), None)
    rows = []
    for k, m in enumerate(ids):
        per_material = [flags_.ORIENTATION_DEPENDENT] if oriented else []
        if ordering[k] not in ("none", "", "nan"):
            per_material.append(flags_.DISORDER_RESOLVED)
        if err[k] > APPROXIMATE_ORDERING:
            per_material.append(flags_.COMPOSITION_APPROXIMATE)
        if conv[k] is not None and not pd.isna(conv[k]) and not bool(conv[k]):
            per_material.append(flags_.RELAXATION_NOT_CONVERGED)
        elements = {el.symbol for el in Composition(formulas[k]).elements}
        for j, t in enumerate(temps):
            flags = list(per_material)
            if not tmin <= t <= tmax:
                flags.append(flags_.TEMPERATURE_OUTSIDE_TRAINING)
            flags += flags_.applicability_flags(elements, train_el, float(dist[k, j]), meta.far_threshold)
            rows.append(
                {
                    "material_id": m,
                    "temperature_K": t,
                    "target": meta.target,
                    "prediction": float(mean[k, j]),
                    "prediction_std": float(std[k, j]),
                    "flags": flags,
                    "formula": formulas[k],
                    "nearest_training_distance": float(dist[k, j]),
                }
            )
    return pd.DataFrame(rows, columns=schema.spec("predictions").column_names)


def rank_by_model(df: pd.DataFrame, rank_temperature_K: float, predictor: Predictor) -> pd.DataFrame:
    """Rank by the workflow model's own predictions (``ionscreen.screen.ranking``, rank_by 'workflow'):
    every row carries ``no_demonstrated_skill`` when the model has not shown skill on held-out data."""
    from ionscreen.screen.ranking import rank

    if not len(df):
        return df
    return rank(df, rank_temperature_K, requested="workflow", workflow_meta=predictor.meta)[0]


def rank_predictions(df: pd.DataFrame, rank_temperature_K: float) -> pd.DataFrame:
    """Rank candidates by their prediction at ``rank_temperature_K`` (1 = fastest transport)."""
    if not len(df):
        return df
    at = df[df["temperature_K"] == float(rank_temperature_K)].sort_values(
        ["prediction", "material_id"], ascending=[False, True], kind="stable"
    )
    rank = {m: r + 1 for r, m in enumerate(at["material_id"])}
    df = df.copy()
    df["rank"] = df["material_id"].map(rank).astype("int32")
    return df.sort_values(["rank", "temperature_K"], kind="stable").reset_index(drop=True)


def merge_predictions(
    paths: Sequence[str | Path],
    out: str | Path,
    rank_temperature_K: float,
    *,
    rank_by: str = "auto",
    model_dir: str | Path | None = None,
    room_temperature_model: str | None = None,
) -> pd.DataFrame:
    """Workflow entry: the predictions of every candidate shard, ranked together as ``rank_by``
    says (``ionscreen.screen.ranking``: by the workflow model ``model_dir`` where it has shown skill, else
    by ``room_temperature_model``), into ``out``; the provenance says what ranked and why."""
    from ionscreen.learn.meta import ModelMeta
    from ionscreen.screen.ranking import rank

    frames = [schema.read_table(p, "predictions") for p in paths]
    provs = [schema.read_provenance(p) for p in paths]
    frames = [f for f in frames if len(f)]
    df = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=schema.spec("predictions").column_names)
    )
    meta = {k: provs[0].get(k) for k in ("model_dir", "target", "room_temperature_model")} if provs else {}
    model_dir = model_dir or meta.get("model_dir")
    rt = room_temperature_model if room_temperature_model is not None else meta.get("room_temperature_model")
    df, info, skills = rank(
        df,
        rank_temperature_K,
        requested=rank_by,
        room_temperature_model=rt or None,
        workflow_meta=ModelMeta.from_json(model_dir) if model_dir else None,
    )
    meta.update(model_dir=str(model_dir) if model_dir else None, room_temperature_model=rt)
    schema.write_table(
        df,
        out,
        "predictions",
        rank_temperature_K=rank_temperature_K,
        shards=len(paths),
        ranking=info.to_dict(),
        skill=[asdict(s) for s in skills],
        **meta,
    )
    log.info("ranked %d candidates from %d shards by %s: %s", info.n_candidates, len(paths), info.rank_by, info.reason)
    return df


def arrhenius_kind(target: str) -> str:
    """What an Arrhenius fit of predictions of ``target`` (a labels column) means.

    - ``activation (D)``: ln D against 1/T; Ea is the activation energy of diffusion.
    - ``activation (sigma T)``: Nernst-Einstein makes sigma ~ D / T, so ln(sigma T) against 1/T
      gives the same Ea (fitting ln sigma alone comes out k_B T too low).
    - ``apparent (MSD)``: an MSD over a fixed duration (or MSD / duration) includes the
      vibrational floor that does not activate, so its "Ea" is only an apparent one.
    """
    return ARRHENIUS_KINDS.get(target, "apparent (MSD)")


# The targets whose Arrhenius fit is an activation energy, by name (the train.target choices and
# their log10 columns, obelix-rt's included); every other target (the MSDs) gives an apparent one.
ARRHENIUS_KINDS = {
    "D_cm2_s": "activation (D)",
    "log10_D_cm2_s": "activation (D)",
    "sigma_S_cm": "activation (sigma T)",
    "log10_sigma_S_cm": "activation (sigma T)",
}


FLAT_IN_T = 1e-6  # log10 units: predictions that change less than this over the temperatures carry no Ea


def add_arrhenius(df: pd.DataFrame, training_range_K: Sequence[float] | None = None) -> pd.DataFrame:
    """Per candidate, an Arrhenius fit of its predictions (log10 target) over its temperatures
    (``transport.arrhenius_fit``; y = sigma T for a conductivity target), the kind of Ea that gives
    (``arrhenius_kind``) and the fit's value at 300 K (log10 target).

    Needs >= 2 temperatures. No physics the model cannot support: a model trained at one
    temperature (``training_range_K`` [lowest, highest] in K, equal ends), or predictions flat in
    T, give no Ea and the flag ``no_temperature_dependence``. 300 K is an extrapolation
    (``extrapolated_300K``) unless it lies within both the predicted and the training range.
    """
    from ionscreen.labels.transport import K_B_EV, arrhenius_fit

    df = df.copy()
    df["Ea_eV"], df["prediction_300K"], df["extrapolated_300K"] = np.nan, np.nan, True
    df["Ea_kind"] = [arrhenius_kind(str(t)) for t in df["target"]] if len(df) else []
    lo, hi = (
        (float(training_range_K[0]), float(training_range_K[1])) if training_range_K is not None else (-np.inf, np.inf)
    )
    one_temperature = lo == hi
    fits: dict[str, tuple[float, float, bool]] = {}
    flat: set[str] = set()
    for mid, grp in df.groupby("material_id", sort=False):
        T = grp["temperature_K"].to_numpy(float)
        if len(np.unique(T)) < 2:
            continue
        if one_temperature or np.ptp(grp["prediction"].to_numpy(float)) < FLAT_IN_T:
            flat.add(mid)
            at = grp.loc[grp["temperature_K"] == 300.0, "prediction"]
            fits[mid] = (np.nan, float(at.iloc[0]) if len(at) else np.nan, not lo <= 300.0 <= hi)
            continue
        value = 10.0 ** grp["prediction"].to_numpy(float)  # predictions are log10 values
        sigma_like = grp["Ea_kind"].iloc[0] == "activation (sigma T)"
        fit = arrhenius_fit(T, value * T if sigma_like else value)
        at_300 = fit["log10_D0_cm2_s"] - fit["Ea_eV"] / (K_B_EV * 300.0 * math.log(10))  # log10 of the fitted quantity
        fits[mid] = (
            fit["Ea_eV"],
            at_300 - math.log10(300.0) if sigma_like else at_300,
            not (T.min() <= 300.0 <= T.max() and lo <= 300.0 <= hi),
        )
    if fits:  # one assignment per column (a per-material .loc is quadratic in the candidates)
        ids = df["material_id"]
        df["Ea_eV"] = ids.map({m: f[0] for m, f in fits.items()})
        df["prediction_300K"] = ids.map({m: f[1] for m, f in fits.items()})
        df["extrapolated_300K"] = ids.map({m: f[2] for m, f in fits.items()}).fillna(True).astype(bool)
    if flat:
        df["flags"] = [
            list(f) + [flags_.NO_TEMPERATURE_DEPENDENCE] if m in flat else f
            for m, f in zip(df["material_id"], df["flags"], strict=True)
        ]
        df.loc[df["material_id"].isin(flat), "Ea_kind"] = None
    return df


def screen_tables(
    model_dir: str | Path,
    structures_path: str | Path,
    embeddings_path: str | Path,
    temperatures_K: Sequence[float],
    out: str | Path,
    rank_temperature_K: float | None = None,
    room_temperature_model: str | None = None,
) -> pd.DataFrame:
    """Workflow entry: predictions for prepared + embedded candidates, written to ``out``; with
    ``room_temperature_model`` (e.g. ``obelix-rt``) each row also carries that model's
    room-temperature sigma (``RoomTempModel.structure_table_columns``)."""
    from ionscreen.learn.model import load_predictor

    predictor = load_predictor(model_dir)
    structures = schema.read_table(structures_path, "structures")
    df = predict_table(
        predictor, structures, schema.read_table(embeddings_path, "embeddings"), temperatures_K, rank_temperature_K
    )
    if room_temperature_model:
        from ionscreen.roomtemp.model import RoomTempModel

        df = with_room_temperature(
            df,
            RoomTempModel.named(room_temperature_model).structure_table_columns(
                structures[structures["material_id"].isin(set(df["material_id"]))]
            ),
        )
    schema.write_table(
        df,
        out,
        "predictions",
        model_dir=str(model_dir),
        target=predictor.meta.target,
        rank_temperature_K=rank_temperature_K,
        room_temperature_model=room_temperature_model,
        temperatures_K=[float(t) for t in temperatures_K],
        inputs=[str(structures_path), str(embeddings_path)],
        embedding=predictor.meta.embedding,
    )
    return df


def with_room_temperature(df: pd.DataFrame, rt: pd.DataFrame) -> pd.DataFrame:
    """``df`` (predictions) with the room-temperature model's columns ``rt`` (material_id +
    ``RT_COLUMNS``, e.g. ``RoomTempModel.structure_table_columns``) in place of its own."""
    from ionscreen.roomtemp.model import RT_COLUMNS

    return df.drop(columns=list(RT_COLUMNS), errors="ignore").merge(rt, on="material_id", how="left")
