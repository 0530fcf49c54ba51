"""MLIP molecular dynamics (stage ``md``): NVT Nose-Hoover, unwrapped positions, honest failure.

The science default is the LiFlow protocol (METHOD.md section 1): 1 fs, 25 ps, a frame every 10
steps, 600-1200 K. Langevin and Andersen thermostats are refused for transport labels because
their random forces suppress diffusion. ``nve`` (velocity Verlet) is allowed for drift checks.

A run that diverges (non-finite values, temperature above ``max_temperature_factor`` x target,
atoms closer than ``min_distance_A``, a potential-energy jump above ``max_energy_jump_eV_atom``
between saved frames) stops; the frames up to then are kept and the run is recorded as
``failed`` with the reason, so the rest of the workflow goes on.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from ionscreen import mlip as mlip_mod
from ionscreen import schema

log = logging.getLogger(__name__)

TRANSPORT_THERMOSTATS = ("nose-hoover", "nve")
REFUSED_THERMOSTATS = {
    "langevin": "Langevin's random and friction forces suppress diffusion",
    "andersen": "Andersen's velocity reassignments destroy velocity correlations",
    "berendsen": "Berendsen does not sample the canonical ensemble",
}


class MDError(ValueError):
    """MD settings or input that cannot give a transport trajectory."""


@dataclass
class MDSettings:
    """One MD run. Defaults are the LiFlow protocol (METHOD.md section 1)."""

    temperature_K: float = 1000.0
    n_steps: int = 25_000
    timestep_fs: float = 1.0
    interval: int = 10  # steps between saved frames
    thermostat: str = "nose-hoover"
    tdamp_fs: float = 100.0  # Nose-Hoover coupling time (100 time steps at 1 fs)
    seed: int = 0
    mlip: str = "7net-0"
    device: str = "auto"
    threads: int = 1
    chunk_frames: int = 200  # frames per Parquet row group
    max_temperature_factor: float = 3.0
    min_distance_A: float = 0.5
    max_energy_jump_eV_atom: float = 1.0

    def check(self) -> None:
        t = self.thermostat.lower()
        if t in REFUSED_THERMOSTATS:
            raise MDError(
                f"thermostat {self.thermostat!r} is refused for transport labels: "
                f"{REFUSED_THERMOSTATS[t]}; use 'nose-hoover' (NVT) or 'nve'"
            )
        if t not in TRANSPORT_THERMOSTATS:
            raise MDError(f"unknown thermostat {self.thermostat!r}; use one of {TRANSPORT_THERMOSTATS}")
        if self.n_steps < self.interval or self.interval < 1:
            raise MDError(f"need n_steps >= interval >= 1 (got {self.n_steps}, {self.interval})")
        if self.temperature_K <= 0 or self.timestep_fs <= 0:
            raise MDError("temperature and time step must be positive")


def _integrator(atoms: Atoms, s: MDSettings) -> Any:
    if s.thermostat == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=s.timestep_fs * units.fs)
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    return NoseHooverChainNVT(
        atoms, timestep=s.timestep_fs * units.fs, temperature_K=s.temperature_K,
        tdamp=s.tdamp_fs * units.fs,
    )


def _min_distance(atoms: Atoms) -> float:
    if len(atoms) < 2:
        return math.inf
    d = atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def _divergence(atoms: Atoms, energy: float, prev_energy: float | None, s: MDSettings) -> str:
    """Empty string when the frame is sane, else the reason."""
    pos = atoms.get_positions()
    if not (np.all(np.isfinite(pos)) and math.isfinite(energy)):
        return "non-finite positions or energy"
    temp = atoms.get_temperature()
    if temp > s.max_temperature_factor * s.temperature_K:
        return f"temperature exploded: {temp:.0f} K > {s.max_temperature_factor:g} x {s.temperature_K:g} K"
    dmin = _min_distance(atoms)
    if dmin < s.min_distance_A:
        return f"atoms collapsed: closest pair {dmin:.3f} A < {s.min_distance_A} A"
    if prev_energy is not None:
        jump = abs(energy - prev_energy) / len(atoms)
        if jump > s.max_energy_jump_eV_atom:
            return f"energy jump of {jump:.2f} eV/atom between frames"
    return ""


def run_md(
    structure: Structure | Atoms,
    settings: MDSettings,
    out_path: str | Path,
    *,
    material_id: str = "",
    calc: Any | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run NVT MD and write the trajectory table; returns the ``md_runs`` row.

    ``structure`` is simulated as given (no supercell, no relaxation). Positions are stored
    unwrapped (ASE integrators never wrap) in A, every ``interval`` steps, frame 0 = start.
    """
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from tqdm.auto import tqdm

    s = settings
    s.check()
    atoms = AseAtomsAdaptor.get_atoms(structure) if isinstance(structure, Structure) else structure.copy()
    if calc is None:
        mlip_mod.set_threads(s.threads)
        calc = mlip_mod.get_calculator(s.mlip, s.device)
    atoms.calc = calc
    device = "cpu" if s.mlip == mlip_mod.LJ_NAME else mlip_mod.resolve_device(s.device)
    rng = np.random.default_rng(s.seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=s.temperature_K, rng=rng)
    Stationary(atoms)  # no net momentum: the cell does not drift
    dyn = _integrator(atoms, s)

    n_frames = s.n_steps // s.interval + 1
    frame_ps = s.timestep_fs * s.interval / 1000.0
    meta = {
        "material_id": material_id,
        "atomic_numbers": atoms.get_atomic_numbers().tolist(),
        "cell_A": atoms.cell.array.tolist(),
        "pbc": atoms.pbc.tolist(),
        "settings": asdict(s),
        "mlip": s.mlip,
        "thermostat": s.thermostat,
        "seed": s.seed,
        "timestep_fs": s.timestep_fs,
        "interval_steps": s.interval,
        "temperature_K": s.temperature_K,
    }
    status, reason = "ok", ""
    buf: list[dict[str, Any]] = []
    prev_e: float | None = None
    frames_done = 0
    t0 = time.perf_counter()
    with schema.TableWriter(out_path, "trajectory", **meta) as writer:
        bar = tqdm(total=n_frames, desc=f"md {material_id} {s.temperature_K:g} K", unit="frame",
                   disable=not progress, mininterval=2.0)
        for frame in range(n_frames):
            if frame:
                dyn.run(s.interval)
            energy = float(atoms.get_potential_energy())
            reason = _divergence(atoms, energy, prev_e, s)
            if reason:
                status = "failed"
                log.error("MD of %s at %g K diverged at step %d: %s", material_id,
                          s.temperature_K, frame * s.interval, reason)
                break
            prev_e = energy
            buf.append({
                "frame": frame, "step": frame * s.interval, "time_ps": frame * frame_ps,
                "temperature_K": float(atoms.get_temperature()), "potential_energy_eV": energy,
                "positions_A": atoms.get_positions().astype(np.float32).ravel(),
            })
            frames_done = frame + 1
            if len(buf) >= s.chunk_frames:
                writer.write(buf)
                buf = []
            bar.update(1)
        writer.write(buf)
        bar.close()
    wall = time.perf_counter() - t0
    steps = max(0, frames_done - 1) * s.interval
    row = {
        "material_id": material_id, "temperature_K": float(s.temperature_K), "status": status,
        "reason": reason, "n_atoms": len(atoms), "n_steps": steps, "n_frames": frames_done,
        "timestep_fs": s.timestep_fs, "interval_steps": s.interval, "wall_s": wall,
        "steps_per_s": steps / wall if wall > 0 else float("nan"), "device": device,
        "mlip": s.mlip, "thermostat": s.thermostat, "seed": s.seed,
        "trajectory_path": str(out_path),
    }
    if status == "failed":
        # Keep the frames for diagnosis but mark the file so nothing mistakes it for a label source.
        _restamp(out_path, status=status, reason=reason)
    log.info("MD %s %g K: %s, %d steps in %.1f s (%.2f steps/s)", material_id, s.temperature_K,
             status, steps, wall, row["steps_per_s"])
    return row


def _restamp(path: str | Path, **extra: Any) -> None:
    """Rewrite a table's provenance with extra keys (atomically)."""
    import pyarrow.parquet as pq

    meta = schema.read_provenance(path)
    meta.update(extra)
    meta.pop("table", None)
    schema.write_table(pq.read_table(path), path, "trajectory", **meta)


def skipped_run(path: str | Path, material_id: str, settings: MDSettings, reason: str) -> dict[str, Any]:
    """Write an empty trajectory for an input that was rejected upstream; return its run row."""
    schema.write_table([], path, "trajectory", material_id=material_id, status="skipped",
                       reason=reason, temperature_K=settings.temperature_K, mlip=settings.mlip)
    return {
        "material_id": material_id, "temperature_K": float(settings.temperature_K),
        "status": "skipped", "reason": reason, "n_atoms": 0, "n_steps": 0, "n_frames": 0,
        "timestep_fs": settings.timestep_fs, "interval_steps": settings.interval, "wall_s": 0.0,
        "steps_per_s": float("nan"), "device": "", "mlip": settings.mlip,
        "thermostat": settings.thermostat, "seed": settings.seed, "trajectory_path": str(path),
    }


def md_for_material(
    structures_path: str | Path,
    material_id: str,
    settings: MDSettings,
    traj_out: str | Path,
    run_out: str | Path,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Workflow entry: MD of one prepared material; a rejected material gives a 'skipped' run."""
    from ionscreen.structures import structure_from_row

    table = schema.read_table(structures_path, "structures")
    hit = table[table["material_id"] == material_id]
    if hit.empty:
        row = skipped_run(traj_out, material_id, settings, "rejected at fetch (see rejected table)")
    else:
        try:
            row = run_md(structure_from_row(hit.iloc[0]), settings, traj_out,
                         material_id=material_id, progress=progress)
        except mlip_mod.MLIPError:
            raise
        except Exception as exc:  # e.g. the MLIP raising on a pathological cell
            log.exception("MD of %s failed", material_id)
            row = skipped_run(traj_out, material_id, settings, f"MD error: {type(exc).__name__}: {exc}")
            row["status"] = "failed"
    schema.write_table([row], run_out, "md_runs", mlip=settings.mlip)
    return row
