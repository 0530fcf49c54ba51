"""The MACE path, for real, in an environment with the `mace` extra and without sevenn
(``make test-mace`` builds it: .venv-mace). A tiny MACE model with random weights, written the way
mace-torch writes its models (``torch.save`` of the module), drives ``ionscreen md`` (NVT, 1000 K,
unwrapped, resumable after SIGKILL), ``ionscreen label`` and the workflow's md rule."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ionscreen import schema
from ionscreen.structures.prepare import read_structure

# Not ``tests.conftest``: a package of the MACE stack installs a top-level ``tests`` of its own.
REPO = Path(__file__).resolve().parents[2]


def li3n():
    """Li3N (P6/mmm, 4 atoms) from the demo's training set."""
    return read_structure(REPO / "resources/structures/train/Li3N.json")


ELEMENTS = (3, 7, 8, 9, 17)  # Li, N, O, F, Cl: every element of the cells below and of .test's first materials
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def write_tiny_mace(path: Path, seed: int = 0) -> int:
    """A ScaleShiftMACE (one interaction, 8x0e+8x1o hidden features, r_max 5 A) with random
    weights, saved as mace-torch's training script saves its models; returns its parameter count."""
    import mace  # noqa: F401 - first: lets e3nn 0.4.4 load its constants under torch >= 2.6
    import torch
    from e3nn import o3
    from mace import modules

    torch.manual_seed(seed)
    model = modules.ScaleShiftMACE(
        r_max=5.0,
        num_bessel=8,
        num_polynomial_cutoff=5,
        max_ell=2,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
        num_interactions=1,
        num_elements=len(ELEMENTS),
        hidden_irreps=o3.Irreps("8x0e+8x1o"),
        MLP_irreps=o3.Irreps("8x0e"),
        atomic_energies=np.zeros(len(ELEMENTS)),
        avg_num_neighbors=12.0,
        atomic_numbers=list(ELEMENTS),
        correlation=2,
        gate=torch.nn.functional.silu,
        radial_MLP=[16, 16],
        atomic_inter_scale=0.1,
        atomic_inter_shift=0.0,
        pair_repulsion=True,
    )  # ZBL: atoms cannot overlap
    model = model.double()
    torch.save(model, path)
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mace") / "tiny.model"
    n = write_tiny_mace(path)
    assert 2000 <= n <= 20000, n  # a few thousand parameters
    return path


def test_this_environment_has_mace_and_no_sevenn(tmp_path):
    import importlib.util

    assert importlib.util.find_spec("mace") is not None
    assert importlib.util.find_spec("sevenn") is None
    from ionscreen.mlip import MissingExtra, get_calculator

    with pytest.raises(MissingExtra, match=r"ionscreen\[sevenn\]"):
        get_calculator("7net-0", device="cpu")
    # the core works here: tables, structures, labels, training, prediction from a model file
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ionscreen.labels.diffusion, ionscreen.schema, "
            "ionscreen.structures.prepare, ionscreen.learn.train, ionscreen.screen.predict, "
            "ionscreen.md.engine, ionscreen.cli",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ionscreen.cli",
            "embed",
            str(REPO / "resources/structures/train/Li3N.json"),
            "--out",
            str(tmp_path / "e.parquet"),
        ],
        capture_output=True,
        text=True,
    )
    lines = [x for x in proc.stderr.splitlines() if "ionscreen embed:" in x]
    assert proc.returncode == 2 and len(lines) == 1 and "ionscreen[sevenn]" in lines[0], proc.stderr[-1500:]


def test_workflow_calculator_equals_mace_directly(tiny):
    from mace.calculators import MACECalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    from ionscreen.mlip import MACE_DTYPE, get_calculator

    atoms = AseAtomsAdaptor.get_atoms(li3n() * (2, 2, 1))
    atoms.rattle(0.05, seed=1)  # forces away from zero
    ours, direct = atoms.copy(), atoms.copy()
    ours.calc = get_calculator(str(tiny), device="cpu")
    direct.calc = MACECalculator(model_paths=str(tiny), device="cpu", default_dtype=MACE_DTYPE)
    assert ours.get_potential_energy() == direct.get_potential_energy()
    np.testing.assert_array_equal(ours.get_forces(), direct.get_forces())
    assert np.abs(ours.get_forces()).max() > 1e-4


def _md(structure, out, tiny, steps=100, chunk=10):
    return [
        sys.executable,
        "-m",
        "ionscreen.cli",
        "md",
        str(structure),
        "--mlip",
        str(tiny),
        "--temperature",
        "1000",
        "--steps",
        str(steps),
        "--timestep-fs",
        "1",
        "--interval",
        "2",
        "--seed",
        "3",
        "--threads",
        "1",
        "--chunk-frames",
        str(chunk),
        "--device",
        "cpu",
        "--out",
        str(out),
    ]


def test_md_resumes_after_sigkill_and_labels(tmp_path, tiny):
    structure = tmp_path / "Li3N.json"
    structure.write_text(json.dumps((li3n() * (2, 2, 2)).as_dict()))
    ref, out = tmp_path / "ref.parquet", tmp_path / "out.parquet"
    t0 = time.perf_counter()
    subprocess.run(_md(structure, ref, tiny), check=True, capture_output=True)
    ref_s = time.perf_counter() - t0
    traj = schema.read_table(ref, "trajectory")
    meta = schema.read_provenance(ref)
    assert len(traj) == 51 and meta["mlip"] == str(tiny) and meta["thermostat"] == "nose-hoover"
    pos = np.stack(traj["positions_A"]).reshape(len(traj), -1, 3)
    cell = np.asarray(meta["cell_A"] if "cell_A" in meta else meta["cell"]).reshape(3, 3)
    frac = pos @ np.linalg.inv(cell)
    assert np.isfinite(pos).all() and np.abs(np.diff(frac, axis=0)).max() < 0.5  # unwrapped: no jumps by a cell

    proc = subprocess.Popen(_md(structure, out, tiny), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resume_dir = tmp_path / ".out.parquet.resume"
    deadline = time.time() + 10 * ref_s + 60
    while time.time() < deadline and len(list(resume_dir.glob("state_*.npz"))) < 2 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(_md(structure, out, tiny), check=True, capture_output=True)
    again = schema.read_table(out, "trajectory")
    assert len(again) == 51
    np.testing.assert_allclose(np.stack(again["positions_A"]), np.stack(traj["positions_A"]), atol=1e-3)

    labels = tmp_path / "labels.parquet"
    proc = subprocess.run(
        [sys.executable, "-m", "ionscreen.cli", "label", str(ref), "--out", str(labels)], capture_output=True, text=True
    )
    row = schema.read_table(labels, "labels").iloc[0]
    assert row["status"] == "ok", proc.stderr
    assert row["material_id"] == "Li3N" and row["temperature_K"] == 1000 and row["msd_final_A2"] > 0
    assert row["n_frames"] == 51 and np.isfinite(row["sigma_S_cm"]) or not row["diffusive"]


def test_workflow_md_rule_runs_mace(tmp_path, tiny):
    cfg = tmp_path / "mace.yaml"
    cfg.write_text(
        json.dumps(
            {
                "results": "results-mace",
                "mlip": {"model": str(tiny), "device": "cpu"},
                "train_sources": [{"type": "files", "paths": [str(REPO / "resources/structures/train/Li3N.json")]}],
                "prepare": {"relax_steps": 3},
                "md": {"temperatures_K": [1000], "n_steps": 40, "interval": 2},
            }
        )
    )
    proc = subprocess.run(
        [
            SNAKEMAKE,
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(tmp_path),
            "results-mace/md/runs.parquet",
            "--cores",
            "1",
            "--configfile",
            str(REPO / "config.yaml"),
            str(cfg),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = schema.read_table(tmp_path / "results-mace/md/runs.parquet", "md_runs").iloc[0]
    assert run["status"] == "ok" and run["mlip"] == str(tiny)
    target = tmp_path / "results-mace/md/batches/1000K-00000/Li3N/1000K.parquet"  # the batched engine drives MACE too
    traj = schema.read_table(target, "trajectory")
    assert len(traj) == 21 and schema.read_provenance(target)["mlip"] == str(tiny)
    prepared = schema.read_table(tmp_path / "results-mace/structures/prepared/Li3N.parquet", "structures")
    assert np.isfinite(prepared["relax_energy_eV"].iloc[0])  # the prepare rule relaxed with the MACE model
