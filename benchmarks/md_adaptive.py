"""Replay of the stop rule and the temperature ladder on full-length trajectories.

For each trajectory the label stage's function labels the first t ps at every check of the stop
rule (t = min_ps, min_ps + segment_ps, ...); the replayed run stops at the first check whose
kinisi 95 % interval of D has a relative half-width <= target_rel_error, else at its full length.
A material's temperatures are replayed from the highest down: below a run that ended not
diffusive at full length, runs are skipped (0 ps). Compared with the fixed protocol (every run at
full length): simulated ps, and whether the full-length D lies inside the interval the stopped
run reported. The replay set:

- synthetic Arrhenius materials (``ionscreen.labels.walks``: 24 Li, as many as a ~100-atom cell of a
  Li conductor holds, hopping 2.5 A on a cubic lattice, D(T) = D0 exp(-Ea / kB T) with known D)
  at 1200, 1000, 800 and 600 K, 25 ps each;
- kinisi's Li6PS5Cl AIMD example (VASP XDATCAR shipped in kinisi's tests, 700 K, 14 ps);
- any trajectories of this workflow given with ``--trajectories`` (grouped by material).

    python benchmarks/md_adaptive.py
    python benchmarks/md_adaptive.py --trajectories 'results/md/batches/*/*/*K.parquet'
"""

from __future__ import annotations

import argparse
import glob
import math
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from ionscreen.labels.diffusion import LabelSettings
from ionscreen.labels.stage import label_or_failed
from ionscreen.labels.walks import lattice_walk
from ionscreen.md.engine import MDSettings
from ionscreen.md.stopping import stop_here
from ionscreen.trajectory import Trajectory, read_trajectory

warnings.filterwarnings("ignore")
K_B_EV = 8.617333262e-5
TEMPS = [1200.0, 1000.0, 800.0, 600.0]
# (D at 1200 K in cm^2/s, Ea in eV): fast to caged conductors.
MATERIALS = [
    (3e-4, 0.20),
    (1e-4, 0.25),
    (5e-5, 0.30),
    (2e-5, 0.35),
    (1e-5, 0.40),
    (5e-6, 0.45),
    (2e-6, 0.50),
    (1e-6, 0.55),
    (3e-7, 0.60),
    (1e-7, 0.70),
]


def _cut(traj: Trajectory, t_ps: float) -> Trajectory:
    n = int(round(t_ps / traj.frame_dt_ps)) + 1
    return replace(traj, positions_A=traj.positions_A[:n])


def _interval(row: dict) -> tuple[float, float, float]:
    if row.get("status") == "ok" and row.get("diffusive"):
        return float(row["D_cm2_s"]), float(row["D_ci95_low_cm2_s"]), float(row["D_ci95_high_cm2_s"])
    return math.nan, math.nan, math.nan


def replay_run(traj: Trajectory, md: MDSettings, label: LabelSettings) -> dict:
    """Where the stop rule stops one trajectory, and the labels there and at full length."""
    full = label_or_failed(traj, label)
    length = traj.duration_ps
    t, stop, row, previous = md.min_ps, length, full, None
    while t < length - 1e-9:
        r = label_or_failed(_cut(traj, t), label)
        d, lo, hi = _interval(r)
        if stop_here(d, lo, hi, previous, md.target_rel_error):
            stop, row = t, r
            break
        previous = (d, lo, hi)
        t += md.segment_ps
    return {"full": full, "stopped": row, "stop_ps": stop, "length_ps": length}


def replay_material(
    name: str,
    trajs: dict[float, Trajectory],
    md: MDSettings,
    label: LabelSettings,
    truth: dict[float, float] | None = None,
) -> list[dict]:
    out, skip, skip_bound = [], "", math.inf
    for temp in sorted(trajs, reverse=True):
        traj = trajs[temp]
        rec = {"material": name, "T": temp, "length_ps": traj.duration_ps, "D_true": (truth or {}).get(temp, math.nan)}
        if skip:
            rec["D_full"] = _interval(label_or_failed(traj, label))[0]
            rec.update(
                stop_ps=0.0,
                how="skipped",
                D_stop=math.nan,
                lo=math.nan,
                hi=math.nan,
                inside=math.nan,
                bound_holds=not math.isfinite(rec["D_full"]) or rec["D_full"] <= skip_bound,
            )
            out.append(rec)
            continue
        r = replay_run(traj, md, label)
        rec["D_full"] = _interval(r["full"])[0]
        d, lo, hi = _interval(r["stopped"])
        early = r["stop_ps"] < r["length_ps"] - 1e-9
        rec.update(
            stop_ps=r["stop_ps"],
            how="converged" if early else ("full, diffusive" if math.isfinite(d) else "full, not diffusive"),
            D_stop=d,
            lo=lo,
            hi=hi,
            bound_holds=math.nan,
            inside=(lo <= rec["D_full"] <= hi) if math.isfinite(d) and math.isfinite(rec["D_full"]) else math.nan,
        )
        out.append(rec)
        if md.ladder and not math.isfinite(d):
            skip, skip_bound = "ladder", float(r["full"].get("D_upper_cm2_s", math.inf))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", default=None, help="glob of this workflow's trajectory tables to replay too")
    ap.add_argument("--target-rel-error", type=float, default=MDSettings.target_rel_error)
    ap.add_argument("--segment-ps", type=float, default=MDSettings.segment_ps)
    ap.add_argument("--min-ps", type=float, default=MDSettings.min_ps)
    ap.add_argument("--n-dt", type=int, default=LabelSettings.n_dt)
    ap.add_argument("--n-li", type=int, default=24, help="Li atoms of the synthetic walks")
    a = ap.parse_args()
    md = MDSettings(target_rel_error=a.target_rel_error, segment_ps=a.segment_ps, min_ps=a.min_ps)
    label = LabelSettings(n_dt=a.n_dt)
    print(
        f"stop rule: converged at +-{100 * md.target_rel_error:.0f} % (95 % interval), checks every {md.segment_ps:g} ps "
        f"from {md.min_ps:g} ps; ladder on; labels n_dt={label.n_dt}"
    )
    t0 = time.perf_counter()
    records = []
    for k, (d1200, ea) in enumerate(MATERIALS):
        truth = {t: d1200 * math.exp(-ea / K_B_EV * (1 / t - 1 / 1200.0)) for t in TEMPS}
        trajs = {t: lattice_walk(truth[t], n_li=a.n_li, seed=100 * k + i, temperature_K=t) for i, t in enumerate(TEMPS)}
        records += replay_material(f"walk-{k} (D1200={d1200:.0e}, Ea={ea:.2f})", trajs, md, label, truth)
    import kinisi

    xdatcar = Path(kinisi.__file__).parent / "tests/inputs/example_XDATCAR.gz"
    traj, _ = read_trajectory(xdatcar, timestep_fs=2.0, interval=50, temperature_K=700.0)
    records += replay_material("Li6PS5Cl AIMD (kinisi)", {700.0: traj}, md, label)
    if a.trajectories:
        by_mat: dict[str, dict[float, Trajectory]] = {}
        for p in sorted(glob.glob(a.trajectories)):
            if p.endswith(".run.parquet"):
                continue
            tr, meta = read_trajectory(p)
            if tr is not None and tr.n_frames >= label.min_frames:
                by_mat.setdefault(meta.get("material_id", Path(p).parent.name), {})[tr.temperature_K] = tr
        for m, trajs in sorted(by_mat.items()):
            records += replay_material(m, trajs, md, label)

    print(
        f"\n{'material':34} {'T K':>6} {'ps':>5} {'stop ps':>7} {'how':>19} {'D full':>9} {'D stop':>9} "
        f"{'95 % interval':>21} {'inside':>6} {'D true':>9}"
    )
    for r in records:
        interval = f"{r['lo']:.2e}-{r['hi']:.2e}" if math.isfinite(r["lo"]) else ""
        inside = "" if isinstance(r["inside"], float) and math.isnan(r["inside"]) else ("yes" if r["inside"] else "NO")
        print(
            f"{r['material']:34} {r['T']:>6g} {r['length_ps']:>5.1f} {r['stop_ps']:>7.1f} {r['how']:>19} "
            f"{r['D_full']:>9.2e} {r['D_stop']:>9.2e} {interval:>21} {inside:>6} {r['D_true']:>9.2e}"
        )
    fixed = sum(r["length_ps"] for r in records)
    used = sum(r["stop_ps"] for r in records)
    judged = [r for r in records if not (isinstance(r["inside"], float) and math.isnan(r["inside"]))]
    early = [r for r in judged if r["how"] == "converged"]
    skipped = [r for r in records if r["how"] == "skipped"]
    print(
        f"\nsimulated: {used:.1f} ps of the fixed protocol's {fixed:.1f} ps ({1 - used / fixed:.0%} fewer); "
        f"{len(early)} runs stopped early, {len(skipped)} skipped by the ladder, {len(records)} runs"
    )
    print(
        f"full-length D inside the stopped run's 95 % interval: {sum(bool(r['inside']) for r in judged)} of "
        f"{len(judged)} diffusive runs ({np.mean([bool(r['inside']) for r in judged]):.0%}); of the "
        f"{len(early)} stopped early: {sum(bool(r['inside']) for r in early)}"
    )
    diffusive_skipped = [r for r in skipped if math.isfinite(r["D_full"])]
    print(
        f"skipped runs: {len(diffusive_skipped)} of {len(skipped)} diffusive at full length, "
        f"{sum(r['bound_holds'] for r in diffusive_skipped)} of them with D below the bound from the run above"
    )
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
