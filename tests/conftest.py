"""Shared fixtures: real structures (cited lattice data, pymatgen's bundled files), kinisi's real
Li trajectories, and session-scoped SevenNet-0 objects (loaded once: ~3 s)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*tensor product accelerator.*")

REPO = Path(__file__).resolve().parents[1]


def li3n() -> Structure:
    """alpha-Li3N, P6/mmm, a = 3.648 A, c = 3.875 A (Rabenau & Schulz, J. Less-Common Met. 50,
    155 (1976)): N 1a (0,0,0), Li1 1b (0,0,1/2), Li2 2c (1/3,2/3,0)."""
    return Structure.from_spacegroup("P6/mmm", Lattice.hexagonal(3.648, 3.875), ["N", "Li", "Li"],
                                     [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0]])


@pytest.fixture
def li3n_cell() -> Structure:
    return li3n()


@pytest.fixture(scope="session")
def kinisi_inputs() -> Path:
    import kinisi

    return Path(kinisi.__file__).parent / "tests" / "inputs"


def unwrap_fractional(frac: np.ndarray) -> np.ndarray:
    """Unwrap (n_frames, n_atoms, 3) fractional coordinates by minimum-image frame steps."""
    d = np.diff(frac, axis=0)
    d -= np.round(d)
    return np.concatenate([frac[:1], frac[:1] + np.cumsum(d, axis=0)])


@pytest.fixture(scope="session")
def argyrodite_traj(kinisi_inputs):
    """kinisi's real Li6PS5Cl VASP trajectory: 140 frames, 2 fs x 50 steps between frames."""
    from pymatgen.io.vasp import Xdatcar

    from ionscreen.labels import Trajectory

    x = Xdatcar(str(kinisi_inputs / "example_XDATCAR.gz"))
    frac = unwrap_fractional(np.array([s.frac_coords for s in x.structures]))
    cell = x.structures[0].lattice.matrix
    numbers = np.array([site.specie.Z for site in x.structures[0]])
    return Trajectory(frac @ cell, numbers, cell, 2 * 50 / 1000.0, 700.0, "Li6PS5Cl")


@pytest.fixture(scope="session")
def embedder():
    from ionscreen import mlip
    from ionscreen.embed import SevenNetEmbedder

    mlip.set_threads(2)
    return SevenNetEmbedder("7net-0", layer=10, variant="full", device="cpu")
