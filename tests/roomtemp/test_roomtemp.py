"""The shipped room-temperature model (obelix-rt): descriptors, the numpy tree export, the
shipped files, prediction from CIFs and the CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ionscreen import schema
from ionscreen.cli import main
from ionscreen.flags import SPACEGROUP_UNKNOWN
from ionscreen.roomtemp.card import model_card
from ionscreen.roomtemp.descriptors import (
    FOREST,
    NAME,
    descriptor_names,
    descriptors,
    ensemble_prediction,
    from_tree_target,
    obelix_descriptors,
    structure_descriptors,
    to_tree_target,
)
from ionscreen.roomtemp.figures import (
    MEASURED_BANDS,
    accuracy_by_measured_range,
    over_2_decades,
    ranking_scores,
    replicate_measurements,
    summarise_replicates,
)
from ionscreen.roomtemp.fit import (
    RoomTempConfig,
    RoomTempMeta,
    cross_validate,
    fit_trees,
    learning_curve,
    summarise_cv,
    summarise_learning_curve,
    training_table,
)
from ionscreen.roomtemp.model import RoomTempModel
from ionscreen.roomtemp.train import train_room_temperature
from ionscreen.structures.obelix import cif_files, read_table
from ionscreen.structures.prepare import read_structure
from tests.conftest import REPO

OBELIX = REPO / "resources/obelix"


def test_training_descriptors_from_the_table_match_those_from_the_cif() -> None:
    """The model trains on OBELiX's table (composition, cell, space group) and predicts from
    structures: both routes must give the same cell descriptors for the same entry."""
    table = read_table(OBELIX / "train.csv").set_index("ID")
    files = cif_files(OBELIX)
    ids = ["jqc", "oi6", "2t8", "47i", "bq9"]  # cells with Z = 1, 1, 2, 2, 8 formula units
    from_table = obelix_descriptors(table.loc[ids].reset_index())
    from_cif = structure_descriptors([read_structure(files[i]) for i in ids])
    cell = slice(-3, None)
    np.testing.assert_allclose(from_cif[:, cell], from_table[:, cell], rtol=0.01)
    # 132 Magpie statistics of the same composition agree as well
    np.testing.assert_allclose(from_cif[:, :132], from_table[:, :132], rtol=1e-6, atol=1e-6)
    assert from_table.shape[1] == len(descriptor_names()) == 270


def test_shipped_model_loads_by_name_and_states_its_cv() -> None:
    model = RoomTempModel.named("obelix-rt")
    meta = model.meta
    assert meta.target == "log10_sigma_S_cm" and meta.temperature_K == 300.0 and meta.n_train == 449
    assert meta.descriptor_names == descriptor_names()
    mae = meta.cv["mae"]
    assert mae["obelix-rt"]["mean"] < mae[FOREST]["mean"] < mae["training mean"]["mean"]
    assert abs(meta.cv["coverage_1std"] - 0.683) < 0.02
    card = (model.directory / "MODEL_CARD.md").read_text()
    assert "CC BY 4.0" in card and "Do not use it for" in card and f"{mae['obelix-rt']['mean']:.3f}" in card
    # the card is what model_card writes from the shipped meta and CV table, lab-to-lab scatter included
    assert card == model_card(meta, summarise_cv(pd.read_csv(model.directory / "cross_validation.csv")))
    assert meta.cv["replicates"]["n_entries"] == 117 and "lies\n  0.70 decades" in card
    assert sum(p.stat().st_size for p in model.directory.iterdir()) < 5e6  # small enough for git


def test_meta_round_trips(tmp_path: Path) -> None:
    meta = RoomTempModel.named("obelix-rt").meta
    meta.to_json(tmp_path / "model.json")
    assert RoomTempMeta.from_json(tmp_path / "model.json") == meta


def test_shipped_model_reproduces_a_known_fast_conductor_and_flags_strangers() -> None:
    model = RoomTempModel.named("obelix-rt")
    lgps = read_table(OBELIX / "train.csv").set_index("ID").loc[["mtn"]]  # Li10GeP2S12, measured 2.5e-2 S/cm
    mean, std, dist = model.predict(obelix_descriptors(lgps.reset_index()))
    assert abs(mean[0] - np.log10(float(lgps["sigma_S_cm"].iloc[0]))) < 0.05 and dist[0] < 1e-6
    again = model.rows(["mtn"], ["Li10Ge(PS6)2"], obelix_descriptors(lgps.reset_index()))
    assert list(again["flags"].iloc[0]) == ["in_training_data"]  # its own measurement, spread 0: said so
    # an element OBELiX never saw, in a made-up cell: flagged, still a finite number
    rows = model.rows(["x"], ["LiPu2O5"], descriptors(["LiPu2O5"], [80.0], [1]))
    assert np.isfinite(rows["prediction"].iloc[0])
    assert "elements_unseen_in_training" in rows["flags"].iloc[0]


def test_cli_predicts_every_readable_vendored_cif(tmp_path: Path) -> None:
    out, rej = tmp_path / "p.parquet", tmp_path / "r.parquet"
    assert (
        main(
            [
                "predict",
                "--model",
                "obelix-rt",
                str(OBELIX / "cifs"),
                "--temperature",
                "300",
                "--out",
                str(out),
                "--rejected-out",
                str(rej),
            ]
        )
        == 0
    )
    pred, bad = schema.read_table(out, "predictions"), schema.read_table(rej, "rejected")
    n_files = len(list((OBELIX / "cifs").glob("*.cif")))
    assert len(pred) + len(bad) == n_files == 254
    assert set(bad["code"]) == {"no_li"}  # the only CIFs not predicted have no Li
    assert pred["prediction"].between(-20, 0).all() and (pred["temperature_K"] == 300).all()
    assert sorted(pred["rank"]) == list(range(1, len(pred) + 1))
    np.testing.assert_array_equal(pred["sigma_rt_log10_S_cm"], pred["prediction"])


def test_cli_refuses_other_temperatures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cif = next(iter(cif_files(OBELIX).values()))
    assert (
        main(
            ["predict", "--model", "obelix-rt", str(cif), "--temperature", "600", "--out", str(tmp_path / "p.parquet")]
        )
        == 2
    )
    assert "room temperature only" in capsys.readouterr().err


def test_structure_table_columns_use_the_input_space_group() -> None:
    from ionscreen.structures.prepare import candidate_settings, prepare_structure

    files = cif_files(OBELIX)
    rows = [
        {"material_id": i, **prepare_structure(read_structure(files[i]), candidate_settings(), None, None)}
        for i in ("jqc", "mtn")
    ]
    cols = RoomTempModel.named("obelix-rt").structure_table_columns(pd.DataFrame(rows))
    assert list(cols["material_id"]) == ["jqc", "mtn"]
    assert cols["sigma_rt_log10_S_cm"].iloc[1] > cols["sigma_rt_log10_S_cm"].iloc[0] + 2  # LGPS >> Li7BiO6
    assert (cols["sigma_rt_std"] >= 0).all()


def test_training_writes_a_loadable_model_with_its_cv(tmp_path: Path) -> None:
    small = tmp_path / "obelix"
    small.mkdir()
    table = pd.read_csv(OBELIX / "train.csv", dtype={"ID": str})
    table.iloc[::4].to_csv(small / "train.csv", index=False)  # 120 entries
    cfg = RoomTempConfig(n_trees=20, fold_seeds=(0,), rf_trees=50)
    meta, summary = train_room_temperature(small, tmp_path / "m", cfg)
    cv = pd.read_csv(tmp_path / "m/cross_validation.csv")
    assert len(cv) == 3 * 5 and set(cv["model"]) == {"obelix-rt", FOREST, "training mean"}
    assert summary.loc["obelix-rt", "mae_mean"] < summary.loc["training mean", "mae_mean"]
    rep = summarise_replicates(replicate_measurements(training_table(small)))
    assert meta.cv["replicates"] == rep and rep["n_entries"] == 10  # JSON round trip: no NaN among them
    model = RoomTempModel(tmp_path / "m")
    assert model.meta.cv["replicates"] == rep
    X = obelix_descriptors(training_table(small).head(3))
    assert np.isfinite(model.predict(X)[0]).all()


def test_target_transform_round_trips_and_refuses_conductivities_of_1_S_cm_or_more() -> None:
    y = np.array([-17.4, -5.0, -1.6])
    z = to_tree_target(y, "ln_neg")
    np.testing.assert_allclose(z, np.log([17.4, 5.0, 1.6]))
    np.testing.assert_allclose(from_tree_target(z, "ln_neg"), y)
    np.testing.assert_array_equal(to_tree_target(y, "identity"), y)
    with pytest.raises(ValueError, match="sigma < 1 S/cm"):
        to_tree_target(np.array([-3.0, 0.0]), "ln_neg")
    with pytest.raises(ValueError, match="unknown target transform 'log'"):
        to_tree_target(y, "log")


def test_ensemble_prediction_averages_where_the_trees_were_fitted() -> None:
    # two trees say log10 sigma = -2 and -8: the mean of ln(2), ln(8) is ln(4), so -4, not -5
    per_tree = np.log(np.array([[2.0], [8.0]]))
    mean, spread = ensemble_prediction(per_tree, "ln_neg")
    np.testing.assert_allclose(mean, [-4.0])
    np.testing.assert_allclose(spread, [3.0])  # std of -2 and -8, in log10 sigma
    mean, spread = ensemble_prediction(np.array([[-2.0], [-8.0]]), "identity")
    np.testing.assert_allclose(mean, [-5.0])
    np.testing.assert_allclose(spread, [3.0])


def test_shipped_model_predicts_as_sklearn_fitted_to_the_transformed_target() -> None:
    """The shipped trees fit ln(-log10 sigma): its prediction is -exp of scikit-learn's mean
    over trees, refitted here from the same data and configuration."""
    model = RoomTempModel.named("obelix-rt")
    assert model.meta.target_transform == "ln_neg"
    cfg = RoomTempConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in model.meta.config.items()})
    table = training_table(OBELIX)
    X = obelix_descriptors(table)
    forest = fit_trees(X, table["log10_sigma_S_cm"].to_numpy(float), cfg)
    files = cif_files(OBELIX)
    Xq = structure_descriptors([read_structure(files[i]) for i in ("jqc", "2t8", "mtn")])
    np.testing.assert_allclose(model.predict(Xq)[0], -np.exp(forest.predict(Xq)), rtol=1e-9)


def test_models_trained_before_the_transform_still_load_as_identity(tmp_path: Path) -> None:
    import json
    import shutil

    src = RoomTempModel.named("obelix-rt").directory
    old = tmp_path / "old"
    shutil.copytree(src, old)
    meta = json.loads((old / "model.json").read_text())
    del meta["target_transform"]
    (old / "model.json").write_text(json.dumps(meta))
    assert RoomTempModel(old).meta.target_transform == "identity"


def test_learning_curve_at_full_share_is_the_cv_and_less_data_costs_accuracy() -> None:
    table = training_table(OBELIX).iloc[::3].reset_index(drop=True)  # 150 entries
    X = obelix_descriptors(table)
    cfg = RoomTempConfig(n_trees=20, fold_seeds=(0,), rf_trees=30)
    lc = learning_curve(table, X, cfg, fractions=(0.25, 1.0), repeats=2)
    assert len(lc) == 5 * (2 + 1)
    cv, _ = cross_validate(table, X, cfg)
    full = lc[lc["fraction"] == 1.0].set_index("fold")
    for model, col in (("obelix-rt", "mae"), (FOREST, "forest_mae")):
        ref = cv[cv["model"] == model].set_index("fold")["mae"]
        np.testing.assert_allclose(full[col].sort_index(), ref.sort_index(), rtol=1e-12)
    quarter = lc[lc["fraction"] == 0.25]
    assert (quarter["n_train"] < 0.45 * full["n_train"].mean()).all()
    summary = summarise_learning_curve(lc)
    assert summary.loc[0.25, "mae_mean"] > summary.loc[1.0, "mae_mean"]
    assert summary.loc[1.0, "ratio"] == pytest.approx(full["mae"].mean() / full["forest_mae"].mean())


def test_replicate_measurements_compare_each_with_the_mean_of_the_others() -> None:
    table = pd.DataFrame(
        {
            "ID": list("abcdef"),
            "formula": ["LiX", "LiX", "LiX", "LiX", "LiY", "LiY"],
            "Space group #": [1, 1, 1, 2, 5, 5],
            "log10_sigma_S_cm": [-3.0, -4.0, -5.0, -9.0, -6.0, -7.0],
        }
    )
    rep = replicate_measurements(table)
    # LiX in space group 2 is another phase, measured once: not a replicate
    assert list(rep["ID"]) == list("abcef")
    np.testing.assert_allclose(rep["others_mean"], [-4.5, -4.0, -3.5, -7.0, -6.0])
    np.testing.assert_allclose(rep["disagreement"], [1.5, 0.0, 1.5, 1.0, 1.0])
    s = summarise_replicates(rep)
    assert (s["n_entries"], s["n_materials"], s["n_pairs"]) == (5, 2, 1)
    assert s["mae_vs_others"] == pytest.approx(1.0)
    assert s["mae_vs_material_median"] == pytest.approx((1 + 0 + 1 + 0.5 + 0.5) / 5)
    assert s["pair_difference"] == pytest.approx(1.0)
    assert s["scatter_per_measurement"] == pytest.approx(2**-0.5)


def test_obelix_repeated_measurements_disagree_by_most_of_the_models_error() -> None:
    s = summarise_replicates(replicate_measurements(training_table(OBELIX)))
    # phases by normalised formula and space group: "Li1.4Al0.4Ti1.6(PO4)3" and "Li1.4Al0.4Ti1.6 (PO4)3"
    # are one phase (105 entries / 41 phases when OBELiX's composition texts were the key)
    assert (s["n_entries"], s["n_materials"], s["n_pairs"]) == (117, 45, 29)
    assert s["mae_vs_others"] == pytest.approx(0.700, abs=1e-3)
    assert s["median_vs_others"] == pytest.approx(0.384, abs=1e-3)
    assert s["pair_difference"] == pytest.approx(0.806, abs=1e-3)
    # the shipped model's CV error is not far above one measurement's estimated scatter
    mae = RoomTempModel.named("obelix-rt").meta.cv["mae"]["obelix-rt"]["mean"]
    assert s["scatter_per_measurement"] < mae < s["scatter_per_measurement"] + 0.15


def _oof(y: list[float], prediction: list[float], forest: list[float], fold_seed: int) -> pd.DataFrame:
    return pd.DataFrame({"fold_seed": fold_seed, "y": y, "prediction": prediction, "forest": forest})


def test_accuracy_by_measured_range_splits_the_held_out_error_where_the_measurement_lies() -> None:
    y = [-10.0, -6.0, -5.0, -3.0]  # one poor conductor, two middling, one fast
    oof = pd.concat(
        [
            _oof(y, [-7.0, -6.5, -4.0, -3.5], [-8.0, -6.0, -5.0, -2.0], 0),
            _oof(y, [-9.0, -5.5, -5.0, -3.0], [-8.0, -6.0, -5.0, -4.0], 1),
        ],
        ignore_index=True,
    )
    t = accuracy_by_measured_range(oof).set_index(["band", "model"])
    own, forest = NAME, FOREST
    assert list(t.index.get_level_values("band").unique()) == [b for *_, b in MEASURED_BANDS] + ["all"]
    assert t.loc[("sigma < 1e-8", own), "n_entries"] == 1 and t.loc[("1e-8 <= sigma < 1e-4", own), "n_entries"] == 2
    # poor conductor: predicted 3 and 1 decades too high (mean over fold seeds 2, bias +2)
    assert t.loc[("sigma < 1e-8", own), ["mae", "bias"]].tolist() == pytest.approx([2.0, 2.0])
    # middling: seed 0 errors -0.5, +1 (MAE 0.75, bias 0.25); seed 1 +0.5, 0 (0.25, 0.25)
    assert t.loc[("1e-8 <= sigma < 1e-4", own), ["mae", "bias"]].tolist() == pytest.approx([0.5, 0.25])
    assert t.loc[("sigma >= 1e-4", forest), ["mae", "bias"]].tolist() == pytest.approx([1.0, 0.0])
    # all four pooled, per seed then averaged: own seed 0 (3 + 0.5 + 1 + 0.5) / 4, seed 1 (1 + 0.5 + 0 + 0) / 4
    assert t.loc[("all", own), "mae"] == pytest.approx((5.0 / 4 + 1.5 / 4) / 2)
    # a band without entries is left out
    assert "sigma < 1e-8" not in set(accuracy_by_measured_range(oof[oof["y"] > -9])["band"])


def test_ranking_scores_measure_how_the_held_out_entries_are_ordered() -> None:
    y = [-9.0, -6.0, -3.5, -2.5]
    oof = pd.concat(
        [
            _oof(y, [-8.0, -7.0, -4.5, -3.0], [-3.0, -4.0, -6.0, -7.0], 0),
            _oof(y, [-8.0, -3.8, -5.0, -3.0], [-3.0, -4.0, -6.0, -7.0], 1),
        ],
        ignore_index=True,
    )
    r = ranking_scores(oof)
    # seed 0 in order (rho 1, AUC 1); seed 1 swaps the middling -6 above the fast -3.5 (rho 0.8, AUC 0.75)
    assert r[NAME] == pytest.approx({"spearman": 0.9, "roc_auc_fast": 0.875})
    assert r[FOREST] == pytest.approx({"spearman": -1.0, "roc_auc_fast": 0.0})
    assert np.isnan(ranking_scores(oof[oof["y"] > -4])[NAME]["roc_auc_fast"])  # no slow entry


def test_shipped_card_states_where_its_error_lies() -> None:
    model = RoomTempModel.named("obelix-rt")
    rows = pd.DataFrame(model.meta.cv["by_measured_range"])
    own = rows[rows["model"] == NAME].set_index("band")
    assert own.loc[[b for *_, b in MEASURED_BANDS], "n_entries"].sum() == model.meta.n_train
    # the poor-conductor tail carries the largest error, predicted too high
    assert own.loc["sigma < 1e-8", "mae"] > 2 and own.loc["sigma < 1e-8", "bias"] > 2
    card = (model.directory / "MODEL_CARD.md").read_text()
    assert "## Held-out accuracy by measured conductivity" in card and "| sigma >= 1e-4 | 218 |" in card
    assert f"ROC AUC {model.meta.cv['ranking'][NAME]['roc_auc_fast']:.3f}" in card
    # a model trained before these figures were measured gets a card without them
    older = dataclasses.replace(
        model.meta,
        cv={k: v for k, v in model.meta.cv.items() if k not in ("by_measured_range", "ranking", "fast_log10_S_cm")},
    )
    old_card = model_card(older, summarise_cv(pd.read_csv(model.directory / "cross_validation.csv")))
    assert "Held-out accuracy" not in old_card and "how poorly" not in old_card and "Do not use it for" in old_card


def test_unknown_space_group_is_flagged_not_silent():
    """A candidate whose symmetry search failed (empty ``spacegroup``) is predicted as P1 and says so."""
    rt = RoomTempModel.named("obelix-rt")
    s = read_structure(REPO / "resources/structures/candidates/LiBr.json")
    row = {"material_id": "LiBr", "structure_json": s.to_json()}
    cols = rt.structure_table_columns(
        pd.DataFrame([{**row, "spacegroup": "Fm-3m"}, {**row, "material_id": "x", "spacegroup": ""}])
    )
    known, unknown = cols.iloc[0], cols.iloc[1]
    assert SPACEGROUP_UNKNOWN not in known["sigma_rt_flags"]
    assert SPACEGROUP_UNKNOWN in unknown["sigma_rt_flags"]
    as_p1 = rt.structure_table_columns(pd.DataFrame([{**row, "spacegroup": "P1"}])).iloc[0]
    assert unknown["sigma_rt_log10_S_cm"] == pytest.approx(as_p1["sigma_rt_log10_S_cm"], abs=1e-12)


def test_over_2_decades_counts_who_the_large_held_out_errors_are() -> None:
    oof = pd.concat(
        [
            _oof([-11.0, -9.0, -3.0], [-8.0, -6.5, -3.5], [0, 0, 0], 0),
            _oof([-11.0, -9.0, -3.0], [-10.5, -6.0, -6.0], [0, 0, 0], 1),
        ],
        ignore_index=True,
    )
    # errors: 3, 2.5, 0.5 | 0.5, 3, 3  -> four above 2 decades, one of them measured at 1e-11, three below 1e-8
    assert over_2_decades(oof) == {"n": 4, "n_fold_seeds": 2, "below_1e-10": 1, "below_1e-8": 3}


def test_shipped_card_states_its_tail_figures_from_the_data() -> None:
    """The card's figures on large errors and poor conductors come from model.json, which
    ``train_room_temperature`` computed from the held-out predictions and the training table."""
    model = RoomTempModel.named("obelix-rt")
    big = model.meta.cv["over_2_decades"]
    assert big["n"] == round(model.meta.cv["share_over_2_decades"] * big["n_fold_seeds"] * model.meta.n_train)
    assert big["below_1e-10"] < big["below_1e-8"] < big["n"]  # not "mostly below 1e-10": 24 of 111
    card = " ".join((model.directory / "MODEL_CARD.md").read_text().split())
    assert (
        f"of these {big['n']} held-out predictions (over {big['n_fold_seeds']} fold seeds), "
        f"{big['below_1e-10']} are of entries measured below 1e-10 S/cm and {big['below_1e-8']} below 1e-8"
    ) in card
    table = training_table(OBELIX)
    n_poor = int((table["log10_sigma_S_cm"] < -10).sum())
    assert model.meta.cv["n_train_below_1e-10"] == n_poor and f"the {n_poor} very poor conductors" in card
    assert "mostly poor conductors" not in card
