"""ionscreen.md.plan and ionscreen.md.probe: the cost model against hand-computed batches, the
probe against the engine it measures, the scenarios of the stop rule and the ladder, the rate
file, and ``ionscreen plan`` on a prepared and an unprepared campaign."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from ionscreen import schema
from ionscreen.md.batch import RunSpec, run_batch
from ionscreen.md.engine import MDSettings
from ionscreen.md.plan import (
    REPLAY_LADDER_SKIPPED,
    REPLAY_STOP_SAVING,
    PlanSettings,
    Run,
    batch_seconds,
    batch_wall_s,
    campaign_runs,
    job_runtime_min,
    makespan,
    plan_campaign,
    run_lengths,
)
from ionscreen.md.potentials import get_potential
from ionscreen.md.probe import Rate, RateError, _fit, edges, probe
from ionscreen.md.rates import find_rate, read_rates, write_rate
from tests.md.test_batch import _atoms, lj


def rate(**kw) -> Rate:
    base = dict(
        device_name="test",
        device="cpu",
        mlip="lj",
        batch_atoms=100,
        accelerator="none",
        call_s=0.0,
        run_step_s=0.0,
        edge_step_s=0.001,
        atoms_per_call=1,
        cutoff_A=5.0,
        start_s=2.0,
        check_s=0.0,
        probe_s=1.0,
        sample="",
        measured_at="2026-01-01T00:00:00",
    )
    return Rate(**{**base, **kw})


def test_a_step_costs_its_calls_runs_and_atoms():
    r = rate(call_s=0.01, run_step_s=0.002, edge_step_s=0.0001, atoms_per_call=50)
    # 3 runs of 30, 30, 10 atoms (900, 600, 100 edges): calls of <= 50 atoms -> [30], [30, 10].
    assert r.step_s([(30, 900), (30, 600), (10, 100)]) == pytest.approx(2 * 0.01 + 3 * 0.002 + 1600 * 0.0001)
    assert r.step_s([]) == 0.0


def test_the_queue_keeps_the_batch_full_as_the_engine_does():
    """6 runs of 10 atoms, room for 3 in flight, one stopping after 20 steps, the rest after 100:
    the fourth run joins when the first ends (in-flight batching). Per-edge cost only: the
    seconds are the edge-steps (+1 start call per run) x 1 ms, whatever the order."""
    r = rate(edge_step_s=0.001)
    steps = [20.0, 100, 100, 100, 100, 100]
    secs = batch_seconds([(10, 10)] * 6, steps, r, atoms_in_flight=30)
    assert secs == pytest.approx(sum(10 * (s + 1) for s in steps) * 0.001)
    # A cost per step of the whole batch (one call for all runs) is paid once per step of the
    # queue: runs 1-3 start; run 1 ends at step 21 and run 4 joins; runs 2, 3 end at 101 and
    # runs 5, 6 join; run 4 ends at 122; runs 5, 6 at 202.
    r2 = rate(call_s=1.0, edge_step_s=0.0, atoms_per_call=1000)
    assert batch_seconds([(10, 10)] * 6, steps, r2, atoms_in_flight=30) == pytest.approx(202.0)
    # Skipped runs (0 steps) and rejected ones (0 atoms) cost nothing.
    assert batch_seconds([(10, 10), (0, 0), (10, 10)], [50, 50, 0], r, 100) == pytest.approx(10 * 51 * 0.001)


def test_the_plan_times_an_engine_batch_it_has_probed():
    """The probe's rate, then a real LJ batch of other runs of the campaign's structures (new
    velocities, another mix of sizes, a queue): its planned seconds
    against the wall the engine reports, within 35 % (two timings of a loaded 2-core machine; LJ
    through ASE's calculator is the least additive potential: its caches thrash between systems).
    A structure whose run fails in the probe is dropped and the probe starts over without it."""
    pot = get_potential("lj")
    # The campaign's structures: the shapes its batch below runs (the plan probes the campaign's own).
    structures = {f"c{k}": _atoms(rep) for k, rep in enumerate([(1, 1, 1), (2, 1, 1), (2, 2, 1)])}
    bad = _atoms((2, 1, 1))  # two atoms 0.3 A apart: its run fails at once, and leaves the probe
    bad.positions[1] = bad.positions[0] + [0.3, 0.0, 0.0]
    structures["bad"] = bad
    s = lj(n_steps=300, interval=10, batch_atoms=48)
    r = probe(structures, s, probe_s=8.0, potential=pot)
    assert r.edge_step_s > 0 or r.run_step_s > 0
    assert r.device_name.startswith("cpu: ") and r.mlip == "lj" and r.accelerator == "none"
    sizes = [(1, 1, 1), (2, 2, 1), (2, 1, 1), (2, 2, 1), (1, 1, 1)]
    specs = [RunSpec(_atoms(rep, seed=k), replace(s, seed=k), None, f"r{k}") for k, rep in enumerate(sizes)]
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        for k, sp in enumerate(specs):
            sp.out_path = Path(tmp) / f"{k}.parquet"
        rows = run_batch(specs, pot, progress=False, atoms_in_flight=48)
    wall = max(row["wall_s"] for row in rows)
    sizes = [(len(sp.atoms), edges(sp.atoms, 5.0)) for sp in specs]
    planned = batch_seconds(sizes, [300.0] * len(specs), r, 48)
    assert planned == pytest.approx(wall, rel=0.35), (planned, wall, r.sample)


def test_the_fit_recovers_known_costs():
    x = np.array([[4.0, 4.0, 40.0], [1.0, 1.0, 4.0], [1.0, 1.0, 16.0]])
    t = x @ np.array([0.0, 0.003, 0.0005])
    call, run, atom = _fit(x, t)
    np.testing.assert_allclose(x @ [call, run, atom], t, rtol=1e-6)
    assert atom == pytest.approx(0.0005, rel=1e-6)


def test_scenarios_of_the_stop_rule_and_the_ladder():
    s = MDSettings(n_steps=25_000, timestep_fs=1.0, stop="converged", ladder=True, min_ps=10.0, segment_ps=2.5)
    top, low = run_lengths(s, n_temperatures=4)
    # max: every run to the end; expected: the replay's saving; min: top run full, the rest skipped
    # (25 ps <= 4 x 12.5 ps: the ladder's floor is cheaper than every run stopping at 12.5 ps).
    assert top.steps == (25_000, pytest.approx(25_000 * (1 - REPLAY_STOP_SAVING)), 25_000)
    assert low.steps[0] == 0 and low.steps[2] == 25_000
    assert low.steps[1] == pytest.approx(25_000 * (1 - REPLAY_STOP_SAVING) * (1 - REPLAY_LADDER_SKIPPED))
    assert low.ran == (0.0, pytest.approx(1 - REPLAY_LADDER_SKIPPED), 1.0)
    # Checks: at 10, 12.5, ..., 22.5 ps then the end: (10 + 12.5 + 15 + 17.5 + 20 + 22.5) / 25 + 1.
    assert top.checks[2] == pytest.approx(97.5 / 25 + 1)
    # Two temperatures: every run stopping at 12.5 ps costs 2 x 12.5 = 25 ps, the same as the top
    # run alone at 25 ps; the ladder's floor wins the tie.
    top2, low2 = run_lengths(s, n_temperatures=2)
    assert top2.steps[0] == 25_000 and low2.steps[0] == 0
    # Runs too short for the stop rule (5 ps < 12.5 ps): nothing to save; no ladder: every run.
    short = replace(s, n_steps=5_000, ladder=False)
    top3, low3 = run_lengths(short, n_temperatures=4)
    assert top3.steps == low3.steps == (5_000, 5_000, 5_000)
    fixed = replace(s, stop="fixed", ladder=False)
    assert run_lengths(fixed, 4)[0].checks == (0.0, 0.0, 0.0)


def test_plan_table_totals_and_time_limits():
    runs = [Run(f"{t}K-00000", m, float(t), 10, 10, t == 1200) for t in (800, 1200) for m in ("a", "b")]
    runs.append(Run("800K-00000", "rejected", 800.0, 0, 0, False))
    s = MDSettings(n_steps=1000, timestep_fs=1.0, stop="fixed", ladder=False, batch_atoms=100)
    r = rate(edge_step_s=0.001, check_s=3.0)
    table, batches = plan_campaign(runs, s, r, PlanSettings(devices=2, margin=0.5))
    md = table.set_index("stage").loc["md"]
    assert md["runs"] == 5 and md["jobs"] == 2 and md["steps_max"] == 4000
    # Each batch: 2 runs x 10 atoms x 1001 steps x 1 ms = 20.02 s; two batches on two devices.
    assert batches["max_hours"].tolist() == pytest.approx([20.02 / 3600] * 2)
    assert md["max_hours"] == pytest.approx(40.04 / 3600) and md["wall_max_hours"] == pytest.approx(20.02 / 3600)
    label = table.set_index("stage").loc["label"]
    assert label["max_hours"] == pytest.approx(4 * 3.0 / 3600)  # one label per run that ran
    assert table.set_index("stage").loc["total", "max_hours"] == pytest.approx(md["max_hours"] + label["max_hours"])
    # Time limit: 20.02 s x 1.5 + 2 s loading + 60 s start = 92 s -> 2 min.
    assert batches["runtime_min"].tolist() == [2, 2] == [job_runtime_min(20.02, r, PlanSettings(margin=0.5))] * 2
    schema.validate(schema._to_arrow(table, schema.spec("plan")), "plan")


def test_makespan_puts_the_longest_first():
    # Longest first to the least loaded: 5 | 4, then 3 -> 4+3, 3 -> 5+3, 3 -> 7+3 = 10.
    assert makespan([5, 4, 3, 3, 3], 2) == 10
    assert makespan([5, 4, 3, 3, 3], 1) == 18
    assert makespan([], 3) == 0


def test_campaign_runs_and_the_batches_a_finished_campaign_took():
    import pandas as pd

    batches = {"800K-00000": ["a/800K"], "1200K-00000": ["a/1200K", "b/1200K"]}
    runs = campaign_runs(batches, {"a": (8, 300)}, [800, 1200])
    assert [(r.material_id, r.temperature_K, r.atoms, r.edges, r.top) for r in runs] == [
        ("a", 800.0, 8, 300, False),
        ("a", 1200.0, 8, 300, True),
        ("b", 1200.0, 0, 0, True),
    ]
    md_runs = pd.DataFrame(
        {
            "status": ["ok", "ok", "skipped", "ok"],
            "wall_s": [10.0, 10.0, 0.0, 4.0],
            "trajectory_path": [
                "r/md/batches/800K-00000/a/800K.parquet",
                "r/md/batches/800K-00000/b/800K.parquet",
                "r/md/batches/800K-00000/c/800K.parquet",
                "r/md/batches/1200K-00000/a/1200K.parquet",
            ],
        }
    )
    assert batch_wall_s(md_runs).to_dict() == {"800K-00000": 10.0, "1200K-00000": 4.0}


def test_rates_are_kept_per_device_mlip_and_batch(tmp_path):
    f = tmp_path / "rates.parquet"
    assert read_rates(f) == []
    write_rate(f, rate(device_name="gpu-a", batch_atoms=100))
    write_rate(f, rate(device_name="gpu-b", batch_atoms=100, measured_at="2026-02-01T00:00:00"))
    write_rate(f, rate(device_name="gpu-a", batch_atoms=100, edge_step_s=0.5))  # replaces gpu-a's
    rates = read_rates(f)
    assert len(rates) == 2 and {r.device_name for r in rates} == {"gpu-a", "gpu-b"}
    s = MDSettings(mlip="lj", batch_atoms=100)
    assert find_rate(rates, s, "gpu-a").edge_step_s == 0.5
    assert find_rate(rates, s).device_name == "gpu-b"  # the newest
    with pytest.raises(RateError, match="no rate for lj at md.batch_atoms 200.*gpu-a / lj / batch 100"):
        find_rate(rates, replace(s, batch_atoms=200))


def _campaign(tmp_path, **md):
    import yaml

    from tests.conftest import REPO

    cfg = {
        "results": str(tmp_path / "results"),
        "train_sources": [
            {"type": "files", "paths": ["resources/structures/train/Li3N.json", "resources/structures/train/LiF.json"]}
        ],
        "mlip": {"model": "lj"},
        "prepare": {"relax_steps": 0, "max_atoms": 64, "min_width_A": 4.0},
        "md": {"temperatures_K": [800, 1200], "n_steps": 40, "interval": 10, "batch_atoms": 128, **md},
        "plan": {"probe_s": 4},
    }
    f = tmp_path / "campaign.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return REPO, f


def test_plan_command_says_what_to_prepare_first(tmp_path, capsys):
    from ionscreen.cli import main

    repo, cfg = _campaign(tmp_path)
    assert main(["plan", "--directory", str(repo), "--configfile", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "2 of 2 training structures are not prepared yet (Li3N, LiF)" in err
    assert "snakemake --cores 8 plan" in err
    assert not (tmp_path / "results" / "md").exists()  # nothing ran, nothing recorded


def test_plan_command_plans_a_prepared_campaign(tmp_path, capsys):
    from ionscreen.cli import main

    repo, cfg = _campaign(tmp_path)
    prepared = tmp_path / "results" / "structures" / "prepared"
    for m in ("Li3N", "LiF"):
        assert (
            main(
                [
                    "prepare",
                    str(repo / f"resources/structures/train/{m}.json"),
                    "--mlip",
                    "lj",
                    "--relax-steps",
                    "0",
                    "--min-width-A",
                    "4.0",
                    "--max-atoms",
                    "64",
                    "--out",
                    str(prepared / f"{m}.parquet"),
                    "--rejected-out",
                    str(tmp_path / f"{m}-rejected.parquet"),
                ]
            )
            == 0
        )
    t0 = time.perf_counter()
    assert main(["plan", "--directory", str(repo), "--configfile", str(cfg), "--devices", "2"]) == 0
    took = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert "device: cpu: " in out and "md " in out and "on 2 device(s)" in out
    plan = schema.read_table(tmp_path / "results" / "plan" / "plan.parquet", "plan").set_index("stage")
    assert plan.loc["md", "runs"] == 4 and plan.loc["md", "steps_max"] == 4 * 40
    assert plan.loc["md", "devices"] == 2 and plan.loc["md", "max_hours"] > 0
    batches = schema.read_table(tmp_path / "results" / "plan" / "plan_batches.parquet", "plan_batches")
    assert sorted(batches["batch"]) == ["1200K-00000", "800K-00000"] and (batches["runtime_min"] >= 1).all()
    assert len(read_rates(tmp_path / "results" / "plan" / "rates.parquet")) == 1
    assert took < 4 + 30  # the probe's budget, plus loading and a label check
    assert not (tmp_path / "results" / "md").exists()  # no MD of the campaign, no batch record
    # A plan from the rate file probes nothing.
    t0 = time.perf_counter()
    rates = tmp_path / "results" / "plan" / "rates.parquet"
    assert main(["plan", "--directory", str(repo), "--configfile", str(cfg), "--rates", str(rates)]) == 0
    assert time.perf_counter() - t0 < 10
