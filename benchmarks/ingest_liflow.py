"""LiFlow ingest: streaming (one structure x temperature in memory) against the plain approach a
user would write first (load every positions_{T}K.npz key into a dict, then label), on a generated
archive in LiFlow's layout. Prints wall time and peak traced memory of both, and their ratio.

    python benchmarks/ingest_liflow.py [--structures 48] [--frames 1001] [--atoms-mult 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", type=int, default=48)
    ap.add_argument("--frames", type=int, default=1001)
    ap.add_argument("--atoms-mult", type=int, default=3, help="Li2O supercell n x n x n")
    a = ap.parse_args()
    from pymatgen.core import Structure

    from ionscreen.ingest.liflow import ingest_liflow, write_example_archive
    from ionscreen.labels.diffusion import LabelSettings, label_trajectory
    from ionscreen.trajectory import Trajectory

    settings = LabelSettings(n_dt=50)
    base = Structure.from_file(REPO / "resources/structures/train/Li2O.json")
    base.make_supercell([a.atoms_mult] * 3)
    with tempfile.TemporaryDirectory() as tmp:
        arch = Path(tmp) / "archive"
        write_example_archive(
            arch, [(f"m{i}", base.copy()) for i in range(a.structures)], temperatures=(600, 800), n_frames=a.frames
        )
        size = sum(p.stat().st_size for p in arch.glob("positions_*.npz"))
        ingest_liflow(arch, Path(tmp) / "warm", settings=settings, limit=1)  # imports out of the way

        tracemalloc.start()
        t = time.perf_counter()
        ingest_liflow(arch, Path(tmp) / "out", settings=settings)
        t_stream = time.perf_counter() - t
        peak_stream = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

        tracemalloc.start()
        t = time.perf_counter()
        numbers = np.load(arch / "atomic_numbers.npy", allow_pickle=True).item()
        lattice = np.load(arch / "lattice.npy", allow_pickle=True).item()
        everything = {T: dict(np.load(arch / f"positions_{T}K.npz")) for T in (600, 800)}  # all in memory
        for T, pos in everything.items():
            for name, p in pos.items():
                label_trajectory(
                    Trajectory(p.astype(np.float64), numbers[name], lattice[name], 0.01, float(T), name), settings
                )
        t_plain = time.perf_counter() - t
        peak_plain = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    n = 2 * a.structures
    print(
        f"archive: {a.structures} structures x 2 temperatures, {len(base)} atoms, {a.frames} frames: {size / 1e6:.0f} MB of positions"
    )
    print(
        f"ionscreen ingest-liflow (streaming, writes all tables): {t_stream:6.1f} s, peak {peak_stream / 1e6:6.1f} MB, {n / t_stream:.2f} trajectories/s"
    )
    print(f"plain (load all, label only, writes nothing):         {t_plain:6.1f} s, peak {peak_plain / 1e6:6.1f} MB")
    print(
        f"ratio: peak memory {peak_plain / peak_stream:.1f}x lower when streaming; time {t_stream / t_plain:.2f}x the plain loop"
    )


if __name__ == "__main__":
    main()
