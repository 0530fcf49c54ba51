"""What a campaign costs before it is submitted (``snakemake plan``, ``ionscreen plan``).

For the configured campaign, before any MD: per stage and in total, the runs, atoms and MD steps,
and the device-hours from a rate measured on the device that will run it (``ionscreen.md.probe``).
Three figures per quantity:

- **max**: every run to ``md.n_steps`` at every temperature (what a job's time limit must cover);
- **expected**: the saving of the stop rule and the temperature ladder in the replay against
  known D (docs/md.md, "The replay against the truth"): the stop rule alone saved 3 % of the
  full-length picoseconds over its six kinds of material, and the ladder skipped 60 % of the runs
  below the highest temperature (45 % of all picoseconds with four temperatures);
- **min**: the most the two rules can save (every run stops at its first possible stop, or every
  temperature below the highest is skipped, whichever is cheaper per material).

A batch job's cost is simulated as the engine runs it (``md.batch.run_batch``): its runs are a
queue with at most ``md.batch_atoms`` atoms in flight, each step costs ``Rate.step_s`` of the
runs in flight (their model calls, their number and their edges: atom pairs within the cutoff), a run that ends makes room for the next, and every stop-rule check blocks the
batch for its label's time. Each batch's planned maximum gives its cluster time limit
(``plan_batches.runtime_min``, which rules/md.smk reads).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ionscreen.md.engine import MDSettings
from ionscreen.md.probe import Rate

# The replay against known D (benchmarks/md_adaptive.py; docs/md.md): share of the full-length ps
# the stop rule alone saved over the replay's six materials (1200 -> 600 K, 25 ps), and the share
# of the runs below the highest temperature that the ladder skipped (45 % of all ps / 75 %).
REPLAY_STOP_SAVING = 0.03
REPLAY_LADDER_SKIPPED = 0.60
# A batch job's start before its model loads (Python, imports), s: part of its time limit.
JOB_START_S = 60.0


@dataclass
class PlanSettings:
    """The plan's own settings (config ``plan:``)."""

    # The probe's longest run, s: three timed batches fit, and a login node is not held long.
    probe_s: float = 60.0
    # Devices the md batch jobs share: the wall-clock hours divide the batches among them.
    devices: int = 1
    # A rates.parquet measured earlier (on the cluster's GPU): plan from it, probe nothing here.
    rates: str | None = None
    # A batch job's time limit: its planned maximum x (1 + margin) + start-up. 0.5 covers a slower
    # node or a busier file system; the job resumes from its saved frames if it is cut anyway.
    margin: float = 0.5
    # The time limit (min) of a batch job that no plan covers (planned before it existed).
    default_runtime_min: int = 720


@dataclass(frozen=True)
class Run:
    """One MD run of the campaign: its batch, temperature, atoms (0: rejected at fetch) and edges
    (directed atom pairs within the MLIP's cutoff)."""

    batch: str
    material_id: str
    temperature_K: float
    atoms: int
    edges: int
    top: bool  # at the campaign's highest temperature (the ladder never skips it)


@dataclass(frozen=True)
class Lengths:
    """A run's MD steps and the stop-rule checks it costs (in full-length-check units) in the three
    scenarios."""

    steps: tuple[float, float, float]  # (min, expected, max)
    checks: tuple[float, float, float]
    ran: tuple[float, float, float]  # share of such runs that run at all (the ladder skips the rest)


def check_units(settings: MDSettings, steps: float) -> float:
    """The stop rule's label checks of a run of ``steps`` steps, in units of one check of a
    full-length run (a check's cost grows with the frames it reads)."""
    from ionscreen.md.stopping import check_times

    if not settings.checks_labels or steps <= 0:
        return 0.0
    full_ps = settings.n_steps * settings.timestep_fs / 1000.0
    length_ps = steps * settings.timestep_fs / 1000.0
    units = 0.0
    if settings.stop == "converged":
        units += sum(t / full_ps for t in check_times(settings, length_ps + 1e-9))
    if steps >= settings.n_steps:  # the end-of-run label (stop rule's last check, or the ladder's)
        units += 1.0
    return units


def run_lengths(settings: MDSettings, n_temperatures: int) -> tuple[Lengths, Lengths]:
    """(Lengths of a run at the highest temperature, of a run below it)."""
    from ionscreen.md.stopping import check_times

    full = float(settings.n_steps)
    # The earliest stop: the second check (a stop needs the check before it to agree).
    times = check_times(settings, full * settings.timestep_fs / 1000.0)
    can_stop = settings.stop == "converged" and len(times) >= 2
    shortest = math.ceil(times[1] * 1000.0 / settings.timestep_fs) if can_stop else full
    expected = full * (1 - REPLAY_STOP_SAVING) if can_stop else full
    expected = max(expected, shortest)
    skip = settings.ladder and n_temperatures > 1
    # The floor per material: the ladder's (top run full, the rest skipped) or the stop rule's
    # (every run at its first possible stop), whichever is cheaper.
    ladder_floor = skip and full <= n_temperatures * shortest
    top_min = full if ladder_floor else shortest
    low_min = 0.0 if ladder_floor else shortest
    low_expected = expected * (1 - REPLAY_LADDER_SKIPPED) if skip else expected

    def lengths(lo: float, mid: float, ran: tuple[float, float, float]) -> Lengths:
        c = check_units
        exp_checks = c(settings, expected) * (mid / expected if expected else 0.0)
        return Lengths((lo, mid, full), (c(settings, lo), exp_checks, c(settings, full)), ran)

    low_ran = (0.0 if ladder_floor else 1.0, 1 - REPLAY_LADDER_SKIPPED if skip else 1.0, 1.0)
    return lengths(top_min, expected, (1.0, 1.0, 1.0)), lengths(low_min, low_expected, low_ran)


def batch_seconds(sizes: list[tuple[int, int]], steps: list[float], rate: Rate, atoms_in_flight: int) -> float:
    """Seconds of a batch job's MD loop: runs (their (atoms, edges), their steps) as a queue with
    at most ``atoms_in_flight`` atoms in flight (at least one run), as ``md.batch.run_batch`` runs
    it. A run of 0 steps (skipped) costs nothing; every run costs one extra force call at its start."""
    queue = [(a, e, s + 1.0) for (a, e), s in zip(sizes, steps, strict=True) if s > 0 and a > 0]
    live: list[list[float]] = []
    total = 0.0

    def admit() -> None:
        while queue and (not live or sum(r[0] for r in live) + queue[0][0] <= atoms_in_flight):
            live.append(list(queue.pop(0)))

    admit()
    while live:
        d = min(r[2] for r in live)
        total += d * rate.step_s([(int(r[0]), int(r[1])) for r in live])
        for r in live:
            r[2] -= d
        live[:] = [r for r in live if r[2] > 1e-9]
        admit()
    return total


def makespan(seconds: list[float], devices: int) -> float:
    """Wall seconds of jobs of these lengths on ``devices`` devices, longest first to the least
    loaded (the ladder's waits between temperatures are not counted)."""
    loads = [0.0] * max(1, devices)
    heapq.heapify(loads)
    for s in sorted(seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + s)
    return max(loads)


def plan_campaign(
    runs: list[Run], settings: MDSettings, rate: Rate, plan: PlanSettings | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the plan table, one row per stage and a total; the plan_batches table)."""
    plan = plan or PlanSettings()
    temps = sorted({r.temperature_K for r in runs})
    top_len, low_len = run_lengths(settings, len(temps))
    batches: dict[str, list[Run]] = {}
    for r in runs:
        batches.setdefault(r.batch, []).append(r)
    rows = []
    steps = [[0.0, 0.0, 0.0] for _ in range(2)]  # [md steps, label check units] x scenario
    for name, members in batches.items():
        lens = [top_len if r.top else low_len for r in members]
        atoms = [r.atoms for r in members]
        sizes = [(r.atoms, r.edges) for r in members]
        secs = []
        # The range widens by the probe's spread: the device's own unsteadiness, measured.
        scale = (1.0 - rate.spread, 1.0, 1.0 + rate.spread)
        for k in range(3):
            md_s = batch_seconds(sizes, [ln.steps[k] for ln in lens], rate, settings.batch_atoms)
            checks = sum(ln.checks[k] for ln, a in zip(lens, atoms, strict=True) if a > 0)
            secs.append(scale[k] * (md_s + checks * rate.check_s + (rate.check_start_s if checks else 0.0)))
            steps[0][k] += sum(ln.steps[k] for ln, a in zip(lens, atoms, strict=True) if a > 0)
            steps[1][k] += checks
        rows.append(
            {
                "batch": name,
                "temperature_K": members[0].temperature_K,
                "runs": len(members),
                "atoms": sum(atoms),
                "min_hours": secs[0] / 3600,
                "expected_hours": secs[1] / 3600,
                "max_hours": secs[2] / 3600,
                "runtime_min": job_runtime_min(secs[2], rate, plan),
            }
        )
    per_batch = pd.DataFrame(rows, columns=list(_columns("plan_batches")))
    ok = [r for r in runs if r.atoms > 0]
    full_batch = _full_batch([(r.atoms, r.edges) for r in ok], settings.batch_atoms)
    common = {"device_name": rate.device_name, "atom_steps_per_s": rate.atom_steps_per_s(full_batch)}
    devices = max(1, plan.devices)
    md_hours = [float(per_batch[c].sum()) for c in ("min_hours", "expected_hours", "max_hours")]
    stage_md = {
        "stage": "md",
        "jobs": len(batches),
        "runs": len(runs),
        "atoms": sum(r.atoms for r in ok),
        "steps_min": round(steps[0][0]),
        "steps_expected": round(steps[0][1]),
        "steps_max": round(steps[0][2]),
        **common,
        "min_hours": md_hours[0],
        "expected_hours": md_hours[1],
        "max_hours": md_hours[2],
        "devices": devices,
        "wall_expected_hours": makespan(list(per_batch["expected_hours"]), devices),
        "wall_max_hours": makespan(list(per_batch["max_hours"]), devices),
    }
    # The label jobs (one per material, kinisi per temperature; CPU jobs): one full-length label
    # per run that ran, at the measured check's cost (a run cut short by the stop rule costs less).
    ran = [sum((top_len if r.top else low_len).ran[k] for r in ok) for k in range(3)]
    label_hours = [n * rate.check_s / 3600 for n in ran]
    stage_label = {
        "stage": "label",
        "jobs": len({r.material_id for r in ok}),
        "runs": len(ok),
        "atoms": sum(r.atoms for r in ok),
        "steps_min": 0,
        "steps_expected": 0,
        "steps_max": 0,
        "device_name": rate.device_name,
        "atom_steps_per_s": float("nan"),
        "min_hours": label_hours[0],
        "expected_hours": label_hours[1],
        "max_hours": label_hours[2],
        "devices": devices,
        "wall_expected_hours": label_hours[1] / devices,
        "wall_max_hours": label_hours[2] / devices,
    }
    total = {
        "stage": "total",
        **{k: stage_md[k] for k in ("jobs", "runs", "atoms", "steps_min", "steps_expected", "steps_max")},
        **common,
        **{k: stage_md[k] + stage_label[k] for k in ("min_hours", "expected_hours", "max_hours")},
        "devices": devices,
        **{k: stage_md[k] + stage_label[k] for k in ("wall_expected_hours", "wall_max_hours")},
    }
    table = pd.DataFrame([stage_md, stage_label, total], columns=list(_columns("plan")))
    return table, per_batch


def _full_batch(sizes: list[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """A full batch of the campaign's runs: (atoms, edges) of the first runs that fit."""
    out: list[tuple[int, int]] = []
    for a, e in sizes:
        if out and sum(x for x, _ in out) + a > budget:
            break
        out.append((a, e))
    return out


def _columns(table: str) -> list[str]:
    from ionscreen import schema

    return schema.spec(table).column_names


def job_runtime_min(max_s: float, rate: Rate, plan: PlanSettings) -> int:
    """A batch job's time limit, min: its planned maximum x (1 + margin), the model's loading and
    the job's start, rounded up to a whole minute."""
    return max(1, math.ceil((max_s * (1 + plan.margin) + rate.start_s + JOB_START_S) / 60.0))


def campaign_runs(
    batches: dict[str, list[str]], sizes: dict[str, tuple[int, int]], temperatures_K: list[float]
) -> list[Run]:
    """The ``Run``s of a campaign's md batches ({batch: ["<material>/<T>K"]}); a material without
    a prepared structure (rejected at fetch) has 0 atoms and costs nothing. ``sizes``: material
    id -> (atoms, edges)."""
    top = max(float(t) for t in temperatures_K)
    out = []
    for name, members in batches.items():
        for run in members:
            mid, t = run.rsplit("/", 1)
            temp = float(t.removesuffix("K"))
            atoms, edges = sizes.get(mid, (0, 0))
            out.append(Run(name, mid, temp, int(atoms), int(edges), temp == top))
    return out


def batch_wall_s(md_runs: pd.DataFrame) -> pd.Series:
    """What each batch job's MD loop took (s), from the md_runs table: the runs of a batch share
    one loop, and each row's ``wall_s`` is that loop's time (plus any time before a resume), so a
    batch's cost is its longest row. Batches are the folders the runs lie in
    (md/batches/<batch>/<material>/<T>K.parquet)."""
    ran = md_runs[md_runs["status"] != "skipped"]
    return ran.groupby(batch_names(ran))["wall_s"].max()


def batch_names(md_runs: pd.DataFrame) -> pd.Series:
    """The batch job of each md_runs row: the folder its trajectory lies in (md/batches/<batch>/...)."""
    return md_runs["trajectory_path"].map(lambda p: Path(str(p)).parts[-3] if len(Path(str(p)).parts) >= 3 else "")


def compare(plan: pd.DataFrame, md_runs: pd.DataFrame) -> pd.DataFrame:
    """The plan's md row beside what the runs took: device-hours planned (min, expected, max) and
    actual, and actual / max and actual / expected (the next plan's calibration)."""
    actual = float(batch_wall_s(md_runs).sum()) / 3600
    md = plan[plan["stage"] == "md"].iloc[0]
    return pd.DataFrame(
        [
            {
                "stage": "md",
                "min_hours": md["min_hours"],
                "expected_hours": md["expected_hours"],
                "max_hours": md["max_hours"],
                "actual_hours": actual,
                "actual_over_max": actual / md["max_hours"] if md["max_hours"] else float("nan"),
                "actual_over_expected": actual / md["expected_hours"] if md["expected_hours"] else float("nan"),
            }
        ]
    )


# ---------------------------------------------------------------- reading it


def hours(h: float) -> str:
    """A duration for people: seconds, minutes or hours."""
    if not math.isfinite(h):
        return "-"
    s = h * 3600
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{h:,.1f} h" if h < 100 else f"{h:,.0f} h"


def render(plan: pd.DataFrame, rate: Rate, *, title: str = "") -> str:
    """The plan as a person reads it at a glance."""
    md = plan[plan["stage"] == "md"].iloc[0]
    lines = [
        title or "ionscreen plan",
        f"  device: {rate.device_name} ({rate.mlip}, md.batch_atoms {rate.batch_atoms}, accelerator {rate.accelerator})",
        f"  rate:   {md['atom_steps_per_s']:,.0f} atom-steps/s in a full batch; model loading {rate.start_s:.1f} s; "
        f"one label check {rate.check_s:.1f} s; steady to +-{100 * rate.spread:.0f} % "
        f"(measured {rate.measured_at}, probe {rate.probe_s:.0f} s)",
        "",
        f"  {'stage':<6} {'jobs':>6} {'runs':>7} {'MD steps: min / expected / max':>36}   "
        f"{'device-hours: min / expected / max':>38}   {'on ' + str(int(md['devices'])) + ' device(s)':>16}",
    ]
    for _, r in plan.iterrows():
        st = f"{r['steps_min']:.3g} / {r['steps_expected']:.3g} / {r['steps_max']:.3g}" if r["steps_max"] else "-"
        hr = f"{hours(r['min_hours'])} / {hours(r['expected_hours'])} / {hours(r['max_hours'])}"
        wall = f"{hours(r['wall_expected_hours'])} - {hours(r['wall_max_hours'])}"
        lines.append(f"  {r['stage']:<6} {int(r['jobs']):>6} {int(r['runs']):>7} {st:>36}   {hr:>38}   {wall:>16}")
    lines += [
        "",
        "  max: every run to md.n_steps at every temperature; expected: the stop rule's and the ladder's",
        "  saving in the replay against known D (docs/md.md); min: the most they can save. min and max",
        "  widen by the probe's spread (the device's own unsteadiness between timed slices).",
    ]
    return "\n".join(lines)
