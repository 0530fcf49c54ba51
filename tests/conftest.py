"""Shared fixtures: real structures (cited lattice data, pymatgen's bundled files), kinisi's real
Li trajectories, and session-scoped SevenNet-0 objects (loaded once: ~3 s)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*tensor product accelerator.*")

REPO = Path(__file__).resolve().parents[1]


def rotated_copy(s: Structure, euler_zyx_deg=(37.0, 21.0, 64.0), shift_A=(0.3, -1.1, 0.7), seed: int = 0) -> Structure:
    """The same crystal written another way: the cell rigidly rotated (a generic rotation, Euler
    zyx angles in degrees), every atom shifted by ``shift_A`` and the atoms re-ordered (seeded)."""
    import numpy as np
    from pymatgen.core import Lattice
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_euler("zyx", euler_zyx_deg, degrees=True).as_matrix()
    lattice = Lattice(s.lattice.matrix @ rot.T)
    frac = s.frac_coords + lattice.get_fractional_coords(np.asarray(shift_A, dtype=float))
    order = np.random.default_rng(seed).permutation(len(s))
    return Structure(lattice, [s.species[i] for i in order], frac[order])


def li3n() -> Structure:
    """alpha-Li3N, P6/mmm, a = 3.648 A, c = 3.875 A (Rabenau & Schulz, J. Less-Common Met. 50,
    155 (1976)): N 1a (0,0,0), Li1 1b (0,0,1/2), Li2 2c (1/3,2/3,0)."""
    return Structure.from_spacegroup(
        "P6/mmm", Lattice.hexagonal(3.648, 3.875), ["N", "Li", "Li"], [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0]]
    )


@pytest.fixture
def li3n_cell() -> Structure:
    return li3n()


@pytest.fixture(scope="session")
def kinisi_inputs() -> Path:
    import kinisi

    return Path(kinisi.__file__).parent / "tests" / "inputs"


@pytest.fixture(scope="session")
def argyrodite_traj(kinisi_inputs):
    """kinisi's real Li6PS5Cl VASP trajectory: 140 frames, 2 fs x 50 steps between frames."""
    from ionscreen.trajectory import read_trajectory

    traj, _ = read_trajectory(kinisi_inputs / "example_XDATCAR.gz", timestep_fs=2.0, interval=50, temperature_K=700.0)
    return traj


@pytest.fixture(scope="session")
def embedder():
    from ionscreen import mlip
    from ionscreen.embed.structure import SevenNetEmbedder

    mlip.set_threads(2)
    return SevenNetEmbedder("7net-0", layer=10, variant="full", device="cpu")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A small structure-only predictor on 977-d embeddings (random, seeded: 24 materials x 3 Li,
    MSD labels at 600 and 1000 K), trained for 3 epochs: ``dir/model``, ``dir/metrics.parquet``,
    ``dir/pred.parquet``; returns (dir, embeddings table, structures rows)."""
    import numpy as np
    import pandas as pd

    from ionscreen.learn.config import TrainConfig
    from ionscreen.learn.train import train

    rng = np.random.default_rng(0)
    emb_rows, labels, structures = [], [], []
    for m in range(24):
        e = rng.normal(0, 1, (3, 977)).astype(np.float32)
        structures.append(
            {"material_id": f"m{m}", "reduced_formula": f"Li{m + 1}O", "ordering": "none", "structure_json": "{}"}
        )
        emb_rows += [
            {
                "material_id": f"m{m}",
                "atom_index": k,
                "species": "Li",
                "embedding": e[k],
                "model": "7net-0",
                "layer": 10,
                "variant": "full",
            }
            for k in range(3)
        ]
        labels += [
            {
                "material_id": f"m{m}",
                "temperature_K": t,
                "status": "ok",
                "reason": "",
                "diffusive": True,
                "msd_final_A2": 10 ** (float(e[:, 0].mean()) + t / 1000),
                "D_cm2_s": 1e-6 * t / 1000,
                "D_std_cm2_s": 1e-7,
                "sigma_S_cm": 1e-3,
            }
            for t in (600.0, 1000.0)
        ]
    out = tmp_path_factory.mktemp("tiny")
    train(
        pd.DataFrame(labels),
        pd.DataFrame(emb_rows),
        pd.DataFrame(structures),
        TrainConfig(decoder_widths=[16, 16], epochs=3, seeds=[0, 1], val_fraction=0.25, aml=False),
        out / "model",
        out / "metrics.parquet",
        out / "pred.parquet",
        embedding_meta={"model": "7net-0", "layer": 10, "variant": "full"},
    )
    return out, pd.DataFrame(emb_rows), structures, labels


# tests/mace_md/ needs the `mace` extra, which cannot share an environment with sevenn: it runs in
# .venv-mace (`make test-mace`, which `make test` calls), not in the main suite.
collect_ignore = [] if __import__("importlib.util").util.find_spec("mace") else ["mace_md"]
