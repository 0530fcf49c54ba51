"""What a run leaves behind: its trajectory table (saved chunks, then the frames in memory, with
the run's provenance), its ``md_runs`` row, and the empty table and row of a run that did not run.
Single runs (``engine.run_md``), batches (``batch.run_batch``) and the ladder share them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ase import Atoms

from ionscreen import schema
from ionscreen.md.resume import ResumeStore
from ionscreen.trajectory import run_meta

if TYPE_CHECKING:
    from ionscreen.md.engine import MDSettings


def write_run_table(
    out_path: str | Path,
    material_id: str,
    atoms: Atoms,
    s: MDSettings,
    store: ResumeStore,
    buf: list[dict[str, Any]],
    status: str,
    reason: str,
) -> None:
    """A run's trajectory table: the chunks ``store`` saved, then the frames ``buf`` still holds,
    with the run's provenance (``run_meta``: atomic numbers, cell in A, time step, settings)."""
    import pyarrow.parquet as pq

    meta = run_meta(
        material_id,
        atoms.get_atomic_numbers().tolist(),
        atoms.cell.array.tolist(),
        timestep_fs=s.timestep_fs,
        interval=s.interval,
        temperature_K=s.temperature_K,
        mlip=s.mlip,
        thermostat=s.thermostat,
        seed=s.seed,
        status=status,
        reason=reason,
        settings=asdict(s),
    )
    with schema.TableWriter(out_path, "trajectory", **meta) as writer:
        for part in store.chunks():
            writer.write(pq.read_table(part))
        writer.write(buf)


def run_row(
    material_id: str,
    s: MDSettings,
    *,
    status: str,
    reason: str,
    n_atoms: int,
    n_steps: int,
    n_frames: int,
    wall_s: float,
    device: str,
    resumed_at_frame: int,
    trajectory_path: str,
    stop_reason: str = "",
    diffusive: bool | None = None,
    rel_error: float = float("nan"),
    framework_intact: bool | None = None,
    framework: str = "",
    accelerator: str = "",
) -> dict[str, Any]:
    """One ``md_runs`` row (wall_s in s; steps_per_s over the whole wall time; ``rel_error``: the
    relative half-width of D's 95 % interval where the run stopped)."""
    return {
        "stop_reason": stop_reason or ("fixed" if status == "ok" else status),
        "length_ps": n_steps * s.timestep_fs / 1000.0,
        "diffusive": diffusive,
        "D_rel_error": rel_error,
        "framework_intact": framework_intact,
        "framework": framework,
        "material_id": material_id,
        "temperature_K": float(s.temperature_K),
        "status": status,
        "reason": reason,
        "n_atoms": n_atoms,
        "n_steps": n_steps,
        "n_frames": n_frames,
        "timestep_fs": s.timestep_fs,
        "interval_steps": s.interval,
        "wall_s": wall_s,
        "steps_per_s": n_steps / wall_s if wall_s > 0 else float("nan"),
        "device": device,
        "accelerator": accelerator,
        "mlip": s.mlip,
        "thermostat": s.thermostat,
        "seed": s.seed,
        "resumed_at_frame": resumed_at_frame,
        "trajectory_path": trajectory_path,
    }


def skipped_run(
    path: str | Path,
    material_id: str,
    settings: MDSettings,
    reason: str,
    status: str = "skipped",
    stop_reason: str = "",
) -> dict[str, Any]:
    """Write an empty trajectory for a run that did not run (rejected upstream, skipped by the
    temperature ladder: ``stop_reason`` 'ladder', or an MD error: ``status`` 'failed'); return its
    run row."""
    schema.write_table(
        [],
        path,
        "trajectory",
        material_id=material_id,
        status=status,
        reason=reason,
        stop_reason=stop_reason or status,
        temperature_K=settings.temperature_K,
        mlip=settings.mlip,
    )
    return run_row(
        material_id,
        settings,
        status=status,
        reason=reason,
        n_atoms=0,
        n_steps=0,
        n_frames=0,
        wall_s=0.0,
        device="",
        resumed_at_frame=0,
        trajectory_path=str(path),
        stop_reason=stop_reason,
    )
