"""MD throughput: the batched engine against the plain loop a user would write, same run.

Plain loop: for each run, one after another, ASE's NoseHooverChainNVT driving the MLIP's ASE
calculator (sevenn's SevenNetCalculator), positions kept every ``interval`` steps; only the
integration is timed. Engine: ``ionscreen.md.batch.run_batch`` on the same runs (every run
advanced together: one potential evaluation per step; Verlet lists; on a CPU the dense
convolutions, one system per call; on a GPU one batched graph per step), timed whole, writing
its Parquet tables and resume chunks. Figures are atom-steps per second (atoms x steps / wall).

Runs: alpha-Li3N supercells (Rabenau & Schulz 1976 lattice) of 16-100 atoms at 600-1200 K.

    python benchmarks/md_throughput.py                       # 1, 8, 32 mixed runs and 16 x 32 atoms
    python benchmarks/md_throughput.py --cases 64x100 --steps 100   # the GPU case
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from ase import units
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from ionscreen import mlip
from ionscreen.md.batch import RunSpec, run_batch
from ionscreen.md.engine import MDSettings
from ionscreen.md.potentials import get_potential

warnings.filterwarnings("ignore")

LI3N = Structure.from_spacegroup(
    "P6/mmm", Lattice.hexagonal(3.648, 3.875), ["N", "Li", "Li"], [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0]]
)
# Supercells by atom count (4 atoms per cell).
CELLS = {16: (2, 2, 1), 32: (2, 2, 2), 48: (3, 2, 2), 64: (4, 2, 2), 72: (3, 3, 2), 96: (4, 3, 2), 100: (5, 5, 1)}
MIXED = [16, 32, 48, 64, 72, 96, 100]
TEMPS = [600.0, 800.0, 1000.0, 1200.0]


def runs_of(case: str) -> list[tuple[int, float]]:
    """'8' = 8 runs of mixed sizes (16-100 atoms); '16x32' = 16 runs of 32 atoms; mixed temperatures."""
    n, _, size = case.partition("x")
    sizes = [int(size)] * int(n) if size else [MIXED[k % len(MIXED)] for k in range(int(n))]
    return [(s, TEMPS[k % len(TEMPS)]) for k, s in enumerate(sizes)]


def plain_loop(runs: list[tuple[int, float]], calc, steps: int, interval: int) -> float:
    """Seconds of integration of every run, one after another."""
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    wall = 0.0
    for k, (n, temp) in enumerate(runs):
        atoms = AseAtomsAdaptor.get_atoms(LI3N * CELLS[n])
        atoms.calc = calc
        MaxwellBoltzmannDistribution(atoms, temperature_K=temp, rng=np.random.default_rng(k))
        Stationary(atoms)
        dyn = NoseHooverChainNVT(atoms, timestep=1.0 * units.fs, temperature_K=temp, tdamp=100 * units.fs)
        frames = [atoms.get_positions()]
        t0 = time.perf_counter()
        for _ in range(steps // interval):
            dyn.run(interval)
            frames.append(atoms.get_positions())
        wall += time.perf_counter() - t0
    return wall


def engine(runs: list[tuple[int, float]], potential, steps: int, interval: int, name: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        specs = [
            RunSpec(
                AseAtomsAdaptor.get_atoms(LI3N * CELLS[n]),
                MDSettings(temperature_K=temp, n_steps=steps, interval=interval, mlip=name, seed=k),
                Path(tmp) / f"{k}.parquet",
                f"r{k}",
            )
            for k, (n, temp) in enumerate(runs)
        ]
        t0 = time.perf_counter()
        rows = run_batch(specs, potential, progress=False)
        wall = time.perf_counter() - t0
    assert all(r["status"] == "ok" for r in rows), [r["reason"] for r in rows]
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--cases",
        nargs="+",
        default=["1", "8", "16x32", "32"],
        help="N = N runs of mixed sizes; NxA = N runs of A atoms",
    )
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--mlip", default="7net-0")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--atoms-per-call", type=int, default=None, help="engine: atoms per model call (default per device)"
    )
    ap.add_argument(
        "--accelerator", default="auto", help="engine: SevenNet tensor-product accelerator (mlip.accelerator)"
    )
    a = ap.parse_args()
    import torch

    threads = mlip.set_threads(a.threads)
    device = mlip.resolve_device(a.device)
    card = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU, {threads} thread(s)"
    calc = mlip.get_calculator(a.mlip, device, accelerator="none")  # the plain loop: sevenn's calculator as is
    potential = get_potential(a.mlip, device, accelerator=a.accelerator)
    if a.atoms_per_call:
        potential.atoms_per_call = a.atoms_per_call
    print(
        f"MLIP {a.mlip} on {device} ({card}); {a.steps} steps of 1 fs per run, frame every {a.interval}; "
        f"engine: {potential.atoms_per_call} atoms per call, accelerator {potential.accelerator}"
    )
    plain_loop(runs_of("1x32"), calc, a.interval, a.interval)  # warm-up (first calls, caches)
    engine(runs_of("1x32"), potential, a.interval, a.interval, a.mlip)
    print(f"{'runs':>6} {'atoms':>6} {'plain atom-steps/s':>19} {'engine atom-steps/s':>20} {'ratio':>7}")
    for case in a.cases:
        runs = runs_of(case)
        atom_steps = sum(n for n, _ in runs) * a.steps
        plain = atom_steps / plain_loop(runs, calc, a.steps, a.interval)
        ours = atom_steps / engine(runs, potential, a.steps, a.interval, a.mlip)
        sizes = (
            f"{runs[0][0]}"
            if len({n for n, _ in runs}) == 1
            else f"{min(n for n, _ in runs)}-{max(n for n, _ in runs)}"
        )
        print(f"{len(runs):>6} {sizes:>6} {plain:>19.1f} {ours:>20.1f} {ours / plain:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
