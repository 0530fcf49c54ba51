"""Trajectory embeddings: spectrum, tiny random MOMENT from a local directory, labelled fallback."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest

from ionscreen import schema
from ionscreen.embed.trajectory import (
    FOURIER_ONLY,
    FourierEmbedder,
    MomentEmbedder,
    MomentUnavailable,
    displacement_spectrum,
    embed_trajectories,
    get_embedder,
)

TINY_T5 = {
    "architectures": ["T5ForConditionalGeneration"],
    "d_ff": 64,
    "d_kv": 16,
    "d_model": 32,
    "decoder_start_token_id": 0,
    "dense_act_fn": "gelu_new",
    "dropout_rate": 0.1,
    "eos_token_id": 1,
    "feed_forward_proj": "gated-gelu",
    "initializer_factor": 1.0,
    "is_encoder_decoder": True,
    "is_gated_act": True,
    "layer_norm_epsilon": 1e-06,
    "model_type": "t5",
    "n_positions": 512,
    "num_decoder_layers": 2,
    "num_heads": 2,
    "num_layers": 2,
    "output_past": True,
    "pad_token_id": 0,
    "relative_attention_max_distance": 128,
    "relative_attention_num_buckets": 32,
    "tie_word_embeddings": False,
    "use_cache": True,
    "vocab_size": 128,
}
CONFIG = {
    "task_name": "reconstruction",
    "model_name": "MOMENT",
    "transformer_type": "encoder_only",
    "d_model": None,
    "seq_len": 512,
    "patch_len": 8,
    "patch_stride_len": 8,
    "device": "cpu",
    "transformer_backbone": "google/flan-t5-small",
    "model_kwargs": {},
    "t5_config": TINY_T5,
}


@pytest.fixture(scope="module")
def tiny_moment(tmp_path_factory):
    """A randomly initialised MOMENT with the real architecture family, saved like the hub's."""
    import torch
    from momentfm import MOMENTPipeline

    torch.manual_seed(0)
    m = MOMENTPipeline(
        copy.deepcopy(CONFIG), model_kwargs={"task_name": "reconstruction", "enable_gradient_checkpointing": False}
    )
    d = tmp_path_factory.mktemp("moment") / "MOMENT-tiny"
    m.save_pretrained(str(d))
    return d


def test_spectrum_of_a_known_oscillation():
    t = np.arange(64)
    pos = np.zeros((64, 2, 3))
    pos[:, 0, 0] = 0.3 * np.sin(2 * np.pi * 8 * t / 64)  # atom 0 vibrates along x at bin 8
    pos[:, 1] += 5.0  # atom 1 sits still far from the origin
    spec = displacement_spectrum(pos)
    assert spec.shape == (2, 3, 33) and spec.dtype == np.float32
    assert spec[0, 0].argmax() == 8 and spec[0, 0, 8] == pytest.approx(0.3 * 32, rel=1e-5)
    assert np.abs(spec[1]).max() < 1e-6  # displacement, not position: a resting atom has no spectrum


def test_fourier_fallback_is_512_and_labelled(caplog):
    with caplog.at_level(logging.WARNING):
        emb = get_embedder(None)
    assert isinstance(emb, FourierEmbedder) and emb.name == FOURIER_ONLY
    assert "FALLING BACK" in caplog.text
    out = emb(np.random.default_rng(0).random((5, 3, 1251)).astype(np.float32))
    assert out.shape == (5, 512)


@pytest.mark.parametrize("mode", ["window512", "full"])
def test_tiny_moment_loads_offline_and_embeds(tiny_moment, mode):
    emb = MomentEmbedder(tiny_moment, mode=mode)
    assert emb.name == "moment:MOMENT-tiny"
    spectra = np.random.default_rng(1).random((4, 3, 1251)).astype(np.float32)
    out = emb(spectra)
    assert out.shape == (4, 32) and np.all(np.isfinite(out))
    assert not np.allclose(out[0], out[1])
    np.testing.assert_allclose(emb(spectra[:2]), out[:2], rtol=1e-5, atol=1e-6)  # batch-independent


def test_window_mode_averages_windows(tiny_moment):
    emb = MomentEmbedder(tiny_moment, mode="window512")
    one = np.random.default_rng(2).random((1, 3, 512)).astype(np.float32)
    twice = np.concatenate([one, one], axis=2)  # two identical full windows
    np.testing.assert_allclose(emb(twice), emb(one), rtol=1e-5, atol=1e-6)


def test_strict_loading_detects_a_mismatched_checkpoint(tiny_moment, tmp_path):
    import json
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_moment, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["t5_config"]["num_layers"] = 3  # config says 3 layers, weights have 2
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RuntimeError, match="Missing key"):
        MomentEmbedder(bad)


def test_missing_weights_fall_back(tmp_path, caplog):
    with pytest.raises(MomentUnavailable, match="lacks config.json, model.safetensors"):
        MomentEmbedder(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert get_embedder(tmp_path).name == FOURIER_ONLY


def test_table_from_trajectories(tmp_path, tiny_moment):
    from ionscreen.md.engine import MDSettings, run_md
    from ionscreen.md.recorder import skipped_run
    from tests.conftest import li3n

    run_md(
        li3n() * (2, 1, 1),
        MDSettings(temperature_K=900, n_steps=100, timestep_fs=1, interval=1, mlip="lj"),
        tmp_path / "a.parquet",
        material_id="Li3N",
        progress=False,
    )
    skipped_run(tmp_path / "b.parquet", "Li3N", MDSettings(temperature_K=1200), "rejected")
    n = embed_trajectories(
        [tmp_path / "a.parquet", tmp_path / "b.parquet"], tmp_path / "e.parquet", weights_dir=tiny_moment
    )
    df = schema.read_table(tmp_path / "e.parquet", "trajectory_embeddings")
    assert n == len(df) == 6  # 6 Li in Li3N x 2, only the run that finished
    assert set(df["embedder"]) == {"moment:MOMENT-tiny"} and set(df["temperature_K"]) == {900.0}
    assert len(df["embedding"][0]) == 32
    embed_trajectories([tmp_path / "a.parquet"], tmp_path / "f.parquet")
    assert set(schema.read_table(tmp_path / "f.parquet", "trajectory_embeddings")["embedder"]) == {FOURIER_ONLY}
