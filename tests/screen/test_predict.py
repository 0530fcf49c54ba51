"""Prediction-side logic: Arrhenius of predictions, flags, ranks."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from ionscreen.labels.transport import K_B_EV
from ionscreen.screen.predict import add_arrhenius


def test_arrhenius_of_predictions_recovers_Ea():
    T = np.array([600.0, 800.0, 1000.0, 1200.0])
    rows = []
    for mid, ea in (("fast", 0.2), ("slow", 0.6)):
        y = -3 - ea / (K_B_EV * T * math.log(10))  # log10 D
        rows += [
            {"material_id": mid, "temperature_K": t, "prediction": v, "target": "D_cm2_s"}
            for t, v in zip(T, y, strict=True)
        ]
    out = add_arrhenius(pd.DataFrame(rows)).groupby("material_id").first()
    assert out.loc["fast", "Ea_eV"] == pytest.approx(0.2) and out.loc["slow", "Ea_eV"] == pytest.approx(0.6)
    assert out.loc["fast", "prediction_300K"] == pytest.approx(-3 - 0.2 / (K_B_EV * 300 * math.log(10)))
    assert bool(out.loc["fast", "extrapolated_300K"]) is True


def test_single_temperature_has_no_fit():
    out = add_arrhenius(
        pd.DataFrame([{"material_id": "m", "temperature_K": 800.0, "prediction": -1.0, "target": "D_cm2_s"}])
    )
    assert np.isnan(out["Ea_eV"].iloc[0])


def test_arrhenius_of_sigma_predictions_fits_sigma_T():
    """sigma ~ D / T (Nernst-Einstein): a ln(sigma) fit gives Ea k_B T too low (0.229 eV for 0.300)."""
    T = np.array([600.0, 800.0, 1000.0, 1200.0])
    ea, prefactor = 0.3, 5e3  # eV; S K / cm
    y = np.log10(prefactor / T * np.exp(-ea / (K_B_EV * T)))
    rows = [
        {"material_id": "m", "temperature_K": t, "prediction": v, "target": "sigma_S_cm"}
        for t, v in zip(T, y, strict=True)
    ]
    out = add_arrhenius(pd.DataFrame(rows)).iloc[0]
    assert out["Ea_eV"] == pytest.approx(0.3, abs=1e-9) and out["Ea_kind"] == "activation (sigma T)"
    assert out["prediction_300K"] == pytest.approx(np.log10(prefactor / 300 * np.exp(-ea / (K_B_EV * 300))), abs=1e-9)


def test_arrhenius_of_msd_predictions_says_it_is_apparent():
    T = np.array([800.0, 1000.0])
    rows = [
        {"material_id": "m", "temperature_K": t, "prediction": v, "target": "msd_final_A2"}
        for t, v in zip(T, [0.1, 0.3], strict=True)
    ]
    assert set(add_arrhenius(pd.DataFrame(rows))["Ea_kind"]) == {"apparent (MSD)"}


@pytest.fixture(scope="module")
def tiny_model(tiny_run):
    """A small predictor on 977-d embeddings (random, seeded), enough to compare two code paths."""
    return tiny_run[0] / "model"


def test_factorised_prediction_equals_the_per_sample_batch(tiny_model):
    from ionscreen.learn.model import Batch, load_predictor

    p = load_predictor(tiny_model)
    rng = np.random.default_rng(1)
    embs = [rng.normal(0, 1, (n, 977)).astype(np.float32) for n in (1, 4, 7)]
    temps = [600.0, 800.0, 1200.0]
    mean, std, hidden = p.predict_materials(embs, temps)
    ref_mean, ref_std, ref_hidden = p.predict(Batch.build([e for e in embs for _ in temps], temps * len(embs)))
    np.testing.assert_allclose(mean.ravel(), ref_mean, atol=1e-5)
    np.testing.assert_allclose(std.ravel(), ref_std, atol=1e-5)
    np.testing.assert_allclose(hidden, ref_hidden, atol=1e-5)
    d = p.nearest_training_distance(hidden, chunk=2)  # chunked = all at once
    ref = np.linalg.norm(hidden[:, None] - p.train_hidden[None], axis=-1).min(axis=1)
    np.testing.assert_allclose(d, ref, rtol=1e-5, atol=1e-5)


def test_the_screener_is_set_up_without_torch_so_its_readers_start_first(tiny_model):
    """Everything the readers need (the model's embedding settings, SevenNet's species and cutoff,
    the reader count) comes without importing torch, so ``screen`` forks the readers before this
    process spends 1-2 s importing torch and loading the models; ``load`` then loads them."""
    import subprocess
    import sys

    code = (
        "import sys; from ionscreen.screen.screener import Screener; "
        f"s = Screener({str(tiny_model)!r}, device='auto', room_temperature_model='obelix-rt'); "
        "print('torch' in sys.modules, s.workers, s.cutoff, s.engine == ''); s.load(); "
        "print('torch' in sys.modules, s.engine, s.batch_atoms, s.predictor.meta.embedding['layer'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    cores = os.cpu_count() or 1
    assert out[0].split() == ["False", str(cores if cores >= 2 else 0), "5.0", "True"]
    assert out[1].split() == ["True", "firstblock", "256", "10"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_screener_equals_the_plain_path(tiny_model, workers):
    """Parse once, ordering without Site objects, graphs built by a reader process, the regrouped
    convolution, Li-only aggregation, factorised encoder: same numbers, flags, ranks and
    rejections as prepare -> JSON -> embed every atom with e3nn's convolution -> predict_table."""
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.screen.predict import predict_table
    from ionscreen.screen.screener import Screener
    from ionscreen.structures.prepare import candidate_settings, prepare_many, structure_from_row
    from ionscreen.structures.sources import material_id
    from tests.conftest import REPO

    files = [REPO / "resources/structures/candidates" / f for f in ("LiBr.json", "obelix-jqc.cif", "Li10GeP2S12.json")]
    files.append(REPO / ".test/bad/no-li-SiS4.cif")
    got, bad = Screener(tiny_model, device="cpu", workers=workers).screen(files, [600.0, 1000.0], 800.0, progress=False)
    ok, ref_bad = prepare_many(
        [(material_id(f), str(f), f) for f in files], candidate_settings(device="cpu"), relax=False, progress=False
    )
    stock = SevenNetEmbedder(variant="full", device="cpu", engine="e3nn")
    rows = stock([(r["material_id"], structure_from_row(r)) for r in ok], progress=False)
    from ionscreen.learn.model import load_predictor

    ref = predict_table(load_predictor(tiny_model), pd.DataFrame(ok), pd.DataFrame(rows), [600.0, 1000.0], 800.0)
    key = ["material_id", "temperature_K"]
    got, ref = got.sort_values(key).reset_index(drop=True), ref.sort_values(key).reset_index(drop=True)
    assert list(got["material_id"]) == list(ref["material_id"]) and len(got) == 9  # 3 candidates x 3 T
    np.testing.assert_allclose(got["prediction"], ref["prediction"], atol=1e-5)
    np.testing.assert_allclose(got["prediction_std"], ref["prediction_std"], atol=1e-5)
    assert [list(f) for f in got["flags"]] == [list(f) for f in ref["flags"]]
    assert list(got["rank"]) == list(ref["rank"])
    assert [b["reason"] for b in bad] == [b["reason"] for b in ref_bad] == ["no Li in SiS4"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_room_temperature_columns_from_the_readers_equal_the_files_as_given(tiny_model, workers, tmp_path):
    """obelix-rt's inputs computed in the readers (each file parsed once, for both models) give
    the sigma_rt_* columns ``RoomTempModel.file_columns`` gives from the files as given, to 1e-6:
    ordered and disordered CIFs, a JSON, an unreadable file and one without Li among them."""
    import shutil

    from ionscreen.roomtemp.model import RT_COLUMNS, RoomTempModel
    from ionscreen.screen.screener import Screener
    from tests.conftest import REPO

    cands = REPO / "resources/structures/candidates"
    files = [cands / f for f in ("LiBr.json", "obelix-jqc.cif", "Li10GeP2S12.json", "LiFePO4.json")]
    files += [REPO / ".test/bad/no-li-SiS4.cif", REPO / ".test/bad/broken.cif"]
    # The same composition twice under another name: the composition cache must not mix them up.
    shutil.copy(cands / "LiBr.json", tmp_path / "LiBr-copy.json")
    files.append(tmp_path / "LiBr-copy.json")
    got, bad = Screener(tiny_model, device="cpu", workers=workers, room_temperature_model="obelix-rt").screen(
        files, [600.0], progress=False
    )
    ref = RoomTempModel.named("obelix-rt").file_columns(files).set_index("material_id")
    got = got.drop_duplicates("material_id").set_index("material_id")
    assert set(got.index) == {"LiBr", "obelix-jqc", "Li10GeP2S12", "LiFePO4", "LiBr-copy"}
    assert {b["code"] for b in bad} >= {"no_li"} and len(bad) == 2
    ref = ref.loc[got.index]
    np.testing.assert_allclose(got[RT_COLUMNS[0]], ref[RT_COLUMNS[0]], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got[RT_COLUMNS[1]], ref[RT_COLUMNS[1]], rtol=0, atol=1e-6)
    assert [list(f) for f in got[RT_COLUMNS[2]]] == [list(f) for f in ref[RT_COLUMNS[2]]]
    assert got.loc["LiBr", RT_COLUMNS[0]] == got.loc["LiBr-copy", RT_COLUMNS[0]]


def _training_embedding(tiny_run):
    """The Li embeddings and formula of one material the tiny model trained on."""
    from ionscreen.learn.model import load_predictor

    out, emb, structures, _ = tiny_run
    first = load_predictor(out / "model").meta.training_materials[0]
    rows = emb[emb["material_id"] == first].sort_values("atom_index")
    return np.stack(rows["embedding"].to_list()), next(
        s["reduced_formula"] for s in structures if s["material_id"] == first
    )


def test_predict_table_sets_each_flag_for_its_reason(tiny_model, tiny_run):
    """Every flag of the predictions table, each raised by exactly its cause (docs/screen.md, "Screening flags")."""
    from ionscreen.learn.model import load_predictor
    from ionscreen.screen.predict import predict_table

    e, formula = _training_embedding(tiny_run)
    cases = {  # material -> (structures row overrides, embedding)
        "plain": ({}, e),
        "disordered": ({"ordering": "random ordering of 1 site group (seed 0) in 1x1x2"}, e),
        "approximate": ({"ordering": "best ordering found", "ordering_error": 0.08}, e),
        "unrelaxed": ({"relax_converged": False}, e),
        "stranger": ({"reduced_formula": "LiPuO3"}, e),
        "far": ({}, e + 3.0),  # every feature shifted: hidden distance ~1.7 vs ~0.05 for the training material
    }
    structures, emb = [], []
    for mid, (over, x) in cases.items():
        structures.append(
            {
                "material_id": mid,
                "reduced_formula": formula,
                "ordering": "none",
                "ordering_error": 0.0,
                "relax_converged": None,
                **over,
            }
        )
        emb += [
            {
                "material_id": mid,
                "atom_index": k,
                "species": "Li",
                "embedding": x[k],
                "model": "7net-0",
                "layer": 10,
                "variant": "full",
            }
            for k in range(3)
        ]
    predictor = load_predictor(tiny_model)
    # A 3-epoch model's LayerNorm'd hidden space keeps every distance below its validation
    # threshold (3.4); a threshold between the two distances tests the comparison itself.
    predictor.meta.far_threshold = 1.0
    df = predict_table(predictor, pd.DataFrame(structures), pd.DataFrame(emb), [800.0, 1200.0], 800.0)
    assert df.loc[df["material_id"] == "plain", "nearest_training_distance"].max() < 0.5
    # Two flags follow from the model, not the candidate: the tiny model learnt from full-variant
    # embeddings in the given frame (orientation_dependent) and has no held-out skill (its random
    # labels cannot be learnt): every row carries both.
    model_flags = {"orientation_dependent", "no_demonstrated_skill"}
    assert all(model_flags <= set(f) for f in df["flags"])
    flags = {(r.material_id, r.temperature_K): set(r.flags) - model_flags for r in df.itertuples()}
    expected = {
        "plain": set(),
        "disordered": {"disorder_resolved"},
        "approximate": {"disorder_resolved", "composition_approximate"},
        "unrelaxed": {"relaxation_not_converged"},
        "stranger": {"elements_unseen_in_training"},
        "far": {"far_from_training"},
    }
    for mid, want in expected.items():
        assert flags[(mid, 800.0)] == want, (mid, flags[(mid, 800.0)])
        # 1200 K lies above the training temperatures (600-1000 K): flagged for every candidate
        assert flags[(mid, 1200.0)] - {"far_from_training"} == want - {"far_from_training"} | {
            "temperature_outside_training"
        }
    assert sorted(df.drop_duplicates("material_id")["rank"]) == list(range(1, 7))


def test_screen_tables_carries_the_room_temperature_model(tiny_model, embedder, tmp_path):
    """The shard job's table: the workflow model's predictions and obelix-rt's sigma at 300 K per candidate."""
    from ionscreen import schema
    from ionscreen.screen.predict import screen_tables
    from ionscreen.structures.prepare import candidate_settings, prepare_structure, read_structure
    from tests.conftest import REPO

    rows = []
    for name in ("LiBr.json", "obelix-jqc.cif"):
        f = REPO / "resources/structures/candidates" / name
        rows.append(
            {
                "material_id": f.stem,
                "source": str(f),
                **prepare_structure(read_structure(f), candidate_settings(), None, None),
            }
        )
    schema.write_table(rows, tmp_path / "s.parquet", "structures")
    from ionscreen.structures.prepare import structure_from_row

    schema.write_table(
        embedder([(r["material_id"], structure_from_row(r)) for r in rows], progress=False),
        tmp_path / "e.parquet",
        "embeddings",
    )
    df = screen_tables(
        tiny_model,
        tmp_path / "s.parquet",
        tmp_path / "e.parquet",
        [600.0, 1000.0],
        tmp_path / "p.parquet",
        600.0,
        room_temperature_model="obelix-rt",
    )
    back = schema.read_table(tmp_path / "p.parquet", "predictions")
    assert len(back) == 4 and back["sigma_rt_log10_S_cm"].notna().all() and len(df) == 4
    per = back.groupby("material_id")["sigma_rt_log10_S_cm"].agg(["min", "max"])
    assert (per["min"] == per["max"]).all()  # one room-temperature value per material, at every T row
    # Li7BiO6 (OBELiX jqc, measured 1.6e-6 S/cm, in obelix-rt's training data) comes back near it
    assert abs(per.loc["obelix-jqc", "min"] - np.log10(1.58489e-06)) < 0.5
    assert schema.read_provenance(tmp_path / "p.parquet")["room_temperature_model"] == "obelix-rt"
    # the ranking merge keeps what the shards say (the report names the room-temperature model)
    from ionscreen.screen.predict import merge_predictions

    merge_predictions([tmp_path / "p.parquet"], tmp_path / "ranking.parquet", 600.0)
    assert schema.read_provenance(tmp_path / "ranking.parquet")["room_temperature_model"] == "obelix-rt"
    ranked = schema.read_table(tmp_path / "ranking.parquet", "predictions")
    assert ranked["sigma_rt_log10_S_cm"].notna().all() and sorted(ranked["rank"].unique()) == [1, 2]


def test_readers_stay_within_the_prefetch_window(tiny_model):
    """Reading outpaces embedding on CPUs now: at most ``prefetch`` files are read ahead of the
    consumer (memory bounded by the window, not by the candidate count), refilled in bursts, every
    file still comes back in order, and a consumer that stops early does not leave the pool's
    feeder waiting."""
    import threading
    import time

    from ionscreen.screen.screener import Screener
    from tests.conftest import REPO

    screener = Screener(tiny_model, device="cpu", workers=1, chunk=2)
    assert screener.prefetch == 4
    files = sorted((REPO / "resources/structures/candidates").glob("*.json"))[:3] * 8
    items = [(f"m{k}", "test", f) for k, f in enumerate(files)]
    ahead, fed, ids = [], [], []
    stream = screener._prepared(items)
    assert next(stream) is None  # the readers have started
    for row, rejected in stream:
        ids.append((row or rejected)["material_id"])
        time.sleep(0.05)  # a slow embedder
        fed.append(screener._reader.submitted)
        ahead.append(fed[-1] - len(ids))
    assert ids == [m for m, _, _ in items]
    assert max(ahead) == screener.prefetch  # the reader ran ahead as far as the window allows, no further
    full = ahead.index(screener.prefetch)
    refills = set(np.diff(fed[full:]).tolist()) - {0}
    assert refills == {screener.prefetch // 2}  # in bursts: half a window at a time, once half is free
    assert screener._reader is None and screener._readers_idle() is False

    stream = screener._prepared(items)
    next(stream), next(stream)
    closer = threading.Thread(target=stream.close)
    closer.start()
    closer.join(timeout=30)
    if closer.is_alive():  # say where it waits (every thread's stack on stderr), then fail
        import faulthandler

        faulthandler.dump_traceback(all_threads=True)
    assert not closer.is_alive()


def test_screener_says_when_there_is_nothing_to_screen(tiny_model, tmp_path):
    """A directory of sub-directories is not searched: a clear error, not an empty ranking."""
    from ionscreen.screen.screener import Screener

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "LiBr.cif").write_text("data_x\n")
    with pytest.raises(FileNotFoundError, match="not searched recursively"):
        Screener(tiny_model, device="cpu", workers=0).screen([tmp_path], [600.0], progress=False)


def test_no_activation_energy_without_temperature_dependence():
    """A model trained at one temperature, or predictions flat in T, give no Ea (flagged), and 300 K
    counts as extrapolated whenever it lies outside the model's training temperatures."""
    from ionscreen.screen.predict import add_arrhenius

    rows = [
        {"material_id": m, "temperature_K": t, "target": "log10_sigma_S_cm", "prediction": p(t), "flags": []}
        for m, p in (("flat", lambda t: -4.1), ("rising", lambda t: -4.0 - 300.0 / t))
        for t in (300.0, 600.0, 1200.0)
    ]
    df = pd.DataFrame(rows)
    one_T = add_arrhenius(df, [300.0, 300.0])  # a 300 K-only model: predictions above 300 K are made up
    assert one_T["Ea_eV"].isna().all()
    assert all("no_temperature_dependence" in f for f in one_T["flags"])
    assert (one_T["prediction_300K"] == one_T.loc[one_T["temperature_K"] == 300.0, "prediction"].repeat(3).values).all()
    assert not one_T["extrapolated_300K"].any()  # 300 K is the training temperature itself
    ranged = add_arrhenius(df, [600.0, 1200.0])
    flat, rising = ranged[ranged["material_id"] == "flat"], ranged[ranged["material_id"] == "rising"]
    assert flat["Ea_eV"].isna().all() and all("no_temperature_dependence" in f for f in flat["flags"])
    assert (rising["Ea_eV"] > 0).all() and not any("no_temperature_dependence" in f for f in rising["flags"])
    assert ranged["extrapolated_300K"].all()  # 300 K lies below the training temperatures
