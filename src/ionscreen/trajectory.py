"""The trajectory table: its one reader and its writers, foreign formats and unwrapping.

A trajectory is one Parquet file per (material, temperature): one row per saved frame (``frame``,
``step``, ``time_ps``, ``temperature_K``, ``potential_energy_eV``, ``positions_A`` flattened
(n_atoms x 3, unwrapped Cartesian, A)), and the run's provenance (atomic numbers, cell in A, time
step in fs, steps between frames, temperature in K, MLIP, thermostat, status). ``md`` writes it
frame by frame (``frame_row``, ``run_meta``), ``ingest`` whole (``write_trajectory``); ``labels``
and ``embed.trajectory`` read it (``load_trajectory``). ``read_trajectory`` also reads VASP XDATCAR and
whatever ASE reads, unwrapping fractional coordinates by minimum-image steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ionscreen import schema


class LabelError(ValueError):
    """A trajectory cannot be labelled; the message is the reason."""


@dataclass
class Trajectory:
    positions_A: np.ndarray  # (n_frames, n_atoms, 3), unwrapped Cartesian
    numbers: np.ndarray  # (n_atoms,)
    cell_A: np.ndarray  # (3, 3)
    frame_dt_ps: float  # time between saved frames
    temperature_K: float
    material_id: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.positions_A.shape[0])

    @property
    def duration_ps(self) -> float:
        return (self.n_frames - 1) * self.frame_dt_ps


def load_trajectory(path: str | Path) -> tuple[Trajectory | None, dict[str, Any]]:
    """Read the project's trajectory table; (None, provenance) for an empty/skipped run."""
    import pyarrow.parquet as pq

    meta = schema.read_provenance(path)
    tbl = pq.read_table(path, columns=["frame", "positions_A"])
    if tbl.num_rows == 0:
        return None, meta
    numbers = np.asarray(meta["atomic_numbers"], dtype=int)
    flat = tbl.column("positions_A").combine_chunks().flatten().to_numpy()
    pos = flat.reshape(tbl.num_rows, len(numbers), 3).astype(np.float64)
    traj = Trajectory(
        positions_A=pos,
        numbers=numbers,
        cell_A=np.asarray(meta["cell_A"], dtype=float),
        frame_dt_ps=meta["timestep_fs"] * meta["interval_steps"] / 1000.0,
        temperature_K=float(meta["temperature_K"]),
        material_id=meta.get("material_id", ""),
    )
    return traj, meta


def unwrap_fractional(frac: np.ndarray) -> np.ndarray:
    """Unwrap (n_frames, n_atoms, 3) fractional coordinates by minimum-image steps between frames.

    Already unwrapped input is returned unchanged, provided no atom moves more than half a cell
    between frames.
    """
    d = np.diff(frac, axis=0)
    d -= np.round(d)
    return np.concatenate([frac[:1], frac[:1] + np.cumsum(d, axis=0)])


def read_trajectory(
    path: str | Path,
    *,
    timestep_fs: float | None = None,
    interval: int | None = None,
    temperature_K: float | None = None,
) -> tuple[Trajectory | None, dict[str, Any]]:
    """Any supported trajectory: the project's Parquet, a VASP XDATCAR(.gz), or a file ASE reads.

    The last two carry no time information: ``timestep_fs`` and ``interval`` (steps between
    frames) are required for them; ``temperature_K`` is needed for sigma. Positions are unwrapped
    from the fractional coordinates; the cell must be constant (NVT).
    """
    path = Path(path)
    if path.suffix == ".parquet":
        return load_trajectory(path)
    if timestep_fs is None or interval is None:
        raise LabelError(f"{path.name}: --timestep-fs and --interval are needed for non-Parquet trajectories")
    name = path.name.lower()
    try:
        if "xdatcar" in name:
            from pymatgen.io.vasp import Xdatcar

            structs = Xdatcar(str(path)).structures
            frac = np.array([s.frac_coords for s in structs])
            cells = np.array([s.lattice.matrix for s in structs])
            numbers = np.array([site.specie.Z for site in structs[0]])
        else:
            from ase.io import read

            fmt = "extxyz" if name.endswith((".exyz", ".extxyz")) else None
            frames = read(path, index=":", format=fmt)
            frac = np.array([a.get_scaled_positions(wrap=False) for a in frames])
            cells = np.array([a.cell.array for a in frames])
            numbers = frames[0].numbers
    except LabelError:
        raise
    except Exception as exc:
        raise LabelError(f"{path.name}: unreadable trajectory ({type(exc).__name__}: {exc})") from exc
    if len({len(f) for f in frac}) != 1:
        raise LabelError(f"{path.name}: the number of atoms changes between frames")
    if not np.allclose(cells, cells[0], atol=1e-6):
        raise LabelError(f"{path.name}: inconsistent cell (the cell changes between frames; NVT needed)")
    traj = Trajectory(
        unwrap_fractional(frac) @ cells[0],
        numbers,
        cells[0],
        timestep_fs * interval / 1000.0,
        float(temperature_K) if temperature_K else float("nan"),
        material_id(path),
    )
    return traj, {"material_id": traj.material_id, "temperature_K": traj.temperature_K}


def material_id(path: Path) -> str:
    """Material id of a trajectory file: its name without trajectory suffixes."""
    name = path.name
    for suffix in (".gz", ".parquet", ".traj", ".extxyz", ".exyz", ".xyz"):
        name = name.removesuffix(suffix)
    return name


def frame_row(
    frame: int, interval: int, frame_ps: float, temperature_K: float, energy_eV: float, positions_A: np.ndarray
) -> dict[str, Any]:
    """One trajectory row: frame index, MD step, time (ps), instantaneous T (K), potential energy
    (eV) and the (n_atoms, 3) positions (A, stored float32)."""
    return {
        "frame": frame,
        "step": frame * interval,
        "time_ps": frame * frame_ps,
        "temperature_K": temperature_K,
        "potential_energy_eV": energy_eV,
        "positions_A": np.asarray(positions_A, np.float32).ravel(),
    }


def run_meta(
    material_id: str,
    numbers: Any,
    cell_A: Any,
    *,
    timestep_fs: float,
    interval: int,
    temperature_K: float,
    mlip: str,
    thermostat: str,
    seed: int | None,
    status: str = "ok",
    reason: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """The provenance a trajectory file carries (what ``load_trajectory`` needs, and the run's settings)."""
    return {
        "material_id": material_id,
        "atomic_numbers": [int(z) for z in numbers],
        "cell_A": np.asarray(cell_A, dtype=float).tolist(),
        "pbc": [True, True, True],
        "mlip": mlip,
        "thermostat": thermostat,
        "seed": seed,
        "timestep_fs": timestep_fs,
        "interval_steps": interval,
        "temperature_K": temperature_K,
        "status": status,
        "reason": reason,
        **extra,
    }


def write_trajectory(path: str | Path, traj: Trajectory, *, timestep_fs: float, interval: int, source: str) -> None:
    """Write a whole ``Trajectory`` (e.g. from another code's archive) as the project's table;
    per-frame temperatures and energies are unknown (NaN)."""
    import pyarrow as pa

    n, n_atoms = traj.positions_A.shape[:2]
    values = pa.array(np.ascontiguousarray(traj.positions_A, dtype=np.float32).ravel())
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * (n_atoms * 3))
    frames = np.arange(n)
    tbl = pa.table(
        {
            "frame": pa.array(frames, pa.int32()),
            "step": pa.array(frames * interval, pa.int64()),
            "time_ps": pa.array(frames * traj.frame_dt_ps),
            "temperature_K": pa.array(np.full(n, np.nan)),
            "potential_energy_eV": pa.array(np.full(n, np.nan)),
            "positions_A": pa.ListArray.from_arrays(offsets, values),
        }
    )
    meta = run_meta(
        traj.material_id,
        traj.numbers,
        traj.cell_A,
        timestep_fs=timestep_fs,
        interval=interval,
        temperature_K=traj.temperature_K,
        mlip=source,
        thermostat="as recorded by the source",
        seed=None,
        ingested_from=source,
    )
    schema.write_table(tbl, path, "trajectory", **meta)
