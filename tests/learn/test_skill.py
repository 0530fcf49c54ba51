"""Demonstrated skill (ionscreen.learn.skill) and the choice of the ranking model (ionscreen.screen.ranking)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ionscreen.flags import NO_SKILL
from ionscreen.flags import OUTSIDE_RANKING_MODEL_ELEMENTS as OUTSIDE
from ionscreen.learn.skill import FOREST, MEAN, compare, demonstrated, lattice_features
from ionscreen.screen.ranking import choose, rank


def test_compare_pairs_errors_by_composition():
    # Two compositions, two samples each; model errors 0.1, mean errors 1.0 / 0.5.
    y = np.array([0.0, 1.0, 2.0, 3.0])
    model = y + np.array([0.1, -0.1, 0.1, -0.1])
    mean = np.array([1.0, 2.0, 1.5, 2.5])
    out = compare(y, {"m": model, MEAN: mean, FOREST: y}, ["A", "A", "B", "B"], "m")
    assert out["models"]["m"]["mae"] == pytest.approx(0.1)
    assert out["models"][MEAN]["mae"] == pytest.approx(0.75)
    assert out["models"][FOREST]["mae"] == 0.0
    # per-composition gains 0.9 and 0.4: mean 0.65, se = std([0.9, 0.4], ddof=1) / sqrt(2) = 0.25
    assert out["gain_over_mean"] == pytest.approx(0.65) and out["gain_se"] == pytest.approx(0.25)
    assert out["n_groups"] == 2 and not out["demonstrated"]  # fewer than 5 held-out compositions


def test_skill_needs_a_gain_beyond_two_standard_errors():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 40)
    groups = [f"g{k // 2}" for k in range(40)]  # 20 compositions
    good = compare(y, {"m": y + rng.normal(0, 0.2, 40), MEAN: np.zeros(40), FOREST: np.zeros(40)}, groups, "m")
    noise = compare(y, {"m": rng.normal(0, 1, 40), MEAN: np.zeros(40), FOREST: np.zeros(40)}, groups, "m")
    assert good["demonstrated"] and good["gain_over_mean"] > 2 * good["gain_se"]
    assert not noise["demonstrated"]


def test_lattice_features_read_the_lattice():
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.from_parameters(3, 4, 5, 90, 100, 120), ["Li", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    f = lattice_features(s.to_json())
    np.testing.assert_allclose(f[:6], [3, 4, 5, 90, 100, 120], atol=1e-9)
    assert f[6] == pytest.approx(s.volume / 2)


def _skill(model_mae: float, mean_mae: float, shown: bool, n_groups: int = 8) -> dict:
    entry = {
        "n_samples": 2 * n_groups,
        "n_groups": n_groups,
        "gain_over_mean": mean_mae - model_mae,
        "gain_se": 0.05,
        "demonstrated": shown,
        "models": {
            "structure-only": {"mae": model_mae, "spearman": 0.5},
            MEAN: {"mae": mean_mae, "spearman": None},
            FOREST: {"mae": 0.6, "spearman": 0.4},
        },
    }
    return {
        "split": "validation",
        "held_out": "validation split (it chose the stopping epoch)",
        "model": "structure-only",
        "all": entry,
        "by_temperature": {"800": entry},
    }


def _meta(skill: dict) -> SimpleNamespace:
    return SimpleNamespace(skill=skill, route="structure-only", target="log10_msd_final_A2")


def _predictions() -> pd.DataFrame:
    # The workflow model orders a > b > c, the room-temperature model c > b > a.
    rows = []
    for mid, p, rt in (("a", 1.0, -6.0), ("b", 0.5, -4.0), ("c", 0.0, -2.0)):
        for t in (600.0, 800.0):
            rows.append(
                {
                    "material_id": mid,
                    "temperature_K": t,
                    "target": "log10_msd_final_A2",
                    "prediction": p + t / 1e4,
                    "prediction_std": 0.1,
                    "flags": [],
                    "sigma_rt_log10_S_cm": rt,
                    "sigma_rt_std": 0.3,
                    "sigma_rt_flags": [],
                }
            )
    return pd.DataFrame(rows)


def test_auto_ranks_by_a_skilled_workflow_model():
    df, info, skills = rank(
        _predictions(), 800.0, workflow_meta=_meta(_skill(0.2, 0.9, True)), room_temperature_model="obelix-rt"
    )
    assert info.rank_by == "workflow" and "demonstrated skill" in info.reason
    assert list(df.drop_duplicates("material_id")["material_id"]) == ["a", "b", "c"]
    assert not any(NO_SKILL in f for f in df["flags"]) and set(df["rank_by"]) == {"workflow"}
    assert [s.model for s in skills] == ["workflow model (structure-only)", "obelix-rt"]


def test_auto_falls_back_to_the_room_temperature_model_then_flags():
    df, info, _ = rank(
        _predictions(), 800.0, workflow_meta=_meta(_skill(0.85, 0.9, False)), room_temperature_model="obelix-rt"
    )
    assert info.rank_by == "room_temperature" and info.ranking_model == "obelix-rt"
    assert list(df.drop_duplicates("material_id")["material_id"]) == ["c", "b", "a"]
    assert info.ranking_mae == pytest.approx(
        json.loads(
            (
                __import__("ionscreen.roomtemp.model", fromlist=["resolve"]).resolve("obelix-rt") / "model.json"
            ).read_text()
        )["cv"]["mae"]["obelix-rt"]["mean"]
    )
    assert info.spread == pytest.approx(4.0) and info.unresolved_top == 1  # -2 vs -4: 2 decades > 0.71
    # No room-temperature model: the workflow's model ranks, every row flagged.
    df, info, _ = rank(_predictions(), 800.0, workflow_meta=_meta(_skill(0.85, 0.9, False)))
    assert info.rank_by == "workflow" and "no room-temperature model" in info.reason
    assert all(NO_SKILL in f for f in df["flags"])


def test_room_temperature_ranking_needs_element_coverage():
    pred = _predictions()
    pred["sigma_rt_flags"] = [["elements_unseen_in_training"] if m != "c" else [] for m in pred["material_id"]]
    # covers 1 of 3: below half, so auto keeps the (unskilled, flagged) workflow model
    _, info, _ = rank(pred, 800.0, workflow_meta=_meta(_skill(0.85, 0.9, False)), room_temperature_model="obelix-rt")
    assert info.rank_by == "workflow" and "33%" in info.reason
    # asked for explicitly: uncovered candidates rank last, flagged
    df, info, _ = rank(
        pred,
        800.0,
        requested="room_temperature",
        workflow_meta=_meta(_skill(0.85, 0.9, False)),
        room_temperature_model="obelix-rt",
    )
    first = df.drop_duplicates("material_id")
    assert first["material_id"].iloc[0] == "c" and OUTSIDE in first["flags"].iloc[1]


def test_ties_within_the_held_out_error_are_reported():
    pred = _predictions()
    pred["sigma_rt_log10_S_cm"] = pred["material_id"].map({"a": -3.0, "b": -2.9, "c": -2.8})
    _, info, _ = rank(pred, 800.0, workflow_meta=_meta(_skill(0.85, 0.9, False)), room_temperature_model="obelix-rt")
    assert info.spread == pytest.approx(0.2) and info.unresolved_top == 3
    from ionscreen.screen.report import resolution_sentence

    assert resolution_sentence(info.to_dict()).startswith("The order is not resolved")


def test_choose_refuses_an_unknown_rank_by():
    wf = SimpleNamespace(skill=False, why="x")
    with pytest.raises(ValueError, match="rank_by must be one of"):
        choose("best", wf, None, 1.0)
    with pytest.raises(ValueError, match="no room-temperature model"):
        choose("room_temperature", wf, None, 1.0)


def _trainset(learnable: bool, n: int = 60):
    """Materials with real lattices and per-Li embeddings; the label is a function of the
    embedding (learnable) or independent noise."""
    from pymatgen.core import Lattice, Structure

    rng = np.random.default_rng(1)
    emb, labels, structures = [], [], []
    for m in range(n):
        e = rng.normal(0, 1, (2, 8)).astype(np.float32)
        s = Structure(Lattice.cubic(3.0 + 0.05 * m), ["Li", "Li", "O"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0.5]])
        structures.append({"material_id": f"m{m}", "reduced_formula": f"Li{m + 2}O", "structure_json": s.to_json()})
        emb += [
            {
                "material_id": f"m{m}",
                "atom_index": k,
                "species": "Li",
                "embedding": e[k],
                "model": "7net-0",
                "layer": 10,
                "variant": "invariant",
                "frame": "given",
            }
            for k in range(2)
        ]
        y = 2.0 * float(e[:, 0].mean()) if learnable else float(rng.normal(0, 1))
        labels.append({"material_id": f"m{m}", "temperature_K": 800.0, "status": "ok", "msd_final_A2": 10**y})
    return pd.DataFrame(labels), pd.DataFrame(emb), pd.DataFrame(structures)


@pytest.mark.parametrize("learnable", [True, False])
def test_training_records_skill_and_auto_follows_it(tmp_path, learnable):
    from ionscreen.learn.config import TrainConfig
    from ionscreen.learn.meta import ModelMeta
    from ionscreen.learn.train import train

    labels, emb, structures = _trainset(learnable)
    cfg = TrainConfig(
        decoder_widths=[16, 16],
        epochs=200,
        patience=200,
        seeds=[0, 1],
        val_fraction=0.25,
        aml=False,
        poly_expansion=False,
    )
    train(
        labels,
        emb,
        structures,
        cfg,
        tmp_path / "model",
        embedding_meta={"model": "7net-0", "layer": 10, "variant": "invariant", "frame": "given"},
    )
    meta = ModelMeta.from_json(tmp_path / "model")
    text = (tmp_path / "model/model.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON for any reader
    sk = json.loads(text)["skill"]
    assert sk["split"] == "validation" and sk["all"]["n_groups"] >= 5
    assert set(sk["all"]["models"]) == {"structure-only", MEAN, FOREST}
    shown, why = demonstrated(meta.skill, 800.0)
    assert shown == learnable, why
    if learnable:
        assert sk["all"]["models"]["structure-only"]["mae"] < 0.5 * sk["all"]["models"][MEAN]["mae"]
    _, info, _ = rank(_predictions(), 800.0, workflow_meta=meta, room_temperature_model="obelix-rt")
    assert info.rank_by == ("workflow" if learnable else "room_temperature")


def test_old_models_without_skill_have_none():
    shown, why = demonstrated({}, 800.0)
    assert not shown and "records no held-out comparison" in why
