"""Benchmark of the label stage against the plain kinisi call a user would write.

1. Speed: a 2,501-frame trajectory (the LiFlow protocol's length: 25 ps, a frame every 10 fs),
   64 Li random walkers with a known D in a 64-atom host. ionscreen's label (bounded grid of
   time intervals, automatic window) against kinisi's DiffusionAnalyzer with its default grid
   (every interval), same data, same run. The baseline's fit cost grows ~quadratically with the
   number of intervals, so --baseline-frames caps its length (default: all frames).
2. Bias: D on kinisi's real Li6PS5Cl XDATCAR for several grid sizes, against the full grid.

    python benchmarks/label_throughput.py            # both, full baseline (minutes)
    python benchmarks/label_throughput.py --quick    # baseline on 501 frames
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402

from ionscreen.labels.diffusion import LabelSettings, label_trajectory  # noqa: E402
from ionscreen.trajectory import Trajectory, read_trajectory  # noqa: E402


def random_walk(n_frames: int, d_cm2_s: float, frame_ps: float, seed: int = 0) -> Trajectory:
    """64 Li diffusing with D (cm^2/s) in a static 64-atom O host, cubic 12 A cell."""
    rng = np.random.default_rng(seed)
    cell = np.eye(3) * 12.0
    n_li, n_host = 64, 64
    sigma = np.sqrt(2 * d_cm2_s * 1e-4 * frame_ps * 1e-12) * 1e10  # A per frame per axis
    li = rng.uniform(0, 12, (n_li, 3)) + np.cumsum(rng.normal(0, sigma, (n_frames, n_li, 3)), axis=0)
    host = np.broadcast_to(rng.uniform(0, 12, (n_host, 3)), (n_frames, n_host, 3))
    pos = np.concatenate([li, host], axis=1)
    numbers = np.array([3] * n_li + [8] * n_host)
    return Trajectory(pos, numbers, cell, frame_ps, 1000.0, "random-walk")


def kinisi_default(traj: Trajectory) -> tuple[float, float]:
    """What a user writes: ASE frames -> DiffusionAnalyzer.from_ase (all intervals) -> diffusion."""
    import scipp as sc
    from ase import Atoms
    from kinisi.analyze import DiffusionAnalyzer

    frames = [Atoms(numbers=traj.numbers, positions=p, cell=traj.cell_A, pbc=True) for p in traj.positions_A]
    t0 = time.perf_counter()
    d = DiffusionAnalyzer.from_ase(
        frames,
        specie="Li",
        time_step=traj.frame_dt_ps * 1000 * sc.Unit("fs"),
        step_skip=1 * sc.Unit("dimensionless"),
        progress=False,
    )
    d.diffusion(0.1 * traj.duration_ps * 1000 * sc.Unit("fs"), progress=False, random_state=np.random.RandomState(42))
    return time.perf_counter() - t0, float(sc.mean(d.D).value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2501)
    ap.add_argument("--baseline-frames", type=int, default=None, help="default: same as --frames")
    ap.add_argument("--quick", action="store_true", help="baseline on 501 frames")
    a = ap.parse_args()
    base_frames = 501 if a.quick else (a.baseline_frames or a.frames)

    D_true = 5e-5
    traj = random_walk(a.frames, D_true, 0.010)
    t0 = time.perf_counter()
    row = label_trajectory(traj, LabelSettings())
    ours = time.perf_counter() - t0
    print(
        f"ionscreen label, {a.frames} frames, {row['n_li']} Li: {ours:.2f} s; D = {row['D_cm2_s']:.3e} "
        f"(true {D_true:.1e}); window from {row['start_dt_ps']:.2f} ps, slope {row['msd_slope']:.2f}"
    )
    short = random_walk(base_frames, D_true, 0.010)
    t_ours_short = time.perf_counter()
    label_trajectory(short, LabelSettings())
    t_ours_short = time.perf_counter() - t_ours_short
    t_base, D_base = kinisi_default(short)
    print(f"plain kinisi (every interval), {base_frames} frames: {t_base:.2f} s; D = {D_base:.3e}")
    print(
        f"same {base_frames} frames: ionscreen {t_ours_short:.2f} s vs plain {t_base:.2f} s -> {t_base / t_ours_short:.1f}x"
    )

    import kinisi

    xdatcar = Path(kinisi.__file__).parent / "tests/inputs/example_XDATCAR.gz"
    real, _ = read_trajectory(xdatcar, timestep_fs=2.0, interval=50, temperature_K=700.0)
    print(f"\nLi6PS5Cl XDATCAR ({real.n_frames} frames), xy, start 3 ps: D by number of time intervals")
    full = None
    for n_dt in (real.n_frames - 1, 100, 50, 25):
        t0 = time.perf_counter()
        r = label_trajectory(real, LabelSettings(dimension="xy", start_dt_ps=3.0, n_dt=n_dt))
        full = full or r["D_cm2_s"]
        print(
            f"  n_dt {n_dt:4d}: D = {r['D_cm2_s']:.3e} +- {r['D_std_cm2_s']:.2e} "
            f"({(r['D_cm2_s'] / full - 1) * 100:+.1f} % vs all intervals), {time.perf_counter() - t0:.2f} s"
        )


if __name__ == "__main__":
    main()
