"""MD plumbing with ASE's Lennard-Jones (fast) and one real SevenNet-0 smoke run."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from ionscreen import schema
from ionscreen.md.engine import MDError, MDSettings, run_md
from ionscreen.md.stage import md_batch_job
from ionscreen.trajectory import load_trajectory
from tests.conftest import li3n


def lj(**kw) -> MDSettings:
    return MDSettings(
        **{
            "temperature_K": 600.0,
            "n_steps": 40,
            "timestep_fs": 1.0,
            "interval": 4,
            "mlip": "lj",
            "seed": 7,
            "chunk_frames": 3,
            **kw,
        }
    )


def test_trajectory_table_and_metadata(tmp_path):
    out = tmp_path / "t.parquet"
    row = run_md(li3n() * (2, 2, 2), lj(), out, material_id="Li3N", progress=False)
    assert row["status"] == "ok" and row["n_frames"] == 11 and row["n_steps"] == 40
    df = schema.read_table(out, "trajectory")
    assert df["frame"].tolist() == list(range(11))
    assert df["time_ps"].iloc[-1] == pytest.approx(0.040)
    assert len(df["positions_A"][0]) == 32 * 3
    meta = schema.read_provenance(out)
    assert meta["atomic_numbers"].count(3) == 24 and meta["seed"] == 7 and meta["mlip"] == "lj"
    assert meta["thermostat"] == "nose-hoover" and meta["interval_steps"] == 4


def test_seeded_runs_are_reproducible_and_seeds_differ(tmp_path):
    a = run_md(li3n(), lj(), tmp_path / "a.parquet", progress=False)
    b = run_md(li3n(), lj(), tmp_path / "b.parquet", progress=False)
    c = run_md(li3n(), lj(seed=8), tmp_path / "c.parquet", progress=False)
    assert a["status"] == b["status"] == c["status"] == "ok"
    pa_ = load_trajectory(tmp_path / "a.parquet")[0].positions_A
    np.testing.assert_array_equal(pa_, load_trajectory(tmp_path / "b.parquet")[0].positions_A)
    assert not np.allclose(pa_, load_trajectory(tmp_path / "c.parquet")[0].positions_A)


def test_positions_are_unwrapped(tmp_path):
    # A small cell and a hot run: atoms cross the cell boundary, positions must not jump back.
    # kT at 3000 K is 25x LJ's well depth: the atoms of a 3.2 A Li3N cell fly across it.
    row = run_md(li3n(), lj(temperature_K=3000.0, n_steps=400, interval=2), tmp_path / "t.parquet", progress=False)
    assert row["status"] == "ok"
    traj, _ = load_trajectory(tmp_path / "t.parquet")
    steps = np.linalg.norm(np.diff(traj.positions_A, axis=0), axis=-1)
    assert steps.max() < 1.0  # no frame-to-frame jump of about a cell length (3.2-3.9 A)
    assert np.abs(traj.positions_A - traj.positions_A[0]).max() > 3.0  # it did leave the cell


@pytest.mark.parametrize("name", ["langevin", "andersen"])
def test_thermostats_that_suppress_diffusion_are_refused(tmp_path, name):
    with pytest.raises(MDError, match="refused for transport labels"):
        run_md(li3n(), lj(thermostat=name), tmp_path / "t.parquet", progress=False)


@pytest.mark.parametrize("name", ["NVE", "Nve", " nve "])
def test_thermostat_names_are_taken_in_any_case(tmp_path, name):
    """'NVE' runs NVE (constant total energy), not the default Nose-Hoover."""
    from ase import units

    row = run_md(
        li3n() * (2, 2, 2),
        lj(thermostat=name, n_steps=200, interval=20, temperature_K=300.0),
        tmp_path / "t.parquet",
        progress=False,
    )
    assert row["status"] == "ok" and row["thermostat"] == "nve"
    assert schema.read_provenance(tmp_path / "t.parquet")["thermostat"] == "nve"
    df = schema.read_table(tmp_path / "t.parquet", "trajectory")
    kinetic = df["temperature_K"].to_numpy() * 0.5 * units.kB * (3 * 32 - 3)  # over 3N - 3 degrees of freedom
    total = df["potential_energy_eV"].to_numpy() + kinetic
    assert np.ptp(total) < 0.01 * np.ptp(df["potential_energy_eV"].to_numpy()) + 1e-6


@pytest.mark.parametrize("name", ["nosehoover", "Langevine", "npt"])
def test_unknown_thermostats_are_refused(tmp_path, name):
    with pytest.raises(MDError, match="unknown thermostat"):
        run_md(li3n(), lj(thermostat=name), tmp_path / "t.parquet", progress=False)


def test_divergence_stops_the_run_with_a_reason(tmp_path):
    # Two atoms 0.4 A apart: the collapse check fires on the first frame.
    s = Structure(Lattice.cubic(5.0), ["Li", "Li", "N"], [[0, 0, 0], [0.08, 0, 0], [0.5, 0.5, 0.5]])
    row = run_md(s, lj(), tmp_path / "t.parquet", progress=False)
    assert row["status"] == "failed" and "atoms collapsed" in row["reason"]
    assert schema.read_provenance(tmp_path / "t.parquet")["status"] == "failed"


def test_exploding_temperature_stops_the_run(tmp_path):
    # Two Li 0.9 A apart (LJ sigma 2 A): the repulsion throws them apart far hotter than 3 x T.
    # NVE: ~580 eV of repulsion become kinetic energy. Under Nose-Hoover the chain variables
    # overflow instead, which stops the run as non-finite.
    s = Structure(Lattice.cubic(8.0), ["Li", "Li", "N"], [[0, 0, 0], [0.1125, 0, 0], [0.5, 0.5, 0.5]])
    row = run_md(s, lj(temperature_K=300.0, thermostat="nve"), tmp_path / "t.parquet", progress=False)
    assert row["status"] == "failed" and row["reason"].startswith("temperature exploded")
    assert row["n_frames"] == 1  # the sane first frame is kept for diagnosis
    assert len(schema.read_table(tmp_path / "t.parquet", "trajectory")) == 1
    row = run_md(s, lj(temperature_K=300.0), tmp_path / "nh.parquet", progress=False)
    assert row["status"] == "failed" and row["reason"] == "non-finite positions or energy"


def test_rejected_material_gives_skipped_runs_and_the_batch_goes_on(tmp_path):
    from ionscreen.structures.prepare import candidate_settings, prepare_structure

    schema.write_table([], tmp_path / "gone.parquet", "structures")
    row = {"material_id": "Li3N", "source": "test", **prepare_structure(li3n(), candidate_settings(), None, None)}
    schema.write_table([row], tmp_path / "Li3N.parquet", "structures")
    rows = md_batch_job(
        [tmp_path / "gone.parquet", tmp_path / "Li3N.parquet"],
        [("gone", 600.0), ("Li3N", 600.0)],
        lj(),
        tmp_path / "batch",
        tmp_path / "resume",
        progress=False,
    )
    assert [r["status"] for r in rows] == ["skipped", "ok"]
    assert load_trajectory(tmp_path / "batch/gone/600K.parquet")[0] is None
    assert schema.read_table(tmp_path / "batch/gone/600K.run.parquet", "md_runs")["status"].tolist() == ["skipped"]
    assert len(schema.read_table(tmp_path / "batch/Li3N/600K.parquet", "trajectory")) == 11
    assert not any((tmp_path / "resume").rglob("*.npz"))  # finished: the resume stores are gone


@pytest.mark.slow
def test_sevennet_smoke_on_li3n(tmp_path):
    row = run_md(
        li3n(),
        MDSettings(temperature_K=800, n_steps=10, timestep_fs=1.0, interval=5, threads=1, device="cpu"),
        tmp_path / "t.parquet",
        material_id="Li3N",
        progress=False,
    )
    assert row["status"] == "ok" and row["mlip"] == "7net-0" and row["n_frames"] == 3
    e = schema.read_table(tmp_path / "t.parquet", "trajectory")["potential_energy_eV"]
    # SevenNet-0 energy of Li3N: about -4.3 eV/atom (DFT-PBE scale), not LJ's ~0.
    assert -6.0 < e.iloc[0] / 4 < -3.0


@pytest.mark.slow
def test_other_bundled_sevennet_model_by_name(tmp_path):
    row = run_md(
        li3n(),
        MDSettings(temperature_K=800, n_steps=4, timestep_fs=1.0, interval=2, mlip="7net-l3i5", device="cpu"),
        tmp_path / "t.parquet",
        progress=False,
    )
    assert row["status"] == "ok" and row["mlip"] == "7net-l3i5"


def test_unknown_or_unavailable_mlip_is_a_clear_error(tmp_path):
    from ionscreen.mlip import MLIPError, get_calculator

    with pytest.raises(MLIPError, match="unknown MLIP"):
        get_calculator("gpt-potential")
    with pytest.raises(MLIPError, match="does not exist"):
        get_calculator(str(tmp_path / "missing.model"))


@pytest.mark.parametrize("engine", ["ase", "batched"])
def test_thermostat_holds_kT_over_2_per_internal_degree_of_freedom(tmp_path, engine):
    """8 Lennard-Jones atoms at 600 K, their centre-of-mass momentum removed: 3N - 3 = 21 degrees
    of freedom. The mean kinetic energy per degree of freedom over a long run is kT / 2 within 3 %
    (the table's temperature_K is 2 E_kin / (21 k_B)); a chain coupled to 3N = 24 would hold the
    run 24 / 21 = 14 % hot. Both the batched engine and the ASE reference loop."""
    from ase import units

    from ionscreen.md.batch import RunSpec, run_batch
    from ionscreen.md.potentials import get_potential
    from ionscreen.trajectory import load_trajectory

    s = lj(n_steps=40_000, interval=20, tdamp_fs=50.0, chunk_frames=5000, seed=11)
    atoms = li3n() * (2, 1, 1)
    out = tmp_path / f"{engine}.parquet"
    if engine == "ase":
        run_md(atoms, s, out, progress=False)
    else:
        from pymatgen.io.ase import AseAtomsAdaptor

        run_batch([RunSpec(AseAtomsAdaptor.get_atoms(atoms), s, out, "lj8")], get_potential("lj"), progress=False)
    temps = schema.read_table(out, "trajectory")["temperature_K"].to_numpy()[100:]  # after 2 ps (of 40)
    traj, _ = load_trajectory(out)
    assert len(traj.numbers) == 8
    ke_per_dof = temps.mean() * units.kB / 2  # eV
    print(
        engine, f"mean kinetic energy per internal degree of freedom / (kT/2) = {ke_per_dof / (units.kB * 300.0):.4f}"
    )
    assert ke_per_dof / (units.kB * 600.0 / 2) == pytest.approx(1.0, abs=0.03), temps.mean()
