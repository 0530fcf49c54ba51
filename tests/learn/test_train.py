"""Features, grouped splits, the training loop and the checkpoint that loads alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ionscreen import schema
from ionscreen.learn.config import TrainConfig
from ionscreen.learn.folds import grouped_split
from ionscreen.learn.metrics import regression_metrics
from ionscreen.learn.model import Batch, expand_features, load_predictor
from ionscreen.learn.train import train


def test_feature_expansion_shapes_and_values():
    e = np.array([[1.0, -2.0] + [0.0] * 975], dtype=np.float32)
    x = expand_features(e, 1000.0)
    assert x.shape == (1, 2935)
    assert x[0, 0] == 1 and x[0, 977 + 1] == 4 and x[0, 2 * 977 + 1] == -8
    np.testing.assert_allclose(x[0, -4:], [1.0, 0.2, 0.04, 0.008], rtol=1e-6)
    assert expand_features(e, 1000.0, poly=False).shape == (1, 981)


def test_grouped_split_never_splits_a_composition():
    groups = [f"c{i % 10}" for i in range(60)]
    split = grouped_split(groups, 0.2, 0.2, seed=3)
    for g in set(groups):
        assert len({s for s, gg in zip(split, groups, strict=True) if gg == g}) == 1
    assert sorted(pd.Series(split).value_counts().to_dict().items()) == [
        ("test", 12),
        ("train", 36),
        ("validation", 12),
    ]
    with pytest.raises(ValueError, match="too few"):
        grouped_split(["a", "b"], 0.5, 0.5, 0)


def test_metrics_by_hand():
    m = regression_metrics(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0, 2.5]))
    assert m["mae"] == pytest.approx(0.25) and m["spearman"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 0.5 / 5.0)


def synthetic(n_materials=200, n_li=4, dim=8, seed=0):
    """Materials whose log10 target depends on two embedding coordinates and on temperature."""
    rng = np.random.default_rng(seed)
    emb_rows, labels, structures = [], [], []
    for m in range(n_materials):
        offset = rng.normal(0, 1.0, dim)  # what makes a material itself
        e = (offset + rng.normal(0, 0.1, (n_li, dim))).astype(np.float32)  # its Li sites differ a little
        signal = float(np.tanh(e[:, 0].mean()) + 0.5 * e[:, 1].mean())
        structures.append({"material_id": f"m{m}", "reduced_formula": f"Li{m + 1}O", "structure_json": "{}"})
        for k in range(n_li):
            emb_rows.append(
                {
                    "material_id": f"m{m}",
                    "atom_index": k,
                    "species": "Li",
                    "embedding": e[k],
                    "model": "7net-0",
                    "layer": 10,
                    "variant": "full",
                }
            )
        for T in (600.0, 1000.0):
            labels.append(
                {
                    "material_id": f"m{m}",
                    "temperature_K": T,
                    "status": "ok",
                    "msd_final_A2": 10 ** (signal + T / 1000.0),
                }
            )
    return pd.DataFrame(labels), pd.DataFrame(emb_rows), pd.DataFrame(structures)


def test_training_learns_and_checkpoint_loads_alone(tmp_path):
    labels, emb, structs = synthetic()
    cfg = TrainConfig(
        decoder_widths=[32, 32], epochs=40, patience=10, seeds=[0, 1], val_fraction=0.25, lr=1e-3, batch_materials=8
    )
    meta = train(
        labels,
        emb,
        structs,
        cfg,
        tmp_path / "model",
        tmp_path / "metrics.parquet",
        tmp_path / "pred.parquet",
        embedding_meta={"model": "7net-0", "layer": 10, "variant": "full"},
    ).meta
    metrics = schema.read_table(tmp_path / "metrics.parquet", "metrics")
    val = metrics[(metrics["split"] == "validation") & metrics["temperature_K"].isna()].iloc[0]
    y = np.log10(labels["msd_final_A2"].to_numpy())
    baseline = np.mean(np.abs(y - y.mean()))  # predicting the mean
    assert val["mae"] < 0.25 * baseline, (val["mae"], baseline)
    assert meta.temperature_range_K == [600.0, 1000.0]
    # The checkpoint reproduces the training-time predictions without ionscreen.learn.train.
    pred = schema.read_table(tmp_path / "pred.parquet", "training_predictions")
    p = load_predictor(tmp_path / "model")
    first = emb[emb["material_id"] == pred["material_id"].iloc[0]]
    batch = Batch.build([np.stack(first["embedding"].to_list())], [pred["temperature_K"].iloc[0]])
    mean, std, hidden = p.predict(batch)
    assert mean[0] == pytest.approx(pred["prediction"].iloc[0], abs=1e-5)
    assert std[0] == pytest.approx(pred["prediction_std"].iloc[0], abs=1e-5)
    assert hidden.shape == (1, 2 * cfg.hidden_dim)
    # The typed model card: model.json and the checkpoint hold the same ModelMeta.
    from ionscreen.learn.meta import ModelMeta

    assert ModelMeta.from_json(tmp_path / "model") == p.meta == meta
    assert p.meta.embedding == {"model": "7net-0", "layer": 10, "variant": "full"}


def test_rounding_noise_columns_do_not_move_predictions(tmp_path):
    """Embedding components that vanish by symmetry arrive as float32 rounding noise (~1e-7).
    Standardised to unit variance they became features, and predictions moved by 0.03 log10
    units under 1e-6 noise; treated as constant (spread < CONSTANT_STD) they move predictions
    by nothing that matters."""
    from ionscreen.learn.dataset import CONSTANT_STD

    labels, emb, structs = synthetic(n_materials=60, dim=8)
    rng = np.random.default_rng(1)
    noisy = [np.concatenate([e, rng.normal(0, 1e-7, 4).astype(np.float32)]) for e in emb["embedding"]]
    emb = emb.assign(embedding=noisy)
    cfg = TrainConfig(decoder_widths=[32, 32], epochs=30, patience=10, seeds=[0], val_fraction=0.25, batch_materials=8)
    train(labels, emb, structs, cfg, tmp_path / "model", tmp_path / "metrics.parquet", tmp_path / "pred.parquet")
    p = load_predictor(tmp_path / "model")
    assert np.all(p.x_std[8:12] == 1.0) and np.all(p.x_mean[8:12] == 0.0)  # the noise columns, linear term
    assert np.all(p.x_std[:8] > CONSTANT_STD)
    embs = [np.stack(g["embedding"].to_list()) for _, g in emb.groupby("material_id", sort=False)][:20]
    again = [
        e + np.concatenate([np.zeros((len(e), 8)), rng.normal(0, 1e-6, (len(e), 4))], axis=1).astype(np.float32)
        for e in embs
    ]
    a, _, _ = p.predict_materials(embs, [600.0, 1000.0])
    b, _, _ = p.predict_materials(again, [600.0, 1000.0])
    assert np.abs(a - b).max() < 1e-5


def test_too_few_samples_is_a_clear_error(tmp_path):
    labels, emb, structs = synthetic(n_materials=1)
    with pytest.raises(ValueError, match="usable samples"):
        train(labels.iloc[:1], emb, structs, TrainConfig(decoder_widths=[4]), tmp_path / "m")


def test_upper_bounds_train_as_censored_targets(tmp_path):
    """Slow materials whose MD gave only an upper bound on D: dropping them biases the model toward
    fast conductors; as censored targets they pull its predictions for slow materials down."""
    labels, emb, structs = synthetic(n_materials=160, seed=1)
    true = np.log10(labels["msd_final_A2"].to_numpy()) - 6.0  # a D-like target, log10 cm^2/s
    slow = true < np.quantile(true, 0.4)
    labels = labels.drop(columns="msd_final_A2").assign(
        D_cm2_s=np.where(slow, np.nan, 10**true),
        D_upper_cm2_s=np.where(slow, 10 ** (true + 0.3), np.nan),  # the bound lies above the value
        diffusive=~slow,
    )
    split = grouped_split(
        list(structs.set_index("material_id").loc[labels["material_id"], "reduced_formula"]), 0.3, 0.0, 0
    )
    held_out_slow = (split == "validation") & slow
    bias = {}
    for censored in (True, False):
        cfg = TrainConfig(
            target="D_cm2_s",
            decoder_widths=[32, 32],
            epochs=60,
            patience=15,
            seeds=[0],
            val_fraction=0.3,
            batch_materials=8,
            censored=censored,
            aml=False,
        )
        meta = train(
            labels,
            emb,
            structs,
            cfg,
            tmp_path / f"m{censored}",
            tmp_path / f"metrics{censored}.parquet",
            tmp_path / f"pred{censored}.parquet",
        ).meta
        pred = schema.read_table(tmp_path / f"pred{censored}.parquet", "training_predictions")
        assert meta.route == "structure-only"
        if censored:
            assert pred["censored"].sum() == slow.sum()  # every bound is a training sample
            metrics = schema.read_table(tmp_path / f"metrics{censored}.parquet", "metrics")
            n_val = metrics[
                (metrics["split"] == "validation") & metrics["temperature_K"].isna() & metrics["seed"].isna()
            ]["n"].iloc[0]
            assert n_val == ((split == "validation") & ~slow).sum()  # metrics: exact labels only
        p = load_predictor(tmp_path / f"m{censored}")
        rows = np.flatnonzero(held_out_slow)
        embs = [np.stack(emb[emb["material_id"] == labels["material_id"].iloc[i]]["embedding"].to_list()) for i in rows]
        mean, _, _ = p.predict(Batch.build(embs, labels["temperature_K"].to_numpy()[rows]))
        bias[censored] = float(np.mean(mean - true[rows]))
    print("bias on held-out slow materials (log10):", bias)
    assert bias[False] > 0.3  # without the bounds the slow materials are predicted too fast
    assert bias[True] < 0.5 * bias[False]
