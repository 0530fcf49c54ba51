"""Bring existing MD into the project's tables, so nothing is re-run.

``ingest_liflow`` reads a LiFlow data archive (Zenodo) in the layout LiFlow's own loader reads
(learningmatter-mit/liflow, ``liflow/data/dataset.py``, and the archive's README):

- ``element_index.npy``: an element lookup table, a plain integer array of shape [n_elements]
  indexed by atomic number (LiFlow's model embeds ``element_index[atomic_numbers]``). Loaded
  without pickle; every atomic number of the archive must index into it;
- ``atomic_numbers.npy``, ``lattice.npy``: pickled dicts keyed by structure name (atomic numbers
  per atom; 3 x 3 cell in A);
- ``positions_{T}K.npz``: structure name -> (frames, atoms, 3) unwrapped Cartesian positions, A;
- ``{train,test}_{T}K.csv``: ``name, temp, t_start, t_end, comp, msd_t_Li`` (A^2/ps), ...;
  ``t_start`` and ``t_end`` are **frame indices** into the positions array (LiFlow's loader draws
  frames with ``randint(t_start, t_end - delay)``), so the window is frames
  ``t_start <= i < t_end``, Python's slice.

The frame time comes from ``timestep_fs`` x ``interval`` (LiFlow's protocol: 1 fs, a frame every
10 steps). It writes ``OUT/structures.parquet`` (frame 0 of the first temperature), one trajectory
table per structure and temperature (``OUT/trajectories/<name>/<T>K.parquet``, every frame) and
``OUT/labels.parquet`` (our labels recomputed from the positions in the CSV's window, LiFlow's
``msd_t_Li`` kept as ``reference_msd_per_time_A2_ps``, the split from the CSVs). It streams: one
structure's positions at one temperature are in memory at a time (``np.load`` of an ``.npz``
reads one key on access), so the tens-of-GB archive never is.

``ingest_manifest`` does the same for a directory of the user's own trajectory files (anything
``ionscreen label`` reads: the project's Parquet, ASE trajectories, extxyz, XDATCAR) described by
a small CSV manifest: ``material_id, temperature_K, path, timestep_fs, interval[, split]``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen import schema
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.labels.stage import failed_row, label_or_failed
from ionscreen.structures.sources import MATERIAL_ID_PATTERN
from ionscreen.trajectory import LabelError, Trajectory, read_trajectory, write_trajectory

log = logging.getLogger(__name__)

# LiFlow's protocol: 1 fs time step, a frame every 10 steps (25 ps -> 2,501 frames).
LIFLOW_TIMESTEP_FS = 1.0
LIFLOW_INTERVAL = 10


class IngestError(ValueError):
    """The archive or manifest cannot be read; the message says what is wrong."""


def _pickled_dict(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise IngestError(f"{path.name} is missing from {path.parent}: not a LiFlow data archive")
    obj = np.load(path, allow_pickle=True)
    obj = obj.item() if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == () else obj
    if not isinstance(obj, dict):
        raise IngestError(f"{path} holds a {type(obj).__name__}, expected a dict keyed by structure name")
    return obj


def element_table(path: Path) -> np.ndarray:
    """LiFlow's ``element_index.npy``: an integer array indexed by atomic number."""
    if not path.is_file():
        raise IngestError(f"{path.name} is missing from {path.parent}: not a LiFlow data archive")
    try:
        table = np.load(path, allow_pickle=False)
    except ValueError as exc:  # a pickled object: not LiFlow's layout
        raise IngestError(
            f"{path} holds a pickled object (a dict keyed by structure name?); LiFlow's element_index.npy is "
            "an element lookup table, a plain integer array of shape [n_elements] indexed by atomic number"
        ) from exc
    if table.ndim != 1 or not np.issubdtype(table.dtype, np.integer):
        raise IngestError(
            f"{path} holds a {table.dtype} array of shape {table.shape}; LiFlow's element_index.npy is "
            "a 1-d integer array indexed by atomic number"
        )
    return table


def liflow_temperatures(data_dir: str | Path) -> list[int]:
    """Temperatures (K) with a positions file, ascending."""
    temps = sorted(
        int(m.group(1))
        for p in Path(data_dir).glob("positions_*K.npz")
        if (m := re.fullmatch(r"positions_(\d+)K\.npz", p.name))
    )
    if not temps:
        raise IngestError(f"no positions_<T>K.npz in {data_dir}: not a LiFlow data archive")
    return temps


def liflow_splits(data_dir: str | Path, temperatures: Iterable[int]) -> pd.DataFrame:
    """All ``{train,test}_{T}K.csv`` rows with ``split`` and ``temperature_K`` columns."""
    parts = []
    for t in temperatures:
        for split in ("train", "test"):
            p = Path(data_dir) / f"{split}_{t}K.csv"
            if p.is_file():
                df = pd.read_csv(p)
                if "name" not in df.columns:
                    raise IngestError(f"{p} has no 'name' column (columns: {list(df.columns)})")
                parts.append(df.assign(split=split, temperature_K=float(t), name=df["name"].astype(str)))
    if not parts:
        raise IngestError(f"no train_<T>K.csv or test_<T>K.csv in {data_dir}")
    out = pd.concat(parts, ignore_index=True)
    dup = out.duplicated(["name", "temperature_K"], keep=False)
    if dup.any():
        raise IngestError(
            f"structures listed twice at one temperature (train and test?): {sorted(set(out.loc[dup, 'name']))[:5]}"
        )
    return out


def structure_row(
    material_id: str, numbers: np.ndarray, cell: np.ndarray, positions: np.ndarray, source: str
) -> dict[str, Any]:
    """A ``structures`` row for a cell taken as it is (no ordering, supercell or relaxation)."""
    import json

    from pymatgen.core import Lattice, Structure

    from ionscreen.structures.prepare import cell_row

    s = Structure(Lattice(cell), [int(z) for z in numbers], positions, coords_are_cartesian=True, to_unit_cell=True)
    return {
        "material_id": material_id,
        "source": source,
        **cell_row(s, spacegroup=None),
        "structure_json": json.dumps(s.as_dict()),
    }


def frame_window(traj: Trajectory, t_start: Any, t_end: Any) -> Trajectory:
    """Frames ``t_start <= i < t_end`` (LiFlow's CSV columns are frame indices), when given."""
    if t_start is None or t_end is None or not (np.isfinite(t_start) and np.isfinite(t_end)):
        return traj
    if float(t_start) != int(t_start) or float(t_end) != int(t_end):
        raise LabelError(f"t_start {t_start!r} and t_end {t_end!r} must be whole frame indices (LiFlow's layout)")
    i0, i1 = int(t_start), int(t_end)
    if not 0 <= i0 < i1 <= traj.n_frames:
        raise LabelError(
            f"frame window [{i0}, {i1}) does not fit the trajectory's {traj.n_frames} frames "
            "(t_start/t_end are frame indices)"
        )
    return Trajectory(
        traj.positions_A[i0:i1], traj.numbers, traj.cell_A, traj.frame_dt_ps, traj.temperature_K, traj.material_id
    )


def _label(traj: Trajectory, settings: LabelSettings, extra: dict[str, Any]) -> dict[str, Any]:
    row = label_or_failed(traj, settings)
    row.pop("_msd", None)
    return {**row, **extra}


def ingest_liflow(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    settings: LabelSettings | None = None,
    timestep_fs: float = LIFLOW_TIMESTEP_FS,
    interval: int = LIFLOW_INTERVAL,
    limit: int | None = None,
) -> dict[str, int]:
    """Ingest a LiFlow archive (see the module docstring). Finished trajectory tables are reused,
    so an interrupted ingest resumes. ``limit`` keeps the first N structures (a quick look)."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    settings = settings or LabelSettings()
    numbers = _pickled_dict(data_dir / "atomic_numbers.npy")
    lattice = _pickled_dict(data_dir / "lattice.npy")
    elements = element_table(data_dir / "element_index.npy")
    temps = liflow_temperatures(data_dir)
    splits = liflow_splits(data_dir, temps)
    names = sorted(set(splits["name"]))
    missing = [n for n in names if n not in numbers or n not in lattice]
    if missing:
        raise IngestError(f"{len(missing)} structures in the CSVs lack atomic numbers or a lattice: {missing[:5]}")
    top = max(int(np.max(numbers[n])) for n in names)
    if top >= len(elements):
        raise IngestError(f"atomic number {top} lies outside element_index.npy ({len(elements)} entries)")
    bad = [n for n in names if not re.fullmatch(MATERIAL_ID_PATTERN, n)]
    if bad:
        raise IngestError(f"structure names must match {MATERIAL_ID_PATTERN} to become material ids: {bad[:5]}")
    if limit is not None:
        names = names[:limit]
    split_of = {(r.name, r.temperature_K): r for r in splits.itertuples(index=False)}
    frame_dt_ps = timestep_fs * interval / 1000.0
    source = f"liflow:{data_dir.name}"

    structures: dict[str, dict[str, Any]] = {}
    label_rows: list[dict[str, Any]] = []
    from tqdm import tqdm

    for t in temps:
        npz = np.load(data_dir / f"positions_{t}K.npz")  # lazy: one array is read per access
        todo = [n for n in names if (n, float(t)) in split_of]
        for name in tqdm(todo, desc=f"ingest {t} K", unit="structure"):
            rec = split_of[(name, float(t))]
            extra = {"split": rec.split, "reference_msd_per_time_A2_ps": float(getattr(rec, "msd_t_Li", math.nan))}
            if name not in npz.files:
                label_rows.append(
                    {**failed_row(name, t, "failed", f"no positions for {name} in positions_{t}K.npz"), **extra}
                )
                continue
            pos = np.asarray(npz[name], dtype=np.float64)
            z = np.asarray(numbers[name], dtype=int)
            cell = np.asarray(lattice[name], dtype=float).reshape(3, 3)
            if pos.ndim != 3 or pos.shape[1:] != (len(z), 3):
                label_rows.append(
                    {
                        **failed_row(name, t, "failed", f"positions shape {pos.shape} does not match {len(z)} atoms"),
                        **extra,
                    }
                )
                continue
            if name not in structures:
                structures[name] = structure_row(name, z, cell, pos[0], source)
            traj = Trajectory(pos, z, cell, frame_dt_ps, float(t), name)
            path = out_dir / "trajectories" / name / f"{t}K.parquet"
            if not path.exists():
                write_trajectory(path, traj, timestep_fs=timestep_fs, interval=interval, source=source)
            try:
                traj = frame_window(traj, getattr(rec, "t_start", None), getattr(rec, "t_end", None))
            except LabelError as exc:
                label_rows.append({**failed_row(name, t, "failed", str(exc)), **extra})
                continue
            label_rows.append(_label(traj, settings, extra))
            del pos, traj
        npz.close()
    schema.write_table(list(structures.values()), out_dir / "structures.parquet", "structures", source=source)
    schema.write_table(label_rows, out_dir / "labels.parquet", "labels", settings=settings.__dict__, source=source)
    n_ok = sum(r["status"] == "ok" for r in label_rows)
    log.info(
        "ingested %d structures, %d trajectories (%d labelled) from %s",
        len(structures),
        len(label_rows),
        n_ok,
        data_dir,
    )
    return {"structures": len(structures), "trajectories": len(label_rows), "labelled": n_ok}


def ingest_manifest(
    manifest: str | Path, out_dir: str | Path, *, settings: LabelSettings | None = None
) -> dict[str, int]:
    """Ingest the user's own trajectories listed in a CSV manifest with columns ``material_id,
    temperature_K, path, timestep_fs, interval`` (and optionally ``split``); paths are relative to
    the manifest. A file that cannot be read gets a failed label row; the rest go on."""
    manifest = Path(manifest)
    out_dir = Path(out_dir)
    settings = settings or LabelSettings()
    df = pd.read_csv(manifest)
    need = {"material_id", "temperature_K", "path", "timestep_fs", "interval"}
    if not need <= set(df.columns):
        raise IngestError(f"{manifest} lacks columns {sorted(need - set(df.columns))}")
    structures: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for r in df.itertuples(index=False):
        mid, t = str(r.material_id), float(r.temperature_K)
        extra = {"split": getattr(r, "split", None)}
        if not re.fullmatch(MATERIAL_ID_PATTERN, mid):
            rows.append({**failed_row(mid, t, "failed", f"material id must match {MATERIAL_ID_PATTERN}"), **extra})
            continue
        try:
            traj, _ = read_trajectory(
                manifest.parent / r.path, timestep_fs=float(r.timestep_fs), interval=int(r.interval), temperature_K=t
            )
        except (LabelError, OSError) as exc:
            log.warning("cannot read %s: %s", r.path, exc)
            rows.append({**failed_row(mid, t, "failed", str(exc)), **extra})
            continue
        if traj is None:
            rows.append({**failed_row(mid, t, "failed", f"{r.path} has no frames"), **extra})
            continue
        traj.material_id, traj.temperature_K = mid, t
        structures.setdefault(
            mid, structure_row(mid, traj.numbers, traj.cell_A, traj.positions_A[0], f"manifest:{manifest.name}")
        )
        write_trajectory(
            out_dir / "trajectories" / mid / f"{t:g}K.parquet",
            traj,
            timestep_fs=float(r.timestep_fs),
            interval=int(r.interval),
            source=str(r.path),
        )
        rows.append(_label(traj, settings, extra))
    schema.write_table(list(structures.values()), out_dir / "structures.parquet", "structures")
    schema.write_table(rows, out_dir / "labels.parquet", "labels", settings=settings.__dict__)
    return {
        "structures": len(structures),
        "trajectories": len(rows),
        "labelled": sum(r["status"] == "ok" for r in rows),
    }


def write_example_archive(
    out_dir: str | Path,
    structures: list[tuple[str, Any]],
    *,
    temperatures: Iterable[int] = (600, 800),
    n_frames: int = 201,
    test_names: Iterable[str] = (),
    seed: int = 0,
    timestep_fs: float = LIFLOW_TIMESTEP_FS,
    interval: int = LIFLOW_INTERVAL,
) -> pd.DataFrame:
    """Write an archive in exactly LiFlow's layout whose answers are known: every Li atom moves in
    a straight line, r(t) = r0 + v t, with a speed that follows an Arrhenius law in T (a barrier
    per material), so msd_t_Li = mean |v|^2 * duration. Other atoms stay put. For tests,
    benchmarks and the ``.test`` LiFlow configuration. Returns the CSV rows written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    temps = list(temperatures)
    test_names = set(test_names)
    dt_ps = timestep_fs * interval / 1000.0
    duration = (n_frames - 1) * dt_ps
    t = np.arange(n_frames)[:, None, None] * dt_ps
    numbers, lattice = {}, {}
    barrier = {name: rng.uniform(0.1, 0.6) for name, _ in structures}  # eV
    rows = []
    for name, s in structures:
        numbers[name] = np.array([site.specie.Z for site in s], dtype=np.int64)
        lattice[name] = np.asarray(s.lattice.matrix, dtype=np.float64)
    for T in temps:
        positions = {}
        for name, s in structures:
            li = numbers[name] == 3
            speed = 20.0 * np.exp(-barrier[name] / (2 * 8.617333262e-5 * T))  # A/ps
            v = rng.normal(0, 1, (len(s), 3))
            v *= (speed / np.linalg.norm(v, axis=1))[:, None] * li[:, None]
            positions[name] = (s.cart_coords[None] + v[None] * t).astype(np.float32)
            msd = float(np.mean(np.sum((positions[name][-1] - positions[name][0])[li].astype(np.float64) ** 2, axis=1)))
            rows.append(
                {
                    "name": name,
                    "temp": T,
                    "t_start": 0,
                    "t_end": n_frames,
                    "comp": s.composition.reduced_formula,
                    "msd_t_Li": msd / duration,
                    "split": "test" if name in test_names else "train",
                }
            )
        np.savez(out / f"positions_{T}K.npz", **positions)
    for fname, d in (("atomic_numbers.npy", numbers), ("lattice.npy", lattice)):
        np.save(out / fname, np.array(d, dtype=object), allow_pickle=True)
    # LiFlow's element lookup table: index = atomic number, value = the model's element index
    # (-1: not in the data set).
    present = sorted({int(z) for z in np.concatenate(list(numbers.values()))})
    table = np.full(max(present) + 1, -1, dtype=np.int64)
    table[present] = np.arange(len(present))
    np.save(out / "element_index.npy", table)
    df = pd.DataFrame(rows)
    for T in temps:
        for split in ("train", "test"):
            part = df[(df["temp"] == T) & (df["split"] == split)].drop(columns="split")
            if len(part):
                part.to_csv(out / f"{split}_{T}K.csv", index=False)
    return df
