"""MD throughput: ionscreen's run_md against the plain loop a user would write, same run.

Plain loop: ASE NoseHooverChainNVT + the same calculator object, positions appended to a list every
``interval`` steps. Pipeline: run_md (divergence checks, Parquet chunks, resume states). Both on
alpha-Li3N supercells (Rabenau & Schulz 1976 lattice) of 32, 64 and 128 atoms.

    python benchmarks/md_throughput.py                  # SevenNet-0, 20 steps per size
    python benchmarks/md_throughput.py --steps 200 --mlip lj
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
from ionscreen.md import MDSettings, run_md

warnings.filterwarnings("ignore", category=DeprecationWarning)

LI3N = Structure.from_spacegroup("P6/mmm", Lattice.hexagonal(3.648, 3.875), ["N", "Li", "Li"],
                                 [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0]])
CELLS = {32: (2, 2, 2), 64: (4, 2, 2), 128: (4, 4, 2)}


def plain_loop(structure: Structure, calc, steps: int, interval: int, T: float) -> float:
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=T, rng=np.random.default_rng(0))
    Stationary(atoms)
    dyn = NoseHooverChainNVT(atoms, timestep=1.0 * units.fs, temperature_K=T, tdamp=100 * units.fs)
    frames = [atoms.get_positions()]
    t0 = time.perf_counter()
    for _ in range(steps // interval):
        dyn.run(interval)
        frames.append(atoms.get_positions())
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--mlip", default="7net-0")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    a = ap.parse_args()
    mlip.set_threads(a.threads)
    calc = mlip.get_calculator(a.mlip, a.device)
    device = "cpu" if a.mlip == "lj" else mlip.resolve_device(a.device)
    print(f"MLIP {a.mlip} on {device}, {a.threads} threads, {a.steps} steps of 1 fs, frame every {a.interval}")
    print(f"{'atoms':>6} {'plain steps/s':>14} {'ionscreen steps/s':>18} {'overhead':>9} {'ns/day':>8}")
    for n in a.sizes:
        s = LI3N * CELLS[n]
        plain_loop(s, calc, a.interval, a.interval, 800.0)  # warm-up (graph build, caches)
        plain = plain_loop(s, calc, a.steps, a.interval, 800.0)
        with tempfile.TemporaryDirectory() as tmp:
            row = run_md(s, MDSettings(temperature_K=800.0, n_steps=a.steps, timestep_fs=1.0, interval=a.interval,
                                       mlip=a.mlip, seed=0), Path(tmp) / "t.parquet", calc=calc, progress=False)
        ours = row["steps_per_s"]
        print(f"{n:>6} {plain:>14.3f} {ours:>18.3f} {plain / ours - 1:>+9.1%} {ours * 86400 * 1e-6:>8.4f}")


if __name__ == "__main__":
    main()
