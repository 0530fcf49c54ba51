"""LiFlow archives and trajectory manifests into the project's tables."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Structure

from ionscreen import schema
from ionscreen.cli import main
from ionscreen.ingest.liflow import (
    IngestError,
    ingest_liflow,
    ingest_manifest,
    write_example_archive,
)
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.trajectory import load_trajectory
from tests.conftest import REPO

FAST = LabelSettings(n_dt=12, n_samples=100, n_burn=50)
TRAIN_DIR = REPO / "resources/structures/train"


def _structures(names=("Li3N", "Li2O", "LiF", "LiCl")):
    return [(n, Structure.from_file(TRAIN_DIR / f"{n}.json")) for n in names]


def test_liflow_archive_labels_split_and_trajectories(tmp_path):
    expected = write_example_archive(
        tmp_path / "arch", _structures(), temperatures=(600, 1000), n_frames=101, test_names=["LiF"]
    )
    n = ingest_liflow(tmp_path / "arch", tmp_path / "out", settings=FAST)
    assert n == {"structures": 4, "trajectories": 8, "labelled": 8}
    labels = schema.read_table(tmp_path / "out/labels.parquet", "labels")
    m = labels.merge(expected, left_on=["material_id", "temperature_K"], right_on=["name", "temp"])
    assert len(m) == 8
    # Our MSD recomputed from the positions equals LiFlow's msd_t_Li (and it is kept alongside).
    np.testing.assert_allclose(m["msd_per_time_A2_ps"], m["msd_t_Li"], rtol=1e-5)
    np.testing.assert_allclose(m["reference_msd_per_time_A2_ps"], m["msd_t_Li"], rtol=1e-12)
    assert (m["split_x"] == m["split_y"]).all() and set(labels.loc[labels["split"] == "test", "material_id"]) == {"LiF"}
    np.testing.assert_allclose(m["duration_ps"], 1.0)
    assert (m["msd_t_Li"] > 0).all()
    # Faster at 1000 K than at 600 K for every material (the archive's Arrhenius law).
    wide = labels.pivot(index="material_id", columns="temperature_K", values="msd_per_time_A2_ps")
    assert (wide[1000.0] > wide[600.0]).all()
    structs = schema.read_table(tmp_path / "out/structures.parquet", "structures").set_index("material_id")
    assert structs.loc["Li3N", "reduced_formula"] == "Li3N" and structs.loc["Li2O", "nsites"] == 3
    traj, meta = load_trajectory(tmp_path / "out/trajectories/Li3N/1000K.parquet")
    assert (
        traj.n_frames == 101 and traj.frame_dt_ps == pytest.approx(0.01) and meta["ingested_from"].startswith("liflow:")
    )
    arch = np.load(tmp_path / "arch/positions_1000K.npz")
    np.testing.assert_array_equal(traj.positions_A.astype(np.float32), arch["Li3N"])


def test_example_archive_has_liflows_own_layout(tmp_path):
    """What LiFlow's loader (liflow/data/dataset.py) does with the files works on ours."""
    write_example_archive(tmp_path / "arch", _structures(["Li3N", "LiCl"]), temperatures=(600,), n_frames=11)
    element_idx = np.load(tmp_path / "arch/element_index.npy")  # a plain array, no pickle
    numbers = np.load(tmp_path / "arch/atomic_numbers.npy", allow_pickle=True).item()
    lattice = np.load(tmp_path / "arch/lattice.npy", allow_pickle=True).item()
    assert element_idx.ndim == 1 and element_idx[[3, 7, 17]].tolist() == [0, 1, 2]
    assert sorted(element_idx[numbers["Li3N"]].tolist()) == [0, 0, 0, 1] and lattice["LiCl"].shape == (3, 3)
    row = pd.read_csv(tmp_path / "arch/train_600K.csv").iloc[0]
    frames = np.load(tmp_path / "arch/positions_600K.npz")[row["name"]]
    assert (row["t_start"], row["t_end"]) == (0, 11) and frames[row["t_start"] : row["t_end"]].shape[0] == 11


def test_liflow_window_is_frame_indices(tmp_path):
    arch = tmp_path / "arch"
    expected = write_example_archive(arch, _structures(["Li3N", "Li2O"]), temperatures=(800,), n_frames=101)
    csv = pd.read_csv(arch / "train_800K.csv")
    csv["t_start"], csv["t_end"] = 20, 81  # frames 20..80: 60 frame intervals = 0.6 ps of the 1 ps run
    csv.loc[csv["name"] == "Li2O", "t_end"] = 102  # past the last frame
    csv.to_csv(arch / "train_800K.csv", index=False)
    ingest_liflow(arch, tmp_path / "out", settings=FAST)
    labels = schema.read_table(tmp_path / "out/labels.parquet", "labels").set_index("material_id")
    full = expected.set_index("name")["msd_t_Li"]
    # Straight-line motion: MSD/t grows linearly with the window, so 0.6 ps gives 0.6 x the full run's.
    assert labels.loc["Li3N", "status"] == "ok" and labels.loc["Li3N", "n_frames"] == 61
    np.testing.assert_allclose(labels.loc["Li3N", "duration_ps"], 0.6)
    np.testing.assert_allclose(labels.loc["Li3N", "msd_per_time_A2_ps"], 0.6 * full["Li3N"], rtol=1e-5)
    assert labels.loc["Li2O", "status"] == "failed"
    assert "does not fit the trajectory's 101 frames" in labels.loc["Li2O", "reason"]


def test_dict_style_element_index_is_refused_clearly(tmp_path):
    arch = tmp_path / "arch"
    write_example_archive(arch, _structures(["Li2O"]), temperatures=(600,), n_frames=11)
    np.save(arch / "element_index.npy", np.array({"Li2O": np.array([3, 8])}, dtype=object), allow_pickle=True)
    with pytest.raises(IngestError, match="element lookup table, a plain integer array"):
        ingest_liflow(arch, tmp_path / "out")


def test_liflow_ingest_memory_is_bounded(tmp_path):
    """Peak Python/numpy memory does not grow with the archive: 4x the structures, same peak."""
    base = Structure.from_file(TRAIN_DIR / "Li2O.json") * (3, 3, 3)  # 81 atoms
    write_example_archive(tmp_path / "warm", [("w", base.copy())], temperatures=(600,), n_frames=801)
    ingest_liflow(tmp_path / "warm", tmp_path / "warm_out", settings=FAST)  # imports and caches out of the way
    peaks, sizes = {}, {}
    for n in (4, 16):
        arch = tmp_path / f"arch{n}"
        write_example_archive(arch, [(f"m{i}", base.copy()) for i in range(n)], temperatures=(600, 800), n_frames=801)
        sizes[n] = sum(p.stat().st_size for p in arch.glob("positions_*.npz"))
        tracemalloc.start()
        ingest_liflow(arch, tmp_path / f"out{n}", settings=FAST)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{n} structures: archive {sizes[n] / 1e6:.1f} MB, peak traced {peaks[n] / 1e6:.1f} MB")
    assert sizes[16] > 3.9 * sizes[4]
    assert peaks[16] < 1.25 * peaks[4], peaks


def test_liflow_errors_are_specific(tmp_path):
    with pytest.raises(IngestError, match="not a LiFlow data archive"):
        ingest_liflow(tmp_path, tmp_path / "out")
    write_example_archive(tmp_path / "arch", _structures(["Li2O"]), temperatures=(600,), n_frames=21)
    pd.DataFrame([{"name": "Li2O", "temp": 600}]).to_csv(tmp_path / "arch/test_600K.csv", index=False)
    with pytest.raises(IngestError, match="listed twice"):
        ingest_liflow(tmp_path / "arch", tmp_path / "out")


def test_cli_ingest_liflow(tmp_path, capsys):
    write_example_archive(tmp_path / "arch", _structures(["Li2O", "LiF"]), temperatures=(800,), n_frames=41)
    assert main(["ingest-liflow", str(tmp_path / "arch"), "--out", str(tmp_path / "out"), "--n-dt", "10"]) == 0
    assert "2 structures, 2 trajectories (2 labelled)" in capsys.readouterr().out
    assert main(["ingest-liflow", str(tmp_path / "nothing"), "--out", str(tmp_path / "o2")]) == 2


def test_manifest_ingest_of_own_md(tmp_path, kinisi_inputs):
    xdatcar = kinisi_inputs / "example_XDATCAR.gz"
    (tmp_path / "md").mkdir()
    (tmp_path / "md/run.XDATCAR.gz").write_bytes(xdatcar.read_bytes())
    pd.DataFrame(
        [
            {
                "material_id": "lps",
                "temperature_K": 600,
                "path": "md/run.XDATCAR.gz",
                "timestep_fs": 2,
                "interval": 50,
                "split": "train",
            },
            {
                "material_id": "gone",
                "temperature_K": 600,
                "path": "md/missing.xyz",
                "timestep_fs": 2,
                "interval": 50,
                "split": "train",
            },
        ]
    ).to_csv(tmp_path / "manifest.csv", index=False)
    n = ingest_manifest(tmp_path / "manifest.csv", tmp_path / "out", settings=FAST)
    assert n == {"structures": 1, "trajectories": 2, "labelled": 1}
    labels = schema.read_table(tmp_path / "out/labels.parquet", "labels").set_index("material_id")
    assert labels.loc["gone", "status"] == "failed" and labels.loc["lps", "split"] == "train"
    assert labels.loc["lps", "msd_final_A2"] > 1.0
    traj, _ = load_trajectory(tmp_path / "out/trajectories/lps/600K.parquet")
    assert traj.frame_dt_ps == pytest.approx(0.1)
