"""MLIP molecular dynamics (stage ``md``): NVT Nose-Hoover, unwrapped positions, honest failure.

The science default is the LiFlow protocol (docs/method.md section 1): 1 fs, 25 ps, a frame every 10
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
from ase import Atoms
from pymatgen.core import Structure

from ionscreen import mlip as mlip_mod
from ionscreen.md.integrators import kinetic_temperature, reference_integrator
from ionscreen.md.recorder import run_row, write_run_table
from ionscreen.md.resume import ResumeStore, capture_state, restore_state, settings_key
from ionscreen.sevennet.checkpoint import is_sevennet
from ionscreen.trajectory import frame_row

log = logging.getLogger(__name__)

TRANSPORT_THERMOSTATS = ("nose-hoover", "nve")
STOP_RULES = ("fixed", "converged")
REFUSED_THERMOSTATS = {
    "langevin": "Langevin's random and friction forces suppress diffusion",
    "andersen": "Andersen's velocity reassignments destroy velocity correlations",
    "berendsen": "Berendsen does not sample the canonical ensemble",
}


# Settings that change how fast a trajectory is computed, not the trajectory.
ENGINE_ONLY = ("threads", "device", "accelerator", "chunk_frames", "skin_A", "batch_atoms", "runs_per_job")


class MDError(ValueError):
    """MD settings or input that cannot give a transport trajectory."""


@dataclass
class MDSettings:
    """One MD run. Defaults are the LiFlow protocol (docs/method.md section 1)."""

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
    # Run length (ionscreen.md.stopping): 'fixed' runs n_steps; 'converged' checks every segment_ps
    # from min_ps on and stops once the hop rate is steady, the label stage's kinisi D has a 95 %
    # interval of relative half-width <= target_rel_error, the MSD at the longest fitted lag is
    # >= min_msd_hops squared hop lengths (long-range, not caged), and the check before agreed
    # (n_steps is then the maximum length).
    stop: str = "converged"
    segment_ps: float = 2.5
    min_ps: float = 10.0
    target_rel_error: float = 0.25
    min_msd_hops: float = 10.0
    # Temperature ladder: a material's temperatures run from the highest down; below a temperature
    # where the run ended not diffusive at its full length with its host framework intact, runs are
    # skipped (D only falls as T falls).
    ladder: bool = True
    # Batched engine (ionscreen.md.batch): neither changes a trajectory beyond float32 rounding.
    skin_A: float = 1.0  # Verlet-list skin: pairs within cutoff + skin, rebuilt after a move of skin / 2
    batch_atoms: int = 8192  # atoms in flight in one batch job (GPU memory)
    # Runs one workflow batch job holds; None: as many as batch_atoms holds at once. More make the
    # job a queue that stays full while runs stop at different times (in-flight batching).
    runs_per_job: int | None = None
    # SevenNet's tensor-product accelerator on CUDA (ionscreen.mlip.ACCELERATORS): auto takes the
    # installed one (none on a CPU). Speed only: float32 rounding, as the device.
    accelerator: str = "auto"

    def trajectory_settings(self) -> dict[str, Any]:
        """The settings that determine a trajectory (what a resume must match): all but how and
        where it is computed."""
        return {k: v for k, v in asdict(self).items() if k not in ENGINE_ONLY}

    def check(self) -> None:
        """Refuse settings that cannot give a transport trajectory; thermostat names are taken in
        any case and stored lower-case (``NVE`` runs NVE, not the default Nose-Hoover)."""
        t = self.thermostat.strip().lower()
        if t in REFUSED_THERMOSTATS:
            raise MDError(
                f"thermostat {self.thermostat!r} is refused for transport labels: "
                f"{REFUSED_THERMOSTATS[t]}; use 'nose-hoover' (NVT) or 'nve'"
            )
        if t not in TRANSPORT_THERMOSTATS:
            raise MDError(f"unknown thermostat {self.thermostat!r}; use one of {TRANSPORT_THERMOSTATS}")
        self.thermostat = t
        if self.n_steps < self.interval or self.interval < 1:
            raise MDError(f"need n_steps >= interval >= 1 (got {self.n_steps}, {self.interval})")
        if self.temperature_K <= 0 or self.timestep_fs <= 0:
            raise MDError("temperature and time step must be positive")
        self.stop = self.stop.strip().lower()
        if self.stop not in STOP_RULES:
            raise MDError(f"unknown md.stop {self.stop!r}; use one of {STOP_RULES}")
        if self.stop == "converged" and not (
            self.segment_ps > 0 and self.target_rel_error > 0 and self.min_ps >= 0 and self.min_msd_hops >= 0
        ):
            raise MDError(
                "md.stop converged needs segment_ps > 0, target_rel_error > 0, min_ps >= 0 and min_msd_hops >= 0"
            )

    def velocity_rng(self) -> np.random.Generator:
        """The random stream of the starting velocities: from the seed and the temperature, so the
        temperatures of one material start from independent velocities, not rescaled copies."""
        return np.random.default_rng([self.seed, int(round(self.temperature_K * 1000))])

    @property
    def frame_ps(self) -> float:
        """Time between saved frames, ps."""
        return self.timestep_fs * self.interval / 1000.0

    @property
    def checks_labels(self) -> bool:
        """Whether a run computes its label while it runs (stop rule) or at its end (ladder)."""
        return self.stop == "converged" or self.ladder


def _min_distance(atoms: Atoms) -> float:
    if len(atoms) < 2:
        return math.inf
    d = atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def divergence(atoms: Atoms, energy: float, prev_energy: float | None, s: MDSettings) -> str:
    """Empty string when the frame is sane, else the reason."""
    pos = atoms.get_positions()
    if not (np.all(np.isfinite(pos)) and math.isfinite(energy)):
        return "non-finite positions or energy"
    temp = kinetic_temperature(atoms)
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
    A run that was killed resumes from its last saved chunk (see :class:`ResumeStore`); the
    finished table equals an uninterrupted run's bit for bit with a float64 potential, and to
    float32 rounding at first with SevenNet (docs/md.md, Resume).
    """
    # (pymatgen.io.ase here, not at the top: 0.5 s of ase imports that only MD needs)
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from pymatgen.io.ase import AseAtomsAdaptor
    from tqdm.auto import tqdm

    s = settings
    s.check()
    out_path = Path(out_path)
    atoms = AseAtomsAdaptor.get_atoms(structure) if isinstance(structure, Structure) else structure.copy()
    store = ResumeStore(out_path, settings_key(s, atoms))
    if calc is None:
        mlip_mod.set_threads(s.threads)
        calc = mlip_mod.get_calculator(s.mlip, s.device, accelerator=s.accelerator)
    atoms.calc = calc
    device = "cpu" if s.mlip == mlip_mod.LJ_NAME else mlip_mod.resolve_device(s.device)
    accelerator = mlip_mod.resolve_accelerator(s.accelerator, device) if is_sevennet(s.mlip) else "none"
    MaxwellBoltzmannDistribution(atoms, temperature_K=s.temperature_K, rng=s.velocity_rng())
    Stationary(atoms)  # no net momentum: the cell does not drift
    dyn = reference_integrator(atoms, s)

    n_frames = s.n_steps // s.interval + 1
    frame_ps = s.frame_ps
    status, reason = "ok", ""
    prev_e: float | None = None
    first_frame, chunk, wall_before = 0, 0, 0.0
    state = store.start()
    if state is not None:
        restore_state(dyn, atoms, state)
        first_frame, chunk = int(state["frames_done"]), int(state["chunk"]) + 1
        prev_e, wall_before = float(state["prev_energy"]), float(state["wall_s"])
        log.info(
            "resuming %s at %g K from frame %d (step %d)",
            material_id,
            s.temperature_K,
            first_frame,
            int(state["nsteps"]),
        )
    resumed_at = first_frame
    buf: list[dict[str, Any]] = []
    frames_done = first_frame
    t0 = time.perf_counter()
    bar = tqdm(
        total=n_frames,
        initial=first_frame,
        desc=f"md {material_id} {s.temperature_K:g} K",
        unit="frame",
        disable=not progress,
        mininterval=2.0,
    )
    for frame in range(first_frame, n_frames):
        if frame:
            dyn.run(s.interval)
        energy = float(atoms.get_potential_energy())
        reason = divergence(atoms, energy, prev_e, s)
        if reason:
            status = "failed"
            log.error(
                "MD of %s at %g K diverged at step %d: %s", material_id, s.temperature_K, frame * s.interval, reason
            )
            break
        prev_e = energy
        buf.append(frame_row(frame, s.interval, frame_ps, kinetic_temperature(atoms), energy, atoms.get_positions()))
        frames_done = frame + 1
        if len(buf) >= s.chunk_frames:
            store.save(
                chunk,
                buf,
                capture_state(
                    dyn,
                    atoms,
                    {
                        "frames_done": frames_done,
                        "prev_energy": energy,
                        "wall_s": wall_before + time.perf_counter() - t0,
                    },
                ),
            )
            chunk, buf = chunk + 1, []
        bar.update(1)
    bar.close()
    wall = wall_before + time.perf_counter() - t0
    write_run_table(out_path, material_id, atoms, s, store, buf, status, reason)
    store.clear()
    steps = max(0, frames_done - 1) * s.interval
    row = run_row(
        material_id,
        s,
        status=status,
        reason=reason,
        n_atoms=len(atoms),
        n_steps=steps,
        n_frames=frames_done,
        wall_s=wall,
        device=device,
        resumed_at_frame=resumed_at,
        trajectory_path=str(out_path),
        accelerator=accelerator,
    )
    log.info(
        "MD %s %g K: %s, %d steps in %.1f s (%.2f steps/s)",
        material_id,
        s.temperature_K,
        status,
        steps,
        wall,
        row["steps_per_s"],
    )
    return row
