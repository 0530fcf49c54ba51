"""ionscreen.md.stopping: the stop rule needs evidence of long-range, steady diffusion (scored on
walks with known D, ionscreen.labels.walks); the ladder's framework check; a stop survives a kill;
a check that raises fails its run alone. Coverage over many replicates: benchmarks/md_adaptive.py."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from ionscreen import schema
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.labels.walks import caged_walk, lattice_walk, transient_walk
from ionscreen.md.batch import RunSpec, run_batch
from ionscreen.md.engine import MDSettings
from ionscreen.md.potentials import get_potential
from ionscreen.md.stage import ladder_skip
from ionscreen.md.stopping import check_trajectory, cut, framework_intact, replay
from tests.md.test_batch import _atoms, lj

LABEL = LabelSettings(n_dt=32)  # a quarter of kinisi's cost; the benchmark uses the defaults
RULE = MDSettings(segment_ps=5.0)  # checks at 10, 15 and 20 ps of a 25 ps walk


def test_caged_li_never_stop_as_converged():
    """Li hopping freely (D_free = 2e-4 cm^2/s, narrow intervals) inside 4 x 4 x 4-site cages have
    no long-range D: no run may stop 'converged' (the precision-only rule stopped 15 of 20)."""
    for seed in range(20):
        check, how = replay(caged_walk(2e-4, seed=seed), RULE, LABEL)
        assert how == "max_length", (seed, check.why)


def test_a_slow_start_is_not_steady_and_a_fast_conductor_stops_with_the_truth_inside():
    # 25 A cells: the label stage refuses frames between which a Li crosses half the cell.
    slow = transient_walk(3e-4, start_factor=0.1, tau_ps=3.0, sites_per_side=10, seed=4)
    c = check_trajectory(cut(slow, 10.0), RULE, LABEL, None)
    assert not c.stop and c.why.startswith("hop rate not steady") and c.row is None  # nothing labelled
    fast = lattice_walk(3e-4, n_li=24, sites_per_side=10, seed=5)
    check, how = replay(fast, RULE, LABEL)
    assert how == "converged" and check.elapsed_ps in (15.0, 20.0)  # the first check is never enough
    assert check.low <= 3e-4 <= check.high and check.rel_error <= RULE.target_rel_error
    assert check.long_range >= RULE.min_msd_hops


def test_framework_check_sees_a_host_that_moved():
    walk = lattice_walk(0.0, n_li=8, seed=2)  # what the ladder judges: a run without diffusion
    intact, seen = framework_intact(walk)
    assert intact and seen.endswith(", 0 % of atoms changed coordination"), seen
    assert float(seen.split()[4]) < 0.2  # vibrations of 0.1 A, averaged over 0.5 ps
    broken = walk.positions_A.copy()
    host = np.flatnonzero(walk.numbers != 3)
    broken[len(broken) // 2 :, host[:3]] += [2.0, 0.0, 0.0]  # three host atoms leave their sites
    intact, seen = framework_intact(replace(walk, positions_A=broken))
    assert not intact and float(seen.split()[4]) > 1.0, seen  # 2 A, less the host's mean shift


def test_ladder_skips_only_below_what_it_knows():
    top = {
        "status": "ok",
        "stop_reason": "max_length",
        "diffusive": False,
        "framework_intact": True,
        "framework": "host moved up to 0.10 A, 0 % of atoms changed coordination",
        "temperature_K": 1200.0,
        "length_ps": 25.0,
    }
    assert ladder_skip(top).startswith("not diffusive at 1200 K within 25 ps with the host framework intact")
    assert ladder_skip({**top, "framework_intact": False}) == ""  # fell apart: run the next one anyway
    assert ladder_skip({**top, "framework_intact": None}) == ""  # not checked
    assert ladder_skip({**top, "diffusive": None}) == ""  # the label failed
    assert ladder_skip({**top, "diffusive": math.nan}) == ""
    assert ladder_skip({**top, "stop_reason": "converged"}) == ""
    assert ladder_skip({"status": "skipped", "stop_reason": "ladder", "reason": "why"}) == "why"


def liquid(**kw) -> MDSettings:
    """An LJ liquid at 1000 K (32 atoms at the density of Li3N: diffusive within a ps), checked
    every ps from 1 ps on; the stop rule's evidence is complete after about 5 ps."""
    return lj(
        temperature_K=1000.0, n_steps=8000, stop="converged", segment_ps=1.0, min_ps=1.0, target_rel_error=0.4, **kw
    )


def test_a_stop_survives_a_kill(tmp_path, monkeypatch):
    """A run killed after it converged (its state saved at the stop, its table not yet written)
    reads 'converged' with the same length after the rerun, not a run continued past its stop."""
    import ionscreen.md.batch as batch

    ref = run_batch(
        [RunSpec(_atoms((2, 2, 2)), liquid(), tmp_path / "ref.parquet", "liquid")], get_potential("lj"), progress=False
    )
    assert ref[0]["stop_reason"] == "converged" and ref[0]["length_ps"] < 8.0

    def killed(*a, **k):
        raise KeyboardInterrupt  # the kill arrives after the last frame, before any table is written

    spec = RunSpec(_atoms((2, 2, 2)), liquid(chunk_frames=1), tmp_path / "t.parquet", "liquid")
    monkeypatch.setattr(batch, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        run_batch([spec], get_potential("lj"), progress=False)
    monkeypatch.undo()
    (row,) = run_batch([spec], get_potential("lj"), progress=False)
    assert row["resumed_at_frame"] > 0
    assert row["stop_reason"] == "converged" and row["length_ps"] == ref[0]["length_ps"]
    assert row["D_rel_error"] == pytest.approx(ref[0]["D_rel_error"], rel=1e-12)
    assert len(schema.read_table(tmp_path / "t.parquet", "trajectory")) == row["n_frames"]


def test_a_label_check_that_raises_fails_its_run_alone(tmp_path, monkeypatch):
    import ionscreen.md.stopping as stopping

    real = stopping.check_trajectory

    def picky(traj, *a, **k):
        if traj.material_id == "bad":
            raise RuntimeError("kinisi fell over")
        return real(traj, *a, **k)

    monkeypatch.setattr(stopping, "check_trajectory", picky)
    s = lj(n_steps=300, stop="fixed", ladder=True)
    good, bad = run_batch(
        [
            RunSpec(_atoms((2, 1, 1)), s, tmp_path / "good.parquet", "good"),
            RunSpec(_atoms((2, 1, 1)), s, tmp_path / "bad.parquet", "bad"),
        ],
        get_potential("lj"),
        progress=False,
    )
    assert good["status"] == "ok" and good["stop_reason"] == "fixed" and good["diffusive"] is not None
    assert bad["status"] == "failed" and bad["reason"] == "label check: RuntimeError: kinisi fell over"


def test_each_temperature_starts_from_its_own_velocities():
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    v = {}
    for t in (600.0, 1200.0):
        atoms = _atoms((2, 2, 2))
        MaxwellBoltzmannDistribution(atoms, temperature_K=t, rng=MDSettings(temperature_K=t, seed=3).velocity_rng())
        v[t] = atoms.get_velocities() / math.sqrt(t)
    assert np.corrcoef(v[600.0].ravel(), v[1200.0].ravel())[0, 1] < 0.5  # not rescaled copies
    again = _atoms((2, 2, 2))
    MaxwellBoltzmannDistribution(again, temperature_K=600.0, rng=MDSettings(temperature_K=600.0, seed=3).velocity_rng())
    np.testing.assert_array_equal(again.get_velocities() / math.sqrt(600.0), v[600.0])  # and still seeded
