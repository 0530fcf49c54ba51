"""The AML paper's table (``evaluate.paper_table``) on a small real set: SevenNet embeddings of
real cells, a tiny model, the data set's own test split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ionscreen import schema
from ionscreen.embed.structure import SevenNetEmbedder, embedding_meta_of
from ionscreen.learn.config import TrainConfig
from ionscreen.learn.evaluate import PUBLISHED, paper_table
from ionscreen.learn.model import Batch, load_predictor
from ionscreen.learn.train import train
from ionscreen.structures.prepare import candidate_settings, prepare_structure, read_structure
from tests.conftest import REPO

NAMES = ["LiF", "LiCl", "Li2O", "Li2S", "Li3N", "Li2O2"]


def test_paper_table_scores_the_test_split_and_lists_the_published_rows(tmp_path):
    structs = []
    for n in NAMES:
        row = prepare_structure(
            read_structure(REPO / f"resources/structures/train/{n}.json"), candidate_settings(), None, None
        )
        structs.append({"material_id": n, "source": "test", **row})
    schema.write_table(structs, tmp_path / "structures.parquet", "structures")
    emb = pd.DataFrame(
        SevenNetEmbedder(device="cpu")(
            [
                (s["material_id"], read_structure(REPO / f"resources/structures/train/{s['material_id']}.json"))
                for s in structs
            ],
            progress=False,
        )
    )
    rng = np.random.default_rng(0)
    labels = [
        {
            "material_id": n,
            "temperature_K": t,
            "status": "ok",
            "msd_final_A2": float(10 ** rng.normal(0.5, 0.3)),
            "split": "test" if n in ("Li3N", "Li2O2") else "train",
        }
        for n in NAMES
        for t in (600.0, 1000.0)
    ]
    schema.write_table(labels, tmp_path / "labels.parquet", "labels")
    train(
        pd.DataFrame(labels),
        emb,
        pd.DataFrame(structs),
        TrainConfig(decoder_widths=[8], epochs=2, seeds=[0], aml=False, val_fraction=0.25),
        tmp_path / "model",
        embedding_meta=embedding_meta_of(emb),
    )

    df = paper_table(
        tmp_path / "model",
        tmp_path / "structures.parquet",
        tmp_path / "labels.parquet",
        tmp_path / "paper.parquet",
        markdown_out=tmp_path / "paper.md",
        device="cpu",
    )
    ours = df[df["method"].str.startswith("ionscreen")].set_index("temperature_K")
    assert list(ours.index) == [600.0, 1000.0] and (ours["n_test"] == 2).all()
    # the same numbers by hand: embed the two test cells, predict, MAE of log10 per temperature
    p = load_predictor(tmp_path / "model")
    by = {m: np.stack(g["embedding"].to_list()) for m, g in emb.groupby("material_id")}
    lab = pd.DataFrame(labels).query("split == 'test'")
    for t in (600.0, 1000.0):
        sel = lab[lab["temperature_K"] == t]
        pred, _, _ = p.predict(Batch.build([by[m] for m in sel["material_id"]], [t] * len(sel)))
        mae = np.mean(np.abs(pred - np.log10(sel["msd_final_A2"].to_numpy())))
        assert abs(ours.loc[t, "mae"] - mae) < 1e-5
    published = df[~df["method"].str.startswith("ionscreen")]
    assert set(published["method"]) == set(PUBLISHED) and len(published) == 4 * len(PUBLISHED)
    assert published.set_index(["method", "temperature_K"]).loc[("AML (full)", 800.0), "mae"] == 0.367
    md = (tmp_path / "paper.md").read_text()
    assert md.startswith("| method | test materials | inference (s) | 600 K | 800 K | 1000 K | 1200 K |")
