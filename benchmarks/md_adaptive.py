"""Replay of the stop rule and the temperature ladder, scored against the true D.

Walks whose long-time D is known (``ionscreen.labels.walks``: 24 Li hopping 2.5 A, 25 ps, a frame
every 0.05 ps) are generated in full and the stop rule is replayed on them exactly as the engine
applies it (``ionscreen.md.stopping.replay``). Each run is judged against the truth, not against
its own full-length label:

1. **Stop rule, per process** (replicates per process and D): how many runs stopped early and
   when; the share whose stopped 95 % interval contains the true long-time D ('stopped
   coverage'), next to the same share for the fixed protocol (every run at full length); the ps
   the stop rule saves. Processes: ideal hopping at three D; caged Li (no long-range D: a
   'converged' stop is wrong whatever its interval); a slow and a fast start (transients); back
   hops; concerted hops of 4 Li.
2. **Ladder, per material** (600-1200 K, replicates per material): Arrhenius materials from fast
   to caged, a caged material, and one that is **not** Arrhenius (caged at 1200 K, a conductor
   below: a phase change on cooling), so 'no skipped run was diffusive' can fail. The ps the
   ladder saves are reported apart from those the stop rule saves, and every skipped run is
   checked: was it diffusive at full length, and does the bound from the run above hold?

    python benchmarks/md_adaptive.py                        # the figures in docs/md.md (~40 min, 2 cores)
    python benchmarks/md_adaptive.py --quick                # fewer replicates (~5 min)
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import Pool

import numpy as np

from ionscreen.labels import walks
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.md.engine import MDSettings
from ionscreen.md.stage import ladder_skip
from ionscreen.md.stopping import check_trajectory, framework_intact, replay
from ionscreen.trajectory import Trajectory

warnings.filterwarnings("ignore")
K_B_EV = 8.617333262e-5
TEMPS = [1200.0, 1000.0, 800.0, 600.0]
N_LI = 24
SIDE = 10  # sites per cell side: a 25 A cell, so no Li crosses half of it between two frames (labels refuse that)


@dataclass(frozen=True)
class Process:
    name: str
    D_cm2_s: float  # the true long-time D (0: caged)
    make: Callable[[float, int, float], Trajectory]  # (D, seed, T) -> trajectory
    replicates: int


def ideal(D: float, seed: int, T: float = 600.0) -> Trajectory:
    return walks.lattice_walk(D, n_li=N_LI, sites_per_side=SIDE, seed=seed, temperature_K=T)


def caged(D: float, seed: int, T: float = 600.0) -> Trajectory:
    return walks.caged_walk(2e-4, n_li=N_LI, seed=seed, temperature_K=T)  # D_free 2e-4; long-range D = 0


def slow_start(D: float, seed: int, T: float = 600.0) -> Trajectory:
    return walks.transient_walk(
        D, start_factor=0.1, tau_ps=3.0, n_li=N_LI, sites_per_side=SIDE, seed=seed, temperature_K=T
    )


def fast_start(D: float, seed: int, T: float = 600.0) -> Trajectory:
    return walks.transient_walk(
        D, start_factor=3.0, tau_ps=2.0, n_li=N_LI, sites_per_side=SIDE, seed=seed, temperature_K=T
    )


def back_hops(D: float, seed: int, T: float = 600.0) -> Trajectory:
    return walks.back_hop_walk(D, p_back=0.5, back_ps=1.5, n_li=N_LI, sites_per_side=SIDE, seed=seed, temperature_K=T)


def concerted(D: float, seed: int, T: float = 600.0) -> Trajectory:
    return walks.concerted_walk(D, group=4, n_li=N_LI, sites_per_side=SIDE, seed=seed, temperature_K=T)


def processes(scale: float) -> list[Process]:
    n = lambda k: max(3, int(round(k * scale)))  # noqa: E731
    return [
        Process("ideal", 3e-5, ideal, n(50)),
        Process("ideal", 1e-4, ideal, n(50)),
        Process("ideal", 3e-4, ideal, n(50)),
        Process("caged", 0.0, caged, n(20)),
        Process("slow start", 1e-4, slow_start, n(40)),
        Process("slow start", 3e-4, slow_start, n(40)),
        Process("fast start", 1e-4, fast_start, n(40)),
        Process("back hops", 1e-4, back_hops, n(40)),
        Process("back hops", 3e-4, back_hops, n(40)),
        Process("concerted", 1e-4, concerted, n(20)),
    ]


def _inside(c, D: float) -> bool:
    return bool(c.diffusive) and c.low <= D <= c.high


def stop_rule_job(job: tuple[Process, int, MDSettings, LabelSettings]) -> dict:
    """One replicate: where the rule stops, and the fixed protocol's label of the same walk."""
    p, seed, md, label = job
    traj = p.make(p.D_cm2_s, 10_000 + seed, 600.0)
    stopped, how = replay(traj, md, label)
    full = stopped if how == "max_length" else check_trajectory(traj, md, label, None, force_label=True)
    return {
        "process": p.name,
        "D": p.D_cm2_s,
        "how": how,
        "stop_ps": stopped.elapsed_ps,
        "length_ps": traj.duration_ps,
        "inside": _inside(stopped, p.D_cm2_s),
        "fixed_inside": _inside(full, p.D_cm2_s),
    }


# Ladder materials: (name, process, D at 1200 K, Ea in eV); 'not Arrhenius' is caged at 1200 K and
# an ideal conductor (D 1e-4) below it.
MATERIALS = [
    ("fast, Ea 0.25", ideal, 3e-4, 0.25),
    ("medium, Ea 0.35", ideal, 5e-5, 0.35),
    ("slow, Ea 0.55", ideal, 3e-6, 0.55),
    ("very slow, Ea 0.70", ideal, 3e-7, 0.70),
    ("caged", caged, 0.0, 0.0),
    ("not Arrhenius", None, 1e-4, 0.0),
]


def ladder_job(job: tuple[tuple, int, MDSettings, LabelSettings]) -> list[dict]:
    """One replicate of one material, its temperatures from the top down: each run's stop-rule
    replay and fixed label, and whether the ladder skips it (and what the skipped run was)."""
    (name, make, d1200, ea), seed, md, label = job
    out, above = [], None
    for k, T in enumerate(TEMPS):
        if make is None:  # not Arrhenius: a cage at the top, a conductor below
            D, traj = (0.0, caged(0.0, seed * 10 + k, T)) if k == 0 else (d1200, ideal(d1200, seed * 10 + k, T))
        else:
            D = d1200 * math.exp(-ea / K_B_EV * (1 / T - 1 / 1200.0)) if d1200 else 0.0
            traj = make(D, seed * 10 + k, T)
        stopped, how = replay(traj, md, label)
        full = stopped if how == "max_length" else check_trajectory(traj, md, label, None, force_label=True)
        intact = framework_intact(traj)[0]
        rec = {"material": name, "T": T, "D": D, "length_ps": traj.duration_ps, "stop_ps": stopped.elapsed_ps}
        rec["fixed_diffusive"] = bool(full.diffusive)
        rec["inside"] = _inside(stopped, D)
        rec["fixed_inside"] = _inside(full, D)
        rec["upper"] = float((full.row or {}).get("D_upper_cm2_s", math.nan))
        skip = ladder_skip(above) if above else ""
        rec["skipped"] = bool(skip)
        rec["bound_holds"] = (D <= above["bound"]) if skip else math.nan
        out.append(rec)
        if skip:
            above = {**above, "stop_reason": "ladder", "reason": skip}
        else:
            above = {
                "status": "ok",
                "stop_reason": how,
                "diffusive": bool(stopped.diffusive) if how == "converged" else bool(full.diffusive),
                "framework_intact": intact,
                "framework": "",
                "temperature_K": T,
                "length_ps": stopped.elapsed_ps,
                "bound": rec["upper"],
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a fifth of the replicates")
    ap.add_argument("--ladder-replicates", type=int, default=10)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    md, label = MDSettings(), LabelSettings()
    scale = 0.2 if a.quick else 1.0
    print(
        f"stop rule: checks every {md.segment_ps:g} ps from {md.min_ps:g} ps; stops when steady, D known to "
        f"+-{100 * md.target_rel_error:.0f} %, MSD >= {md.min_msd_hops:g} hop lengths^2, linear, confirmed; "
        f"labels n_dt={label.n_dt}; walks of {N_LI} Li, 25 ps"
    )
    t0 = time.perf_counter()
    jobs = [(p, s, md, label) for p in processes(scale) for s in range(p.replicates)]
    n_ladder = max(3, int(round(a.ladder_replicates * scale)))
    ladder_jobs = [(m, s, md, label) for m in MATERIALS for s in range(n_ladder)]
    with Pool(a.workers) as pool:
        rows = pool.map(stop_rule_job, jobs, chunksize=1)
        ladder = [r for part in pool.map(ladder_job, ladder_jobs, chunksize=1) for r in part]

    print("\n1. Stop rule, 600 K walks (coverage: the true long-time D inside the 95 % interval)")
    print(
        f"{'process':12} {'D true':>8} {'runs':>5} {'stopped early':>13} {'mean stop ps':>12} "
        f"{'stopped coverage':>16} {'fixed coverage':>14} {'ps saved':>9}"
    )
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["process"], r["D"]), []).append(r)
    for (name, D), rs in groups.items():
        early = [r for r in rs if r["how"] == "converged"]
        saved = 1 - sum(r["stop_ps"] for r in rs) / sum(r["length_ps"] for r in rs)
        cov = "n/a (D = 0)" if D == 0 else f"{np.mean([r['inside'] for r in rs]):.0%}"
        fcov = "n/a" if D == 0 else f"{np.mean([r['fixed_inside'] for r in rs]):.0%}"
        print(
            f"{name:12} {D:>8.0e} {len(rs):>5} {len(early):>13} "
            f"{np.mean([r['stop_ps'] for r in rs]):>12.1f} {cov:>16} {fcov:>14} {saved:>9.0%}"
        )
        if early and D > 0:
            print(f"{'':12} {'':>8} of the runs stopped early, {np.mean([r['inside'] for r in early]):.0%} contain D")

    print(f"\n2. Ladder, 1200 -> 600 K, {n_ladder} replicates per material")
    print(
        f"{'material':20} {'runs':>5} {'skipped':>7} {'skipped but diffusive':>21} {'bound holds':>11} "
        f"{'ps fixed':>8} {'stop rule':>9} {'ladder':>7} {'both':>6}"
    )
    totals = np.zeros(4)
    for name, *_ in MATERIALS:
        rs = [r for r in ladder if r["material"] == name]
        skipped = [r for r in rs if r["skipped"]]
        fixed = sum(r["length_ps"] for r in rs)
        stop_only = sum(r["stop_ps"] for r in rs)
        ladder_only = sum(r["length_ps"] for r in rs if not r["skipped"])
        both = sum(r["stop_ps"] for r in rs if not r["skipped"])
        totals += [fixed, stop_only, ladder_only, both]
        wrong = sum(r["fixed_diffusive"] for r in skipped)
        holds = f"{sum(bool(r['bound_holds']) for r in skipped)}/{len(skipped)}" if skipped else ""
        print(
            f"{name:20} {len(rs):>5} {len(skipped):>7} {wrong:>21} {holds:>11} "
            f"{fixed:>8.0f} {stop_only:>9.0f} {ladder_only:>7.0f} {both:>6.0f}"
        )
    fixed, stop_only, ladder_only, both = totals
    print(
        f"\nsimulated ps against the fixed protocol's {fixed:.0f}: stop rule alone {stop_only:.0f} "
        f"({1 - stop_only / fixed:.0%} fewer), ladder alone {ladder_only:.0f} ({1 - ladder_only / fixed:.0%} fewer), "
        f"both {both:.0f} ({1 - both / fixed:.0%} fewer)"
    )
    print(f"({time.perf_counter() - t0:.0f} s on {a.workers} workers)")


if __name__ == "__main__":
    main()
