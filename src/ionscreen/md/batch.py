"""The batched MD engine: many runs (structures, sizes, temperatures, seeds) advanced together,
one potential evaluation per step for all of them.

Each run keeps everything a single run has (``ionscreen.md.engine``): its own Nose-Hoover chain (ASE's
``NoseHooverChainThermostat``, the very equations, parameters and defaults of the
``NoseHooverChainNVT`` that ``engine.run_md`` uses: 3 thermostats, 1 loop, 4th-order Suzuki-Yoshida)
or velocity Verlet for ``nve``; its own temperature, seed and Maxwell-Boltzmann start; unwrapped
positions; its own trajectory table and ``md_runs`` row (the same schema); its own resume store
(the same files and key as a single run's, so a run can move between the engines); its own
divergence check. A run that diverges stops as ``failed`` with its reason and the others go on.

One step of every active run, split where the potential is called (ASE's order exactly):

    p <- NHC(p, dt/2);  p <- p + dt/2 F(q);  q <- q + dt p/m
    F(q) for all runs at once (``BatchedPotential.evaluate``, packed by ``atoms_per_call``)
    p <- p + dt/2 F(q);  p <- NHC(p, dt/2)

Neighbour lists are Verlet lists with ``MDSettings.skin_A`` (``potentials.VerletList``).

Run length. With ``stop: converged`` a run is checked every ``segment_ps`` from ``min_ps`` on and
stops once the checks of ``ionscreen.md.stopping`` see long-range, steady diffusion with D known
to ``target_rel_error``, or at ``n_steps`` (``max_length``). The check reads the same frames the
label stage will read, so the stopped run's label is the one the check saw. With ``stop: fixed``
every run lasts ``n_steps``; with the ladder its label and its framework check are still computed
once at the end (they decide whether the temperatures below it run: ``stage.ladder_skip``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units

from ionscreen.md.engine import MDSettings, divergence
from ionscreen.md.integrators import first_half_step, kinetic_temperature, nose_hoover_chain, second_half_step
from ionscreen.md.potentials import BatchedPotential, System, VerletList
from ionscreen.md.recorder import run_row, write_run_table
from ionscreen.md.resume import ResumeStore, restore_thermostat, resume_state, settings_key
from ionscreen.md.stopping import Check, after_frame
from ionscreen.trajectory import frame_row

log = logging.getLogger(__name__)


@dataclass
class RunSpec:
    """One run of a batch: what to simulate and where its trajectory goes."""

    atoms: Atoms
    settings: MDSettings
    out_path: Path
    material_id: str = ""
    resume_dir: Path | None = None  # default: beside out_path (engine.ResumeStore)


@dataclass
class BatchRun:
    spec: RunSpec
    atoms: Atoms
    system: System
    masses: np.ndarray  # (n, 1), ASE mass units
    p: np.ndarray  # momenta, ASE units
    thermostat: Any  # ASE NoseHooverChainThermostat, None for nve
    store: ResumeStore
    n_frames: int
    dt: float
    frame: int = 0  # frames saved so far (frame k is step k * interval)
    nsteps: int = 0
    chunk: int = 0
    resumed_at: int = 0
    prev_energy: float | None = None
    energy: float = 0.0
    forces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    buf: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    reason: str = ""
    wall_before: float = 0.0
    done: bool = False
    stop_reason: str = ""
    diffusive: bool | None = None
    rel_error: float = float("nan")
    checked_at: int = -1  # frame count at the last label check
    last_check: Check | None = None  # the last stop-rule check (the next one's 'confirmed' reads it)
    framework_intact: bool | None = None  # at the end of a run that was not stopped early (the ladder asks)
    framework: str = ""  # what the framework check saw


def _start(spec: RunSpec, cutoff: float) -> BatchRun:
    """Velocities as ``engine.run_md`` draws them, then the run's resume point if it has one."""
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    s = spec.settings
    s.check()
    atoms = spec.atoms.copy()
    atoms.calc = None
    MaxwellBoltzmannDistribution(atoms, temperature_K=s.temperature_K, rng=s.velocity_rng())
    Stationary(atoms)
    masses = atoms.get_masses()[:, np.newaxis]
    dt = s.timestep_fs * units.fs
    thermostat = None if s.thermostat == "nve" else nose_hoover_chain(masses, s)
    system = System(
        atoms.get_atomic_numbers(),
        atoms.get_positions(),
        atoms.cell.array.copy(),
        atoms.pbc.copy(),
        VerletList(cutoff, s.skin_A, atoms.cell.array.copy(), atoms.pbc.copy()) if cutoff > 0 else None,
    )
    run = BatchRun(
        spec,
        atoms,
        system,
        masses,
        atoms.get_momenta(),
        thermostat,
        ResumeStore(spec.out_path, settings_key(s, atoms), spec.resume_dir),
        s.n_steps // s.interval + 1,
        dt,
    )
    state = run.store.start()
    if state is not None:
        run.system.positions = np.array(state["positions"], dtype=float)
        run.p = np.array(state["momenta"], dtype=float)
        run.nsteps = int(state["nsteps"])
        restore_thermostat(thermostat, state)
        run.frame = run.resumed_at = int(state["frames_done"])
        run.chunk, run.prev_energy = int(state["chunk"]) + 1, float(state["prev_energy"])
        run.wall_before = float(state["wall_s"])
        restore_checks(run, state)
        log.info(
            "resuming %s at %g K from frame %d (step %d)", spec.material_id, s.temperature_K, run.frame, run.nsteps
        )
    run.done = run.done or run.frame >= run.n_frames
    return run


def check_state(run: BatchRun) -> dict[str, Any]:
    """The stop rule's state for a resume store: the last check (passed, D, low, high) and, once
    the run has stopped, the decision (stop reason, diffusive, relative error, framework)."""
    c = run.last_check
    nan = float("nan")
    return {
        "last_check": [nan] * 5
        if c is None
        else [float(c.passed), c.D, c.low, c.high, nan if c.diffusive is None else float(c.diffusive)],
        "stop_reason": run.stop_reason if run.done else "",
        "stop_result": [
            nan if run.diffusive is None else float(run.diffusive),
            run.rel_error,
            nan if run.framework_intact is None else float(run.framework_intact),
        ],
        "framework": run.framework,
    }


def restore_checks(run: BatchRun, state: dict[str, Any]) -> None:
    """Undo ``check_state``: a run that had stopped (converged) before it was killed stays stopped
    with the same length and label decision."""

    def flag(x: float) -> bool | None:
        return None if not np.isfinite(x) else bool(x)

    last = np.asarray(state.get("last_check", [np.nan] * 5), dtype=float)
    if np.isfinite(last[0]):
        run.last_check = Check(
            0.0, last[1], last[2], last[3], flag(last[4]), why="unconfirmed" if last[0] else "restored"
        )
    reason = str(state.get("stop_reason", ""))
    if reason:
        diffusive, rel, intact = np.asarray(state["stop_result"], dtype=float)
        run.done, run.stop_reason = True, reason
        run.diffusive, run.rel_error, run.framework_intact = flag(diffusive), float(rel), flag(intact)
        run.framework = str(state.get("framework", ""))
        run.checked_at = run.frame


def pack_calls(atoms: list[int], per_call: int) -> list[list[int]]:
    """The model calls one engine step makes: indices of runs (of these atom counts), in order,
    each call taking runs while their atoms fit ``per_call`` (at least one run per call). The
    plan's cost model counts calls with this too (``md.probe.Rate.step_s``)."""
    calls: list[list[int]] = []
    used = 0  # atoms in the last call
    for k, a in enumerate(atoms):
        if not calls or used + a > per_call:
            calls.append([])
            used = 0
        calls[-1].append(k)
        used += a
    return calls


def _evaluate(potential: BatchedPotential, runs: list[BatchRun]) -> None:
    """Energies and forces of ``runs`` at their positions, packed into calls of at most
    ``potential.atoms_per_call`` atoms (at least one run per call). A run whose evaluation
    raises fails alone."""
    calls = [[runs[k] for k in call] for call in pack_calls([len(r.masses) for r in runs], potential.atoms_per_call)]
    for group in calls:
        try:
            results = potential.evaluate([r.system for r in group])
        except Exception as exc:  # noqa: BLE001 - one bad cell must not stop the batch
            if len(group) > 1:  # find the culprit: each run alone is a call of its own
                for r in group:
                    _evaluate(potential, [r])
                continue
            group[0].status, group[0].reason = "failed", f"MD error: {type(exc).__name__}: {exc}"
            continue
        for r, (energy, forces) in zip(group, results, strict=True):
            r.energy, r.forces = energy, forces


def _record(run: BatchRun, t0: float, label: Any) -> None:
    """Frame ``run.frame`` is at hand: check it, keep it, apply the stop rule, then save a chunk
    when one is full (after the stop rule, so a saved state holds its last label check)."""
    s, atoms = run.spec.settings, run.atoms
    atoms.set_positions(run.system.positions)
    atoms.set_momenta(run.p)
    reason = divergence(atoms, run.energy, run.prev_energy, s)
    if reason:
        run.status, run.reason, run.done = "failed", reason, True
        log.error(
            "MD of %s at %g K diverged at step %d: %s",
            run.spec.material_id,
            s.temperature_K,
            run.frame * s.interval,
            reason,
        )
        return
    run.prev_energy = run.energy
    run.buf.append(
        frame_row(run.frame, s.interval, s.frame_ps, kinetic_temperature(atoms), run.energy, atoms.get_positions())
    )
    run.frame += 1
    run.done = run.frame >= run.n_frames
    after_frame(run, label)
    if len(run.buf) >= s.chunk_frames:
        state = resume_state(
            run.system.positions,
            run.p,
            run.nsteps,
            run.thermostat,
            frames_done=run.frame,
            prev_energy=run.energy,
            wall_s=run.wall_before + time.perf_counter() - t0,
            **check_state(run),
        )
        run.store.save(run.chunk, run.buf, state)
        run.chunk, run.buf = run.chunk + 1, []


def _finish(run: BatchRun, wall: float, device: str, accelerator: str) -> dict[str, Any]:
    """Write the run's trajectory table (saved chunks + the frames in memory); its md_runs row."""
    s, atoms = run.spec.settings, run.atoms
    write_run_table(run.spec.out_path, run.spec.material_id, atoms, s, run.store, run.buf, run.status, run.reason)
    steps = max(0, run.frame - 1) * s.interval
    return run_row(
        run.spec.material_id,
        s,
        status=run.status,
        reason=run.reason,
        n_atoms=len(atoms),
        n_steps=steps,
        n_frames=run.frame,
        wall_s=wall,
        device=device,
        resumed_at_frame=run.resumed_at,
        trajectory_path=str(run.spec.out_path),
        stop_reason=run.stop_reason,
        diffusive=run.diffusive,
        rel_error=run.rel_error,
        framework_intact=run.framework_intact,
        framework=run.framework,
        accelerator=accelerator,
    )


def run_batch(
    specs: list[RunSpec],
    potential: BatchedPotential,
    *,
    label: Any = None,
    progress: bool = True,
    atoms_in_flight: int | None = None,
) -> list[dict[str, Any]]:
    """Run every spec to its end (its length, its convergence or its failure) together; returns
    their ``md_runs`` rows, in order. ``label``: the label stage's ``LabelSettings`` (default
    ones when None) for the stop rule and the ladder's end-of-run check.

    ``atoms_in_flight``: the runs are a queue, in order, advanced together while their atoms fit
    this budget (at least one run); when a run ends (converged, failed, at its length) the next
    queued runs take its place at once, so the batch stays full (in-flight batching). None: all
    at once. Each run's trajectory is the same either way: runs never share state.

    A run's table is written when the batch ends; resume stores are cleared only after every
    table is written, so a batch killed at any point (even after some runs finished) resumes
    every run from its last saved chunk, with its stop-rule state (a run that had stopped stays
    stopped). The finished tables equal an uninterrupted batch's bit for bit with a float64
    potential; with SevenNet (float32, its neighbour list rebuilt at the resume) to about 5e-7 A at
    first, a difference that grows over ps as in any MD.
    """
    from tqdm.auto import tqdm

    from ionscreen.labels.diffusion import LabelSettings

    label = label or LabelSettings()
    runs = [_start(spec, potential.cutoff_A) for spec in specs]
    for r in runs:
        if r.done:  # finished before a kill: only its table is missing
            after_frame(r, label)
    t0 = time.perf_counter()
    queue = [r for r in runs if not r.done]
    budget = atoms_in_flight if atoms_in_flight is not None else sum(len(r.masses) for r in queue)
    live: list[BatchRun] = []

    def admit() -> None:
        """Queued runs join while their atoms fit the budget: forces at their start, frame 0 kept."""
        new: list[BatchRun] = []
        while queue and (not (live or new) or sum(len(r.masses) for r in live + new) + len(queue[0].masses) <= budget):
            new.append(queue.pop(0))
        if not new:
            return
        _evaluate(potential, new)
        for r in new:
            if r.status == "failed":
                r.done = True
            elif r.frame == 0:  # frame 0 is the start; a resumed run's last frame is saved already
                _record(r, t0, label)
        live.extend(r for r in new if not r.done)

    admit()
    total = sum(r.n_frames for r in runs)
    bar = tqdm(
        total=total,
        initial=sum(r.frame for r in runs),
        unit="frame",
        disable=not progress,
        mininterval=2.0,
        desc=f"md batch of {len(runs)} runs",
    )
    while live:
        for r in live:
            r.p, r.system.positions = first_half_step(r.p, r.forces, r.system.positions, r.masses, r.dt, r.thermostat)
        _evaluate(potential, live)
        before = sum(r.frame for r in runs)
        for r in live:
            if r.status == "failed":  # the potential raised on this run
                r.done = True
                log.error("MD of %s at %g K failed: %s", r.spec.material_id, r.spec.settings.temperature_K, r.reason)
                continue
            r.p = second_half_step(r.p, r.forces, r.dt, r.thermostat)
            r.nsteps += 1
            if r.nsteps % r.spec.settings.interval == 0:
                _record(r, t0, label)
        live[:] = [r for r in live if not r.done]
        if queue:
            admit()
        bar.update(sum(r.frame for r in runs) - before)
    bar.close()
    wall = time.perf_counter() - t0
    device = getattr(potential, "device", "cpu")
    rows = [_finish(r, r.wall_before + wall, device, getattr(potential, "accelerator", "none")) for r in runs]
    for r in runs:
        r.store.clear()
    for row in rows:
        log.info(
            "MD %s %g K: %s, %d steps in %.1f s (%.2f steps/s)",
            row["material_id"],
            row["temperature_K"],
            row["status"],
            row["n_steps"],
            row["wall_s"],
            row["steps_per_s"],
        )
    return rows
