"""Which model ranks the candidates, and why (``screen.rank_by``).

- ``workflow``: the workflow's own model (the ``prediction`` column at the ranking temperature).
- ``room_temperature``: the shipped room-temperature model's sigma at 300 K (``sigma_rt_log10_S_cm``).
- ``auto`` (the default): the workflow's model where it has demonstrated skill on held-out data
  at the ranking temperature (``ionscreen.learn.skill.demonstrated``); otherwise the room-temperature
  model where it covers the elements of at least half of the candidates (``RT_COVERAGE``; the
  others carry ``outside_ranking_model_elements``); otherwise the workflow's model, with
  ``no_demonstrated_skill`` on every row.

Ranking by the workflow's model without demonstrated skill, whether chosen or fallen back to,
always puts ``no_demonstrated_skill`` on every row. Whatever ranks, ``prediction`` and
``prediction_std`` stay the workflow model's and ``rank`` follows the chosen model; ``rank_by``
says which one on every row, and the table's provenance gives the reason (``RankingInfo``).

Ties: where the ranked values of the first candidates lie within the ranking model's held-out MAE
of the top one, their order is not resolved; ``RankingInfo.unresolved_top`` counts them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen.flags import ELEMENTS_UNSEEN, NO_SKILL
from ionscreen.flags import OUTSIDE_RANKING_MODEL_ELEMENTS as OUTSIDE
from ionscreen.learn.skill import FOREST, MEAN, demonstrated, entry_at

RANK_BY = ("auto", "workflow", "room_temperature")
RT_COLUMN = "sigma_rt_log10_S_cm"
RT_COVERAGE = 0.5  # share of candidates whose elements the room-temperature model must know to rank them


@dataclass
class ModelSkill:
    """One row of the report's skill table: a model that ranks or could rank, on held-out data,
    next to the training mean and a forest on the same held-out data. MAE in decades."""

    model: str
    target: str
    held_out: (
        str  # which held-out data, e.g. "validation split (it chose the stopping epoch)" or "grouped 5-fold CV, ..."
    )
    n_groups: int | None
    mae: float | None
    spearman: float | None
    mean_mae: float | None
    forest_mae: float | None
    forest: str
    skill: bool
    why: str


@dataclass
class RankingInfo:
    """What ranked the candidates (goes into the ranking table's provenance and the report)."""

    rank_by: str  # the model that ranked: workflow or room_temperature
    requested: str  # screen.rank_by as configured
    reason: str
    ranking_model: str
    ranking_mae: float | None  # its held-out MAE (decades): the scale below which the order is not resolved
    spread: float | None  # max - min of the ranked values (decades)
    unresolved_top: int  # candidates whose ranked value lies within ranking_mae of the top one
    n_candidates: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def workflow_skill(meta: Any, temperature_K: float | None) -> ModelSkill:
    """The workflow model's skill row from its ``ModelMeta`` at ``temperature_K``."""
    sk = meta.skill or {}
    shown, why = demonstrated(sk, temperature_K)
    entry, where = entry_at(sk, temperature_K)
    models = entry.get("models", {})
    name = sk.get("model", meta.route)
    where = f" {where}" if where.startswith("at ") else ""
    return ModelSkill(
        f"workflow model ({name})",
        meta.target,
        (sk.get("held_out") or "none") + where,
        entry.get("n_groups"),
        models.get(name, {}).get("mae"),
        models.get(name, {}).get("spearman"),
        models.get(MEAN, {}).get("mae"),
        models.get(FOREST, {}).get("mae"),
        FOREST,
        shown,
        why,
    )


def room_temperature_skill(model: str) -> ModelSkill:
    """The shipped room-temperature model's skill row from its ``model.json`` (grouped CV). Its
    card keeps the MAE per fold, not per entry, so ``skill.demonstrated``'s paired test cannot be
    run here: skill is its CV MAE below the training mean's (0.715 against 1.802 for obelix-rt,
    far beyond the fold-to-fold spread of 0.10-0.17)."""
    from ionscreen.roomtemp.descriptors import FOREST as RT_FOREST
    from ionscreen.roomtemp.model import resolve

    directory = resolve(model)
    if directory is None:
        raise FileNotFoundError(f"{model} is not a room-temperature model")
    meta = json.loads((Path(directory) / "model.json").read_text())
    cv, name = meta.get("cv") or {}, str(meta.get("name", model))
    mae = cv.get("mae") or {}
    forest = RT_FOREST
    mine, base = (mae.get(name) or {}).get("mean"), (mae.get(MEAN) or {}).get("mean")
    seeds = cv.get("fold_seeds") or []
    held = (
        f"grouped {cv.get('n_folds', '?')}-fold CV, {len(seeds)} fold seeds, "
        f"{int(meta.get('n_train', 0))} measured entries"
    )
    shown = mine is not None and base is not None and mine < base
    why = (
        (
            f"its held-out MAE is {mine:.3f} against the training mean's {base:.3f} and the forest's "
            f"{(mae.get(forest) or {}).get('mean', math.nan):.3f} ({held})"
        )
        if mine is not None
        else "no CV figures"
    )
    return ModelSkill(
        name,
        str(meta.get("target", "log10_sigma_S_cm")),
        held,
        int(meta.get("n_train", 0)) or None,
        mine,
        ((cv.get("ranking") or {}).get(name) or {}).get("spearman"),
        base,
        (mae.get(forest) or {}).get("mean"),
        forest,
        bool(shown),
        why,
    )


def _coverage(df: pd.DataFrame) -> np.ndarray:
    """Per row: the room-temperature model gave a value and knows all the candidate's elements."""
    if RT_COLUMN not in df.columns:
        return np.zeros(len(df), bool)
    value = pd.to_numeric(df[RT_COLUMN], errors="coerce").to_numpy(float)
    flags = df["sigma_rt_flags"] if "sigma_rt_flags" in df.columns else pd.Series([[]] * len(df), index=df.index)
    unseen = np.array([isinstance(f, list | tuple | np.ndarray) and ELEMENTS_UNSEEN in list(f) for f in flags], bool)
    return np.isfinite(value) & ~unseen


def choose(requested: str, wf: ModelSkill, rt: ModelSkill | None, coverage: float) -> tuple[str, str]:
    """(rank_by, reason) for ``requested`` (one of ``RANK_BY``)."""
    if requested not in RANK_BY:
        raise ValueError(f"screen.rank_by must be one of {RANK_BY}, got {requested!r}")
    if requested == "workflow":
        return "workflow", f"screen.rank_by is 'workflow'; {wf.why}"
    if requested == "room_temperature":
        if rt is None:
            raise ValueError(
                "screen.rank_by is 'room_temperature' but no room-temperature model is configured "
                "(screen.room_temperature_model)"
            )
        return "room_temperature", f"screen.rank_by is 'room_temperature'; {rt.why}"
    if wf.skill:
        return "workflow", f"the workflow's model has demonstrated skill: {wf.why}"
    if rt is not None and coverage >= RT_COVERAGE:
        return "room_temperature", (
            f"the workflow's model has no demonstrated skill ({wf.why}), while {rt.model} "
            f"knows the elements of {coverage:.0%} of the candidates and {rt.why}"
        )
    rt_note = (
        "no room-temperature model is configured"
        if rt is None
        else f"{rt.model} knows the elements of only {coverage:.0%} of the candidates"
    )
    return "workflow", f"the workflow's model has no demonstrated skill ({wf.why}), and {rt_note}"


def rank(
    df: pd.DataFrame,
    rank_temperature_K: float,
    *,
    requested: str = "auto",
    workflow_meta: Any = None,
    room_temperature_model: str | None = None,
) -> tuple[pd.DataFrame, RankingInfo, list[ModelSkill]]:
    """``df`` (predictions of every temperature) ranked as ``requested`` says, with ``rank_by``
    on every row and the flags above; the ranking info and the skill rows of every model that
    ranks or could rank."""
    wf = (
        workflow_skill(workflow_meta, rank_temperature_K)
        if workflow_meta is not None
        else ModelSkill("workflow model", "", "none", None, None, None, None, None, FOREST, False, "no model metadata")
    )
    rt = room_temperature_skill(room_temperature_model) if room_temperature_model else None
    df = df.copy()
    at_T = df["temperature_K"] == float(rank_temperature_K)
    covered = _coverage(df)
    n = int(df.loc[at_T, "material_id"].nunique()) if len(df) else 0
    coverage = float(covered[at_T.to_numpy()].mean()) if n else 0.0
    chosen, reason = choose(requested, wf, rt, coverage)
    if chosen == "room_temperature":
        value = pd.to_numeric(df[RT_COLUMN], errors="coerce").where(covered, -np.inf)
        outside = ~covered
        df["flags"] = [list(f) + [OUTSIDE] if o else list(f) for f, o in zip(df["flags"], outside, strict=True)]
        skill_row = rt
    else:
        value = df["prediction"].astype(float)
        if not wf.skill:
            df["flags"] = [list(f) + [NO_SKILL] if NO_SKILL not in list(f) else list(f) for f in df["flags"]]
        skill_row = wf
    order = (
        df.loc[at_T].assign(_v=value[at_T]).sort_values(["_v", "material_id"], ascending=[False, True], kind="stable")
    )
    ranks = {m: r + 1 for r, m in enumerate(order["material_id"])}
    df["rank"] = df["material_id"].map(ranks).astype("int32")
    df["rank_by"] = chosen
    df = df.sort_values(["rank", "temperature_K"], kind="stable").reset_index(drop=True)
    finite = order["_v"][np.isfinite(order["_v"])].to_numpy(float)
    mae = skill_row.mae if skill_row is not None else None
    spread = float(finite.max() - finite.min()) if len(finite) else None
    unresolved = int((finite >= finite.max() - mae).sum()) if len(finite) and mae is not None else 0
    info = RankingInfo(chosen, requested, reason, skill_row.model if skill_row else "", mae, spread, unresolved, n)
    skills = [wf] + ([rt] if rt is not None else [])
    return df, info, skills
