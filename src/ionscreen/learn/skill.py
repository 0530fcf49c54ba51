"""Demonstrated skill: how a trained model does on data it never trained on, next to the two
baselines a user would otherwise trust (the training mean and a random forest on composition +
lattice, fitted on the same training samples), and the rule that says whether a model has shown
skill at all (``demonstrated``), which ``ionscreen.screen.ranking`` uses to choose the ranking model.

All errors are in decades (MAE of the log10 target). numpy and scikit-learn only: no torch.

The rule. A model has demonstrated skill when, on at least ``MIN_HELD_OUT_GROUPS`` held-out
compositions, its MAE is below the training mean's by more than ``SKILL_Z`` standard errors of the
per-composition paired difference (mean over a composition's samples of |error of the mean| -
|error of the model|). Pairing by composition removes the spread of the held-out set's difficulty
(both predictors see the same entries), and grouping by composition counts the temperatures of one
material once, since their errors are not independent. Two standard errors is a one-sided test at
about 2.5 %: a win that another draw of held-out compositions would likely erase does not count.
Below five held-out compositions the standard error itself is too rough to trust (with two
compositions it rests on one degree of freedom), so no skill is claimed there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ionscreen.learn.dataset import Dataset

MIN_HELD_OUT_GROUPS = 5
SKILL_Z = 2.0
MEAN = "training mean"
FOREST = "random forest (composition + lattice)"
FOREST_TREES = 300


def composition_features(formulas: Sequence[str]) -> np.ndarray:
    """Simple composition descriptors for the random-forest baseline: element fractions (Z 1-94)
    plus mean and spread of electronegativity, atomic mass, row and group, and the Li fraction."""
    from pymatgen.core import Composition, Element

    out = []
    for f in formulas:
        comp = Composition(f).fractional_composition
        frac = np.zeros(94)
        props = []
        for el, x in comp.items():
            frac[el.Z - 1] = x
            props.append((x, float(el.X) if el.X == el.X else 0.0, float(el.atomic_mass), el.row, el.group))
        w = np.array([p[0] for p in props])
        vals = np.array([p[1:] for p in props], dtype=float)
        mean = w @ vals
        spread = np.sqrt(w @ (vals - mean) ** 2)
        out.append(np.concatenate([frac, mean, spread, [comp[Element("Li")], len(comp)]]))
    return np.asarray(out)


def lattice_features(structure_json: str) -> np.ndarray:
    """a, b, c (A), alpha, beta, gamma (degrees) and volume per atom (A^3) of a structure stored as
    pymatgen JSON (``structures.structure_json``); read from the lattice alone (no Structure built)."""
    d = json.loads(structure_json)
    m = np.asarray(d["lattice"]["matrix"], dtype=float)
    lengths = np.linalg.norm(m, axis=1)

    def angle(i: int, j: int) -> float:
        return math.degrees(math.acos(float(np.clip(m[i] @ m[j] / (lengths[i] * lengths[j]), -1.0, 1.0))))

    volume = abs(float(np.linalg.det(m)))
    return np.array([*lengths, angle(1, 2), angle(0, 2), angle(0, 1), volume / max(1, len(d["sites"]))])


def baseline_features(formulas: Sequence[str], lattice: np.ndarray, temperatures_K: np.ndarray) -> np.ndarray:
    """The forest's inputs per sample: composition features, lattice features and 1000 / T. The
    composition features are computed once per composition (a material has a sample per temperature)."""
    t = np.asarray(temperatures_K, dtype=float)
    unique, index = np.unique(np.asarray(formulas, dtype=object).astype(str), return_inverse=True)
    return np.hstack(
        [composition_features(list(unique))[index], np.asarray(lattice, dtype=float), (1000.0 / t)[:, None]]
    )


def fit_forest(X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """The baseline: a scikit-learn random forest on ``baseline_features``, fitted to the log10 target."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=FOREST_TREES, random_state=seed, n_jobs=-1).fit(X, y)


def _spearman(y: np.ndarray, p: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(y) < 3 or np.ptp(y) == 0 or np.ptp(p) == 0:
        return math.nan
    return float(spearmanr(y, p).statistic)


def compare(y: np.ndarray, predictions: Mapping[str, np.ndarray], groups: Sequence[str], model: str) -> dict[str, Any]:
    """Held-out figures of several predictors on the same samples: per predictor its MAE
    (decades) and Spearman rho, and for ``model`` the paired per-composition gain over the
    training mean with its standard error and whether that is demonstrated skill (module docstring)."""
    y = np.asarray(y, dtype=float)
    groups = np.asarray(groups, dtype=object)
    out: dict[str, Any] = {"n_samples": len(y), "n_groups": len(set(groups)), "models": {}}
    for name, p in predictions.items():
        p = np.asarray(p, dtype=float)
        out["models"][name] = {
            "mae": float(np.mean(np.abs(p - y))) if len(y) else math.nan,
            "spearman": _spearman(y, p),
        }
    gain = np.abs(np.asarray(predictions[MEAN]) - y) - np.abs(np.asarray(predictions[model]) - y)
    per_group = np.array([gain[groups == g].mean() for g in dict.fromkeys(groups)]) if len(y) else np.zeros(0)
    n = len(per_group)
    mean_gain = float(per_group.mean()) if n else math.nan
    se = float(per_group.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    out["gain_over_mean"], out["gain_se"] = mean_gain, se
    out["demonstrated"] = bool(n >= MIN_HELD_OUT_GROUPS and math.isfinite(se) and mean_gain > SKILL_Z * se)
    return out


def held_out_skill(
    y: np.ndarray,
    prediction: np.ndarray,
    groups: Sequence[str],
    temperatures_K: np.ndarray,
    split: np.ndarray,
    usable: np.ndarray,
    features: np.ndarray,
    model: str,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``skill`` entry of a model's ``model.json``: the model, the training mean and a forest
    (fitted on the ``train`` samples) compared on the held-out samples (``compare``), over all
    temperatures and per temperature. The held-out part is the ``test`` split where it has at least
    ``MIN_HELD_OUT_GROUPS`` compositions, else the ``validation`` split (which chose the stopping
    epoch: slightly in the model's favour, and said so in ``held_out``). ``usable`` marks samples
    with a value (not an upper bound)."""
    split = np.asarray(split, dtype=object)
    groups = np.asarray(groups, dtype=object)
    temps = np.asarray(temperatures_K, dtype=float)
    y = np.asarray(y, dtype=float)
    n_groups = {part: len(set(groups[(split == part) & usable])) for part in ("test", "validation")}
    part = (
        "test"
        if n_groups["test"] >= MIN_HELD_OUT_GROUPS or n_groups["test"] >= n_groups["validation"]
        else "validation"
    )
    held = (split == part) & usable
    fit = (split == "train") & usable
    out: dict[str, Any] = {
        "split": part,
        "held_out": "test split" if part == "test" else "validation split (it chose the stopping epoch)",
        "model": model,
        "baselines": [MEAN, FOREST],
        "rule": rule_text(),
    }
    if not held.any() or not fit.any():
        out.update({"all": None, "by_temperature": {}})
        return out
    preds = {model: np.asarray(prediction, dtype=float)[held], MEAN: np.full(int(held.sum()), y[fit].mean())}
    preds[FOREST] = fit_forest(features[fit], y[fit], seed).predict(features[held])
    out["all"] = compare(y[held], preds, groups[held], model)
    out["by_temperature"] = {}
    for t in sorted(set(temps[held])):
        sel = temps[held] == t
        out["by_temperature"][f"{t:g}"] = compare(
            y[held][sel], {k: v[sel] for k, v in preds.items()}, groups[held][sel], model
        )
    return _json_safe(out)


def _json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float as None (model.json stays strict JSON)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def rule_text() -> str:
    """The skill rule in one sentence (model.json, the report)."""
    return (
        f"skill = held-out MAE below the training mean's by more than {SKILL_Z:g} standard errors of the "
        f"per-composition paired difference, on at least {MIN_HELD_OUT_GROUPS} held-out compositions"
    )


def entry_at(skill: Mapping[str, Any], temperature_K: float | None) -> tuple[dict[str, Any], str]:
    """(the ``compare`` entry, where) of a ``skill`` dict at ``temperature_K``: its own row where the
    held-out data have that temperature, else the one over all temperatures ({} when none)."""
    by_T = skill.get("by_temperature") or {}
    if temperature_K is not None and f"{float(temperature_K):g}" in by_T:
        return by_T[f"{float(temperature_K):g}"], f"at {float(temperature_K):g} K"
    return skill.get("all") or {}, "over all temperatures"


def demonstrated(skill: Mapping[str, Any] | None, temperature_K: float | None = None) -> tuple[bool, str]:
    """(shown, why) for a model's ``skill`` entry at ``temperature_K`` (``entry_at``)."""
    if not skill or not skill.get("all"):
        return (
            False,
            "the model records no held-out comparison (trained before skill was measured, or no held-out data)",
        )
    entry, where = entry_at(skill, temperature_K)
    model = entry["models"][skill["model"]]["mae"]
    mean = entry["models"][MEAN]["mae"]
    figures = (
        f"held-out MAE {model:.3f} vs the training mean's {mean:.3f} {where}, on {entry['n_groups']} "
        f"compositions of its {skill.get('split', 'held-out')} split"
    )
    if entry["n_groups"] < MIN_HELD_OUT_GROUPS:
        return False, f"{figures}, fewer than the {MIN_HELD_OUT_GROUPS} that can show skill"
    if entry["demonstrated"]:
        return True, f"{figures}, better by {entry['gain_over_mean']:.3f} +- {entry['gain_se']:.3f}"
    se = entry.get("gain_se")
    return False, (
        f"{figures}; its gain {entry['gain_over_mean']:.3f} is not above {SKILL_Z:g} standard errors "
        f"({'undefined' if se is None else f'{se:.3f}'})"
    )


def model_skill(data: Dataset, split: np.ndarray, prediction: np.ndarray, model_name: str, seed: int) -> dict[str, Any]:
    """``ModelMeta.skill``: the ensemble against the training mean and a forest on composition +
    lattice on the held-out samples (``skill.held_out_skill``); empty without lattice data."""
    if data.lattice is None:
        return {}
    features = baseline_features(data.groups, data.lattice, data.temperatures)
    return held_out_skill(
        data.y, prediction, data.groups, data.temperatures, split, data.exact, features, model_name, seed=seed
    )
