"""ionscreen.md.batch: a batch equals its runs done one by one; each run keeps its own thermostat,
resume point and failure; the batched SevenNet potential equals sevenn's calculator."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from ionscreen import schema
from ionscreen.md.batch import RunSpec, run_batch
from ionscreen.md.engine import MDSettings, run_md
from ionscreen.md.potentials import (
    CalculatorPotential,
    SevenNetPotential,
    System,
    VerletList,
    get_potential,
)
from tests.conftest import li3n


def _atoms(rep=(1, 1, 1), rattle=0.0, seed=0):
    atoms = AseAtomsAdaptor.get_atoms(li3n() * rep)
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return atoms


def _positions(path):
    return np.stack(schema.read_table(path, "trajectory")["positions_A"].map(np.asarray).tolist())


def lj(**kw) -> MDSettings:
    return MDSettings(
        **{
            "temperature_K": 600.0,
            "n_steps": 200,
            "timestep_fs": 1.0,
            "interval": 10,
            "mlip": "lj",
            "seed": 7,
            "chunk_frames": 4,
            **kw,
        }
    )


# Eight runs of mixed sizes (4-16 atoms), temperatures, seeds and thermostats.
MIXED = [
    ((1, 1, 1), 600.0, 1, "nose-hoover"),
    ((2, 1, 1), 900.0, 2, "nose-hoover"),
    ((1, 1, 2), 1200.0, 3, "nose-hoover"),
    ((2, 2, 1), 700.0, 4, "nve"),
    ((1, 2, 1), 1000.0, 5, "nose-hoover"),
    ((2, 2, 1), 1200.0, 6, "nose-hoover"),
    ((1, 1, 1), 800.0, 7, "nve"),
    ((2, 1, 2), 600.0, 8, "nose-hoover"),
]


def test_batch_of_eight_lj_runs_equals_the_eight_ase_runs(tmp_path):
    """Same potential on both sides (ASE's Lennard-Jones): the engine's integrator and thermostat
    reproduce ASE's NoseHooverChainNVT and VelocityVerlet frame by frame."""
    specs, refs = [], []
    for k, (rep, temp, seed, thermo) in enumerate(MIXED):
        s = lj(temperature_K=temp, seed=seed, thermostat=thermo)
        refs.append(run_md(_atoms(rep), s, tmp_path / f"ase{k}.parquet", material_id=f"m{k}", progress=False))
        specs.append(RunSpec(_atoms(rep), s, tmp_path / f"batch{k}.parquet", f"m{k}"))
    rows = run_batch(specs, get_potential("lj"), progress=False)
    for k, (ref, row) in enumerate(zip(refs, rows, strict=True)):
        assert row["status"] == ref["status"] == "ok" and row["n_frames"] == ref["n_frames"] == 21
        assert row["temperature_K"] == MIXED[k][1] and row["thermostat"] == MIXED[k][3]
        a = schema.read_table(tmp_path / f"ase{k}.parquet", "trajectory")
        b = schema.read_table(tmp_path / f"batch{k}.parquet", "trajectory")
        np.testing.assert_allclose(
            _positions(tmp_path / f"batch{k}.parquet"), _positions(tmp_path / f"ase{k}.parquet"), rtol=0, atol=1e-9
        )
        np.testing.assert_allclose(b["temperature_K"], a["temperature_K"], rtol=1e-9)
        assert (
            float(
                np.abs(
                    _positions(tmp_path / f"batch{k}.parquet")[-1] - _positions(tmp_path / f"batch{k}.parquet")[0]
                ).max()
            )
            > 0.05
        )
    assert schema.read_provenance(tmp_path / "batch3.parquet")["thermostat"] == "nve"


def test_each_run_holds_its_own_temperature(tmp_path):
    """108-atom cells at 600 and 1200 K in one batch: the mean temperature over the second half of
    each run is within 5 % of its own target (one shared thermostat would pull both to ~900 K)."""
    specs = [
        RunSpec(
            _atoms((3, 3, 3)),
            lj(temperature_K=t, n_steps=1500, seed=s, chunk_frames=500),
            tmp_path / f"{t:g}.parquet",
            f"T{t:g}",
        )
        for t, s in ((600.0, 11), (1200.0, 12))
    ]
    run_batch(specs, get_potential("lj"), progress=False)
    for t in (600.0, 1200.0):
        temps = schema.read_table(tmp_path / f"{t:g}.parquet", "trajectory")["temperature_K"].to_numpy()
        mean = temps[len(temps) // 2 :].mean()
        print(t, mean)
        assert abs(mean - t) / t < 0.05, (t, mean)


def test_a_diverging_run_fails_alone_with_its_reason(tmp_path):
    collapsed = Structure(Lattice.cubic(5.0), ["Li", "Li", "N"], [[0, 0, 0], [0.08, 0, 0], [0.5, 0.5, 0.5]])
    specs = [
        RunSpec(_atoms((2, 1, 1)), lj(), tmp_path / "good.parquet", "good"),
        RunSpec(AseAtomsAdaptor.get_atoms(collapsed), lj(), tmp_path / "bad.parquet", "bad"),
        RunSpec(_atoms((1, 1, 2)), lj(temperature_K=1000.0), tmp_path / "good2.parquet", "good2"),
    ]
    good, bad, good2 = run_batch(specs, get_potential("lj"), progress=False)
    assert bad["status"] == "failed" and "atoms collapsed" in bad["reason"]
    assert schema.read_provenance(tmp_path / "bad.parquet")["status"] == "failed"
    assert good["status"] == good2["status"] == "ok" and good["n_frames"] == good2["n_frames"] == 21
    ref = run_md(_atoms((2, 1, 1)), lj(), tmp_path / "ref.parquet", progress=False)
    assert ref["n_frames"] == 21
    np.testing.assert_allclose(_positions(tmp_path / "good.parquet"), _positions(tmp_path / "ref.parquet"), atol=1e-9)


def test_a_run_whose_potential_raises_fails_alone(tmp_path):
    class Picky(CalculatorPotential):
        def evaluate(self, systems):
            if any(len(s.numbers) == 4 for s in systems):
                raise ValueError("no parameters for this cell")
            return super().evaluate(systems)

    base = get_potential("lj")
    pot = Picky(base.calc, "lj")
    pot.atoms_per_call = 1000  # both runs in one call: the engine must find the culprit
    ok, bad = run_batch(
        [
            RunSpec(_atoms((2, 1, 1)), lj(), tmp_path / "ok.parquet", "ok"),
            RunSpec(_atoms(), lj(), tmp_path / "bad.parquet", "bad"),
        ],
        pot,
        progress=False,
    )
    assert ok["status"] == "ok" and ok["n_frames"] == 21
    assert bad["status"] == "failed" and bad["reason"] == "MD error: ValueError: no parameters for this cell"


def _batch_cmd(structures, out, steps):
    return [
        sys.executable,
        "-m",
        "ionscreen.cli",
        "md",
        *map(str, structures),
        "--temperature",
        "700",
        "1100",
        "--steps",
        str(steps),
        "--timestep-fs",
        "1",
        "--interval",
        "10",
        "--mlip",
        "lj",
        "--threads",
        "1",
        "--seed",
        "5",
        "--chunk-frames",
        "5",
        "--out",
        str(out),
    ]


def test_sigkill_then_resume_equals_an_uninterrupted_batch(tmp_path):
    files = []
    for name, rep in (("A", (2, 2, 2)), ("B", (2, 1, 1))):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps((li3n() * rep).as_dict()))
    steps = 1000
    subprocess.run(_batch_cmd(files, tmp_path / "ref", steps), check=True, capture_output=True)
    out = tmp_path / "out"
    proc = subprocess.Popen(_batch_cmd(files, out, steps), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resume = out / "A" / ".700K.parquet.resume"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(resume.glob("state_*.npz"))) < 12:  # 12 of 20 chunks: 60 %
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = len(list(resume.glob("state_*.npz")))
    assert 12 <= saved < 20 and not (out / "A" / "700K.parquet").exists()
    subprocess.run(_batch_cmd(files, out, steps), check=True, capture_output=True)
    for mid in ("A", "B"):
        for t in (700, 1100):
            a = schema.read_table(tmp_path / "ref" / mid / f"{t}K.parquet", "trajectory")
            b = schema.read_table(out / mid / f"{t}K.parquet", "trajectory")
            assert len(a) == len(b) == 101
            n = 5 * saved  # frames saved before the kill: bit-identical
            pd.testing.assert_frame_equal(a.iloc[:n], b.iloc[:n], rtol=0, atol=0)
            np.testing.assert_allclose(np.stack(b["positions_A"]), np.stack(a["positions_A"]), rtol=0, atol=1e-5)
            assert not (out / mid / f".{t}K.parquet.resume").exists()


# ---------------------------------------------------------------- SevenNet-0


@pytest.fixture(scope="module")
def sevennet_calc():
    from ionscreen.mlip import get_calculator

    return get_calculator("7net-0", "cpu")


@pytest.mark.slow
@pytest.mark.parametrize("fast", [False, True])
def test_sevennet_potential_equals_sevenns_calculator(sevennet_calc, fast):
    """Three Li3N cells (4-16 atoms, rattled, shifted out of the cell) one by one and in one
    batched graph: energies and forces equal sevenn's calculator to float32 rounding."""
    pot = SevenNetPotential("7net-0", "cpu", fast=fast)
    systems, refs = [], []
    for seed, rep in enumerate(((2, 2, 1), (1, 1, 2), (1, 1, 1)), start=1):
        atoms = _atoms(rep, rattle=0.1, seed=seed)
        atoms.positions += 3.7 * seed  # unwrapped positions
        atoms.calc = sevennet_calc
        refs.append((atoms.get_potential_energy(), atoms.get_forces()))
        systems.append(
            System(
                atoms.numbers,
                atoms.positions.copy(),
                atoms.cell.array,
                atoms.pbc,
                VerletList(pot.cutoff_A, 1.0, atoms.cell.array, atoms.pbc),
            )
        )
    one = [pot.evaluate([s])[0] for s in systems]
    many = pot.evaluate(systems)
    for (e0, f0), (e1, f1), (e2, f2) in zip(refs, one, many, strict=True):
        assert e0 < -10 and np.abs(f0).max() > 0.5  # real SevenNet-0 values
        assert e1 == pytest.approx(e0, abs=1e-4) and e2 == pytest.approx(e0, abs=1e-4)
        np.testing.assert_allclose(f1, f0, atol=2e-5)
        np.testing.assert_allclose(f2, f0, atol=2e-5)


def test_verlet_list_gives_the_pairs_within_the_cutoff_until_it_must_rebuild():
    atoms = _atoms((2, 2, 2), rattle=0.05, seed=3)
    vl = VerletList(5.0, 1.0, atoms.cell.array, atoms.pbc)
    rng = np.random.default_rng(0)
    pos = atoms.positions.copy()
    for step in range(30):
        pos = pos + rng.normal(scale=0.05, size=pos.shape)
        i, j, vec = vl.edges(pos)
        a = atoms.copy()
        a.positions = pos
        from ase.neighborlist import neighbor_list

        ri, rj, rd = neighbor_list("ijd", a, 5.0)
        got = zip(i.tolist(), j.tolist(), np.round(np.linalg.norm(vec, axis=1), 6).tolist(), strict=True)
        want = zip(ri.tolist(), rj.tolist(), np.round(rd, 6).tolist(), strict=True)
        assert sorted(got) == sorted(want), step
    assert 1 < vl.builds < 30  # rebuilt when needed, not every step


@pytest.mark.slow
def test_sevennet_batch_of_one_equals_ionscreen_md(tmp_path):
    """200 steps of SevenNet-0 Li3N at 1200 K: the engine (dense convolutions, Verlet list)
    against today's ASE loop with sevenn's calculator, frame by frame."""
    s = MDSettings(temperature_K=1200.0, n_steps=200, interval=10, mlip="7net-0", device="cpu", seed=3)
    run_md(_atoms((1, 1, 2)), s, tmp_path / "ase.parquet", material_id="Li3N", progress=False)
    (row,) = run_batch(
        [RunSpec(_atoms((1, 1, 2)), s, tmp_path / "b.parquet", "Li3N")], get_potential("7net-0", "cpu"), progress=False
    )
    a, b = _positions(tmp_path / "ase.parquet"), _positions(tmp_path / "b.parquet")
    assert row["status"] == "ok" and a.shape == b.shape == (21, 8 * 3)
    assert row["accelerator"] == "none" and row["device"] == "cpu"  # recorded in md_runs
    assert np.abs(a[-1] - a[0]).max() > 0.1  # the atoms moved
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-3)


@pytest.mark.slow
def test_sevennet_batched_graph_equals_single_runs(tmp_path):
    """Mixed sizes and temperatures in one batched graph per step (the GPU mode, here on the
    CPU) against the same runs one system per call."""
    specs = [
        RunSpec(
            _atoms(rep),
            MDSettings(temperature_K=t, n_steps=100, interval=10, mlip="7net-0", device="cpu", seed=k),
            tmp_path / f"{k}.parquet",
            f"m{k}",
        )
        for k, (rep, t) in enumerate((((1, 1, 1), 600.0), ((2, 1, 1), 1200.0), ((1, 1, 2), 900.0)))
    ]
    run_batch(specs, SevenNetPotential("7net-0", "cpu", atoms_per_call=1000), progress=False)
    singles = [replace(sp, out_path=tmp_path / f"one{k}.parquet") for k, sp in enumerate(specs)]
    run_batch(singles, SevenNetPotential("7net-0", "cpu", atoms_per_call=1), progress=False)
    for k in range(3):
        np.testing.assert_allclose(
            _positions(tmp_path / f"{k}.parquet"), _positions(tmp_path / f"one{k}.parquet"), rtol=0, atol=1e-3
        )


# ---------------------------------------------------------------- run length and the ladder


class Einstein:
    """Every atom tied to its start by a spring (k = 2 eV/A^2): caged at any temperature."""

    name, device, cutoff_A, atoms_per_call = "einstein", "cpu", 0.0, 10_000

    def __init__(self) -> None:
        self.origin: dict[int, np.ndarray] = {}

    def evaluate(self, systems):
        out = []
        for s in systems:
            r0 = self.origin.setdefault(id(s), s.positions.copy())
            d = s.positions - r0
            out.append((float(np.sum(d**2)), -2.0 * d))  # E = k/2 d^2, F = -k d
        return out


def test_a_converged_run_stops_early_with_the_label_it_saw(tmp_path):
    """An LJ liquid at 1000 K (diffusive within a ps), checked every ps from 1 ps on, stops at the
    first check that has the stop rule's evidence (D within 40 %, MSD of 10 squared hop lengths,
    confirmed); its label is the one the check saw."""
    from ionscreen.labels.diffusion import LabelSettings
    from ionscreen.labels.stage import label_files
    from tests.md.test_stopping import liquid

    s = liquid()
    (row,) = run_batch(
        [RunSpec(_atoms((2, 2, 2)), s, tmp_path / "t.parquet", "gas")], get_potential("lj"), progress=False
    )
    assert row["status"] == "ok" and row["stop_reason"] == "converged" and row["diffusive"]
    assert row["length_ps"] in (4.0, 5.0, 6.0, 7.0) and row["n_frames"] == row["length_ps"] * 100 + 1
    assert row["D_rel_error"] <= 0.4
    (lab,) = label_files([tmp_path / "t.parquet"], LabelSettings(), tmp_path / "labels.parquet")
    assert lab["diffusive"] and (lab["D_ci95_high_cm2_s"] - lab["D_ci95_low_cm2_s"]) / 2 / lab[
        "D_cm2_s"
    ] == pytest.approx(row["D_rel_error"], rel=1e-9)
    (fixed,) = run_batch(
        [RunSpec(_atoms((2, 2, 2)), replace(s, stop="fixed", n_steps=1000), tmp_path / "f.parquet", "gas")],
        get_potential("lj"),
        progress=False,
    )
    assert fixed["stop_reason"] == "fixed" and fixed["length_ps"] == 1.0 and fixed["diffusive"]  # labelled: ladder on


def test_ladder_skips_below_a_caged_run_and_runs_below_a_diffusive_one(tmp_path):
    from ionscreen.md.stage import ladder_skip, run_ladder

    s = lj(n_steps=300, stop="fixed", ladder=True)
    out = lambda mid, t: tmp_path / mid / f"{t:g}K.parquet"  # noqa: E731
    rows = run_ladder([("caged", _atoms((2, 1, 1)))], [800.0, 1200.0], s, out, Einstein(), progress=False)
    low, top = rows  # in the order asked: 800 K, 1200 K
    assert top["status"] == "ok" and top["diffusive"] is False and top["n_steps"] == 300
    assert low["status"] == "skipped" and low["n_steps"] == 0
    assert low["stop_reason"] == "ladder" and top["framework_intact"]
    assert low["reason"].startswith("not diffusive at 1200 K within 0.3 ps with the host framework intact")
    # A skipped run passes its reason down; a failed or diffusive run above skips nothing.
    assert ladder_skip(low) == low["reason"]
    assert ladder_skip({**top, "diffusive": True}) == ""
    assert ladder_skip({**top, "status": "failed"}) == ""
    assert ladder_skip({**top, "stop_reason": "converged"}) == ""
    assert ladder_skip(None) == ""
    both = run_ladder(
        [("caged", _atoms((2, 1, 1)))], [800.0, 1200.0], replace(s, ladder=False), out, Einstein(), progress=False
    )
    assert [r["status"] for r in both] == ["ok", "ok"]  # without the ladder every temperature runs


def test_command_line_ladder_skip_is_success(tmp_path, monkeypatch):
    """``ionscreen md`` over two temperatures of a caged cell: the lower one is skipped by the
    ladder, and the command still succeeds (exit 0); the runs table says why."""
    import ionscreen.md.potentials
    from ionscreen.cli import main

    monkeypatch.setattr(ionscreen.md.potentials, "get_potential", lambda *a, **k: Einstein())
    structure = tmp_path / "Li3N.json"
    structure.write_text(json.dumps((li3n() * (2, 1, 1)).as_dict()))
    code = main(
        [
            "md",
            str(structure),
            "--temperature",
            "800",
            "1200",
            "--steps",
            "300",
            "--stop",
            "fixed",
            "--mlip",
            "lj",
            "--out",
            str(tmp_path / "md"),
            "--runs-out",
            str(tmp_path / "runs.parquet"),
        ]
    )
    runs = schema.read_table(tmp_path / "runs.parquet", "md_runs").set_index("temperature_K")
    assert code == 0
    assert runs.loc[1200.0, "status"] == "ok" and runs.loc[800.0, "status"] == "skipped"
    assert runs.loc[800.0, "stop_reason"] == "ladder"
    assert runs.loc[800.0, "reason"].startswith("not diffusive at 1200 K")


def test_in_flight_batching_keeps_the_batch_full_and_every_run_as_alone(tmp_path):
    """6 runs of 8 atoms with room for 3 in flight: when the short run ends, the next queued run
    takes its place at once; never more than 3 are integrated together, and every trajectory
    equals its run alone."""

    class Counting(CalculatorPotential):
        in_flight: list[int] = []

        def evaluate(self, systems):
            self.in_flight.append(len(systems))
            return super().evaluate(systems)

    base = get_potential("lj")
    pot = Counting(base.calc, "lj")
    pot.atoms_per_call = 10_000  # one call a step: its size is the number of runs in flight
    lengths = [200, 60, 200, 200, 200, 200]  # the second run ends early
    specs = [
        RunSpec(_atoms((2, 1, 1)), lj(n_steps=n, seed=20 + k), tmp_path / f"q{k}.parquet", f"m{k}")
        for k, n in enumerate(lengths)
    ]
    rows = run_batch(specs, pot, progress=False, atoms_in_flight=3 * 8)
    assert max(pot.in_flight) == 3 and [r["n_steps"] for r in rows] == lengths
    # The fourth run starts when the short one ends (step 60: its start is one call of its own), not
    # when the first three end (step 200); calls: the start, 60 steps, the fourth's start, 3 in flight.
    assert pot.in_flight[:61] == [3] * 61 and pot.in_flight[61:63] == [1, 3]
    for k, n in enumerate(lengths):
        run_batch(
            [RunSpec(_atoms((2, 1, 1)), lj(n_steps=n, seed=20 + k), tmp_path / f"a{k}.parquet", f"m{k}")],
            get_potential("lj"),
            progress=False,
        )
        np.testing.assert_array_equal(_positions(tmp_path / f"q{k}.parquet"), _positions(tmp_path / f"a{k}.parquet"))
