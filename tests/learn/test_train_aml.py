"""Two-level AML: closed form, the trainer, transfer, ablations and grouped cross-validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ionscreen import schema
from ionscreen.learn.config import TrainConfig
from ionscreen.learn.dataset import load_dataset, make_tensors
from ionscreen.learn.evaluate import ABLATIONS, ablations, cross_validate
from ionscreen.learn.folds import grouped_folds, grouped_split
from ionscreen.learn.model import load_predictor, load_trainers, ridge_closed_form
from ionscreen.learn.routes import Run, init_from_trainer, train_trainer
from ionscreen.learn.skill import composition_features
from ionscreen.learn.train import train


def aml_synthetic(n_materials=80, n_li=8, dim=48, traj_dim=12, seed=0, hidden_noise=0.3, temperatures=(800.0,)):
    """Per Li atom z_i = e_i . w + u_i. The log10 target is the mean over Li atoms of tanh(2 z_i).
    The trajectory embedding carries z_i; the structure embedding e_i carries it only partly (u_i
    is invisible to it), and only through a direction w that 80 labels pin down poorly."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, dim) / np.sqrt(dim)
    emb, traj, labels, structs = [], [], [], []
    for m in range(n_materials):
        e = rng.normal(0, 1, dim) * 0.7 + rng.normal(0, 1, (n_li, dim)) * 0.7
        z = e @ w + hidden_noise * rng.normal(0, 1, n_li)
        mid = f"m{m}"
        structs.append({"material_id": mid, "reduced_formula": f"Li{m + 1}O"})
        for k in range(n_li):
            emb.append({"material_id": mid, "atom_index": k, "embedding": e[k].astype(np.float32)})
        for T in temperatures:
            for k in range(n_li):
                p = np.concatenate([[z[k]], rng.normal(0, 1, traj_dim - 1)]).astype(np.float32)
                traj.append(
                    {"material_id": mid, "temperature_K": T, "atom_index": k, "embedder": "synthetic", "embedding": p}
                )
            y = float(np.mean(np.tanh(2 * z))) + T / 2000
            labels.append({"material_id": mid, "temperature_K": T, "status": "ok", "msd_final_A2": 10**y})
    return pd.DataFrame(labels), pd.DataFrame(emb), pd.DataFrame(structs), pd.DataFrame(traj)


SMALL = dict(
    decoder_widths=[32, 32, 32],
    hidden_dim=8,
    poly_expansion=False,
    seeds=[0, 1],
    val_fraction=0.2,
    test_fraction=0.25,
    patience=30,
    trainer_epochs=100,
    epochs=300,
    finetune_epochs=50,
    finetune_lr=1e-4,
)


def test_closed_form_is_the_ridge_optimum():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (300, 40))
    x[:, 5] = x[:, 4] + 1e-4 * rng.normal(size=300)  # nearly collinear: the ridge term matters
    h = x @ rng.normal(0, 1, (40, 8)) + 0.1 * rng.normal(0, 1, (300, 8))
    lam = 1e-3
    w = ridge_closed_form(
        torch.tensor(x, dtype=torch.float32), torch.tensor(h, dtype=torch.float32), lam, chunk=64
    ).numpy()
    # Independent solve: least squares on the augmented system [X; sqrt(lam') I] W = [H; 0].
    lam_abs = lam * np.mean(np.sum(x.astype(np.float32).astype(np.float64) ** 2, axis=0))
    xa = np.vstack([x.astype(np.float32).astype(np.float64), np.sqrt(lam_abs) * np.eye(40)])
    ha = np.vstack([h.astype(np.float32).astype(np.float64), np.zeros((40, 8))])
    w_ref = np.linalg.lstsq(xa, ha, rcond=None)[0]
    np.testing.assert_allclose(w, w_ref, rtol=1e-6, atol=1e-8)
    assert not np.allclose(w, np.linalg.lstsq(x, h, rcond=None)[0], atol=1e-3)  # lambda did something


def test_closed_form_f1_reproduces_the_trainers_hidden_states():
    labels, emb, structs, traj = aml_synthetic(n_materials=30, seed=3)
    cfg = TrainConfig(**{**SMALL, "trainer_epochs": 3, "test_fraction": 0.0})
    data = load_dataset(labels, emb, structs, cfg.target, traj)
    split = grouped_split(data.groups, cfg.val_fraction, 0.0, 0)
    train_idx = np.flatnonzero(split == "train")
    t = make_tensors(data, train_idx, cfg.poly_expansion)
    run = Run(t, data, train_idx, np.flatnonzero(split == "validation"), cfg, 0)
    g = train_trainer(run, 0)
    f1 = init_from_trainer(run, g, 0)
    rows = torch.from_numpy(np.concatenate([t.rows_of[i] for i in train_idx]))
    with torch.no_grad():
        h = g.hidden(t.x[rows], t.p[rows]).double().numpy()
        got = f1.encoder(t.x[rows]).double().numpy()
    x = t.x[rows].double().numpy()
    lam_abs = cfg.ridge_lambda * np.mean(np.sum(x**2, axis=0))
    w_ref = np.linalg.lstsq(
        np.vstack([x, np.sqrt(lam_abs) * np.eye(x.shape[1])]),
        np.vstack([h, np.zeros((x.shape[1], h.shape[1]))]),
        rcond=None,
    )[0]
    np.testing.assert_allclose(got, x @ w_ref, atol=2e-4)
    # The structure embedding explains most, not all, of H (the trajectory adds u_i).
    r2 = 1 - np.sum((got - h) ** 2) / np.sum((h - h.mean(0)) ** 2)
    assert 0.5 < r2 < 0.999, r2
    for a, b in zip(f1.decoder.parameters(), g.decoder.parameters(), strict=True):
        assert torch.equal(a, b)


def _test_mae(res):
    m = res.metrics
    row = m[
        (m["split"] == "test") & m["seed"].isna() & m["temperature_K"].isna() & (m["model"] != "g (with trajectories)")
    ]
    return float(row["mae"].iloc[0])


@pytest.mark.parametrize("data_seed", [0, 1])
def test_aml_beats_no_aml_on_held_out_compositions(data_seed):
    labels, emb, structs, traj = aml_synthetic(n_materials=60, n_li=12, seed=data_seed)
    cfg = dict(SMALL, split_seed=data_seed)
    aml = train(labels, emb, structs, TrainConfig(**cfg), None, trajectories=traj)
    plain = train(labels, emb, structs, TrainConfig(**cfg, aml=False), None, trajectories=traj)
    assert aml.meta.route == "aml" and plain.meta.route == "structure-only"
    y = np.log10(labels["msd_final_A2"].to_numpy())
    assert _test_mae(aml) < 0.85 * _test_mae(plain) < 0.85 * np.mean(np.abs(y - y.mean())), (
        _test_mae(aml),
        _test_mae(plain),
    )


def test_aml_checkpoint_and_data_level_transfer(tmp_path):
    labels, emb, structs, traj = aml_synthetic(n_materials=40, seed=2, temperatures=(600.0, 1000.0))
    cfg = TrainConfig(**{**SMALL, "trainer_epochs": 20, "test_fraction": 0.0})
    meta = train(labels, emb, structs, cfg, tmp_path / "aml", tmp_path / "metrics.parquet", trajectories=traj).meta
    assert meta.route == "aml" and meta.trajectory_embedder == "synthetic"
    assert [(h["seed"], h["loop"]) for h in meta.history] == [
        (0, "trainer g"),
        (0, "fine-tune f1"),
        (1, "trainer g"),
        (1, "fine-tune f1"),
    ]
    metrics = schema.read_table(tmp_path / "metrics.parquet", "metrics")
    assert {"f1 (AML)", "g (with trajectories)"} == set(metrics["model"])
    assert set(metrics["seed"].dropna()) == {0, 1}
    assert set(metrics["temperature_K"].dropna()) == {600.0, 1000.0}
    trainers, tmeta, _, _ = load_trainers(tmp_path / "aml")
    assert len(trainers) == 2 and tmeta.architecture["traj_dim"] == 12

    # A second data set: other materials, another target, one temperature, no trajectories.
    lab2, emb2, st2, _ = aml_synthetic(n_materials=30, seed=7, temperatures=(300.0,))
    lab2 = lab2.rename(columns={"msd_final_A2": "sigma_S_cm"})
    frozen = dict(
        SMALL,
        target="sigma_S_cm",
        test_fraction=0.0,
        transfer_from=str(tmp_path / "aml"),
        transfer_epochs=5,
        transfer_lr_decoder=[0.0, 0.0, 0.0, 0.0],
        transfer_lr_encoder=1e-2,
    )
    m2 = train(lab2, emb2, st2, TrainConfig(**frozen), tmp_path / "f2")
    assert m2.meta.route == "transfer"
    f1 = load_predictor(tmp_path / "aml").members[0]
    f2 = load_predictor(tmp_path / "f2").members[0]
    # Decoder learning rates of 0 leave f1's decoder as it was; the encoder (from g's E_x) moved.
    for a, b in zip(f2.decoder.parameters(), f1.decoder.parameters(), strict=True):
        assert torch.equal(a, b)
    # With no epochs, f2 is exactly g's structure encoder and f1's decoder (seed 0's of each).
    train(lab2, emb2, st2, TrainConfig(**{**frozen, "transfer_epochs": 0}), tmp_path / "f2_init")
    f2_init = load_predictor(tmp_path / "f2_init").members[0]
    assert torch.equal(f2_init.encoder.weight, trainers[0].encoder_x.weight)
    assert torch.equal(f2_init.decoder[0].weight, f1.decoder[0].weight)
    with pytest.raises(ValueError, match="4 layers"):
        train(lab2, emb2, st2, TrainConfig(**{**frozen, "transfer_lr_decoder": [1e-4]}), None)


def test_transfer_needs_a_trainer(tmp_path):
    labels, emb, structs, _ = aml_synthetic(n_materials=12, seed=1)
    train(labels, emb, structs, TrainConfig(**{**SMALL, "test_fraction": 0.0, "epochs": 2}), tmp_path / "plain")
    with pytest.raises(FileNotFoundError, match="trainer.pt"):
        train(
            labels,
            emb,
            structs,
            TrainConfig(**{**SMALL, "test_fraction": 0.0, "transfer_from": str(tmp_path / "plain")}),
            None,
        )


def test_mismatched_atoms_are_refused():
    labels, emb, structs, traj = aml_synthetic(n_materials=5)
    traj.loc[traj.index[0], "atom_index"] = 99
    with pytest.raises(ValueError, match="same cell"):
        load_dataset(labels, emb, structs, "msd_final_A2", traj)


def test_ablation_table(tmp_path):
    labels, emb, structs, traj = aml_synthetic(n_materials=30, seed=4)
    cfg = TrainConfig(**{**SMALL, "trainer_epochs": 5, "epochs": 5, "finetune_epochs": 2, "distill_epochs": 5})
    df = ablations(
        labels,
        emb,
        structs,
        cfg,
        tmp_path / "ablations.parquet",
        trajectories=traj,
        other_trajectories={"shuffled": traj.assign(embedder="shuffled")},
    )
    back = schema.read_table(tmp_path / "ablations.parquet", "ablations")
    assert set(back["variant"]) == {*ABLATIONS, "trajectory_shuffled"}
    assert set(back["split"]) == {"train", "validation", "test"}
    assert (back.loc[back["variant"] == "no_aml", "route"] == "structure-only").all()
    assert back.loc[back["variant"] == "trajectory_shuffled", "trajectory_embedder"].iloc[0] == "shuffled"
    assert np.isfinite(df["mae"]).all()


def test_grouped_cross_validation_against_a_random_forest(tmp_path):
    labels, emb, structs, _ = aml_synthetic(n_materials=40, seed=5)
    labels["formula"] = [f"Li{i % 20 + 1}O" for i in range(len(labels))]  # pairs of entries share a composition
    folds = grouped_folds(list(labels["formula"]), 5, 0)
    for f in set(labels["formula"]):
        assert len(set(folds[labels["formula"] == f])) == 1
    cfg = TrainConfig(**{**SMALL, "epochs": 20, "aml": False})
    df = cross_validate(labels, emb, structs, cfg, tmp_path / "cv.parquet", n_folds=5, rf_trees=50)
    back = schema.read_table(tmp_path / "cv.parquet", "cross_validation")
    assert sorted(back["model"].unique()) == [
        "predictor (structure-only)",
        "random forest (composition)",
        "training mean",
    ]
    # the training mean of each fold's training samples, scored on the held-out fold
    y = np.log10(labels["msd_final_A2"].to_numpy(float))
    mean_rows = back[back["model"] == "training mean"]
    assert (mean_rows["mae"] > 0).all() and mean_rows["mae"].mean() == pytest.approx(
        np.abs(y - y.mean()).mean(), rel=0.3
    )
    assert (back.groupby("model")["fold"].nunique() == 5).all()
    assert (back["n_test"] + back["n_train"] == 40).all() and back["n_test"].sum() == 3 * 40  # three models
    assert np.isfinite(df["mae"]).all()


def test_composition_features():
    f = composition_features(["Li2O", "LiFePO4"])
    assert f.shape == (2, 94 + 8 + 2)
    assert f[0, 2] == pytest.approx(2 / 3) and f[0, 7] == pytest.approx(1 / 3)  # Li (Z=3), O (Z=8)
    assert f[1, -1] == 4 and f[0, -2] == pytest.approx(2 / 3)
