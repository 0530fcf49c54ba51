"""Resuming an MD run that was stopped: the run's key (a hash of everything that decides the
trajectory), the store of its saved chunks and integrator states, and capturing and restoring a
thermostat's state. Single runs (``engine.run_md``) and batches (``batch.run_batch``) share it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms

from ionscreen import atomic, schema

if TYPE_CHECKING:
    from ionscreen.md.engine import MDSettings

log = logging.getLogger(__name__)


def settings_key(s: MDSettings, atoms: Atoms) -> str:
    """Hash of everything that determines the trajectory (a resume must match it)."""
    import hashlib
    import json

    blob = json.dumps(
        [
            s.trajectory_settings(),
            atoms.get_atomic_numbers().tolist(),
            np.round(atoms.positions, 6).tolist(),
            np.round(atoms.cell.array, 6).tolist(),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ResumeStore:
    """Chunks and integrator states of an unfinished run, in ``.<output name>.resume/`` beside it
    (or in ``directory``: a workflow batch keeps them outside its output folder, which Snakemake
    deletes before a rerun).

    Chunk k (frames) is written atomically, then state k (positions, momenta, thermostat chain,
    step, energy): a run killed at any point restarts from the last k that has both.
    """

    def __init__(self, out_path: Path, key: str, directory: Path | None = None) -> None:
        self.dir = Path(directory) if directory is not None else out_path.parent / f".{out_path.name}.resume"
        self.key = key

    def start(self) -> dict[str, Any] | None:
        """The last consistent state, or None (and a clean folder) to start from scratch."""
        import shutil

        key_file = self.dir / "key"
        if self.dir.exists() and (not key_file.exists() or key_file.read_text() != self.key):
            log.warning("discarding %s: it belongs to other settings or another structure", self.dir)
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        key_file.write_text(self.key)
        states = sorted(self.dir.glob("state_*.npz"))
        for st in reversed(states):
            k = int(st.stem.split("_")[1])
            if (self.dir / f"chunk_{k:06d}.parquet").exists():
                for stale in self.dir.glob("chunk_*.parquet"):  # chunks written after the last state
                    if int(stale.stem.split("_")[1]) > k:
                        stale.unlink()
                with np.load(st) as z:
                    return {name: z[name] for name in z.files} | {"chunk": k}
        for stale in self.dir.glob("chunk_*.parquet"):
            stale.unlink()
        return None

    def save(self, k: int, rows: list[dict[str, Any]], state: dict[str, Any]) -> None:
        schema.write_table(rows, self.dir / f"chunk_{k:06d}.parquet", "trajectory")
        with atomic.atomic_output(self.dir / f"state_{k:06d}.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **state)

    def chunks(self) -> list[Path]:
        return sorted(self.dir.glob("chunk_*.parquet"))

    def clear(self) -> None:
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def resume_state(
    positions: np.ndarray, momenta: np.ndarray, nsteps: int, thermostat: Any, **extra: Any
) -> dict[str, Any]:
    """What a ``ResumeStore`` state holds, for single runs and batched ones alike: positions (A),
    momenta (ASE units), steps done, the Nose-Hoover chain (ASE's ``NoseHooverChainThermostat``;
    None for nve) and ``extra`` (frames_done, prev_energy, wall_s, ...)."""
    state = {
        "positions": positions,
        "momenta": momenta,
        "nsteps": np.array(nsteps),
        **{k: np.asarray(v) for k, v in extra.items()},
    }
    if thermostat is not None:
        state["eta"] = thermostat._eta.copy()
        state["p_eta"] = thermostat._p_eta.copy()
    return state


def restore_thermostat(thermostat: Any, state: dict[str, Any]) -> None:
    """Set a Nose-Hoover chain (None for nve: nothing to do) from a ``resume_state``."""
    if thermostat is not None:
        thermostat._eta[:] = state["eta"]
        thermostat._p_eta[:] = state["p_eta"]


def capture_state(dyn: Any, atoms: Atoms, extra: dict[str, Any]) -> dict[str, Any]:
    return resume_state(
        atoms.get_positions(), atoms.get_momenta(), dyn.nsteps, getattr(dyn, "_thermostat", None), **extra
    )


def restore_state(dyn: Any, atoms: Atoms, state: dict[str, Any]) -> None:
    atoms.set_positions(state["positions"])
    atoms.set_momenta(state["momenta"])
    dyn.nsteps = int(state["nsteps"])
    if hasattr(dyn, "_q"):
        dyn._q = atoms.get_positions()
        dyn._p = atoms.get_momenta()
    restore_thermostat(getattr(dyn, "_thermostat", None), state)
