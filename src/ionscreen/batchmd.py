"""The batched MD engine: many runs (structures, sizes, temperatures, seeds) advanced together,
one potential evaluation per step for all of them.

Each run keeps everything a single run has (``ionscreen.md``): its own Nose-Hoover chain (ASE's
``NoseHooverChainThermostat``, the very equations, parameters and defaults of the
``NoseHooverChainNVT`` that ``md.run_md`` uses: 3 thermostats, 1 loop, 4th-order Suzuki-Yoshida)
or velocity Verlet for ``nve``; its own temperature, seed and Maxwell-Boltzmann start; unwrapped
positions; its own trajectory table and ``md_runs`` row (the same schema); its own resume store
(the same files and key as a single run's, so a run can move between the engines); its own
divergence check. A run that diverges stops as ``failed`` with its reason and the others go on.

One step of every active run, split where the potential is called (ASE's order exactly):

    p <- NHC(p, dt/2);  p <- p + dt/2 F(q);  q <- q + dt p/m
    F(q) for all runs at once (``BatchedPotential.evaluate``, packed by ``atoms_per_call``)
    p <- p + dt/2 F(q);  p <- NHC(p, dt/2)

Neighbour lists are Verlet lists with ``MDSettings.skin_A`` (``potentials.VerletList``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units

from ionscreen import schema
from ionscreen.md import MDSettings, ResumeStore, divergence, run_row, settings_key
from ionscreen.potentials import BatchedPotential, System, VerletList
from ionscreen.trajectory import frame_row, run_meta

log = logging.getLogger(__name__)


@dataclass
class RunSpec:
    """One run of a batch: what to simulate and where its trajectory goes."""

    atoms: Atoms
    settings: MDSettings
    out_path: Path
    material_id: str = ""
    resume_dir: Path | None = None  # default: beside out_path (md.ResumeStore)


@dataclass
class _Run:
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


def _start(spec: RunSpec, cutoff: float) -> _Run:
    """Velocities as ``md.run_md`` draws them, then the run's resume point if it has one."""
    from ase.md.nose_hoover_chain import NoseHooverChainThermostat
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    s = spec.settings
    s.check()
    atoms = spec.atoms.copy()
    atoms.calc = None
    MaxwellBoltzmannDistribution(atoms, temperature_K=s.temperature_K, rng=np.random.default_rng(s.seed))
    Stationary(atoms)
    masses = atoms.get_masses()[:, np.newaxis]
    dt = s.timestep_fs * units.fs
    thermostat = None if s.thermostat == "nve" else NoseHooverChainThermostat(
        num_atoms_global=len(atoms), masses=masses, temperature_K=s.temperature_K, tdamp=s.tdamp_fs * units.fs)
    system = System(atoms.get_atomic_numbers(), atoms.get_positions(), atoms.cell.array.copy(), atoms.pbc.copy(),
                    VerletList(cutoff, s.skin_A, atoms.cell.array.copy(), atoms.pbc.copy()) if cutoff > 0 else None)
    run = _Run(spec, atoms, system, masses, atoms.get_momenta(), thermostat,
               ResumeStore(spec.out_path, settings_key(s, atoms), spec.resume_dir), s.n_steps // s.interval + 1, dt)
    state = run.store.start()
    if state is not None:
        run.system.positions = np.array(state["positions"], dtype=float)
        run.p = np.array(state["momenta"], dtype=float)
        run.nsteps = int(state["nsteps"])
        if thermostat is not None:
            thermostat._eta[:] = state["eta"]
            thermostat._p_eta[:] = state["p_eta"]
        run.frame = run.resumed_at = int(state["frames_done"])
        run.chunk, run.prev_energy = int(state["chunk"]) + 1, float(state["prev_energy"])
        run.wall_before = float(state["wall_s"])
        log.info("resuming %s at %g K from frame %d (step %d)", spec.material_id, s.temperature_K, run.frame, run.nsteps)
    run.done = run.frame >= run.n_frames
    return run


def _evaluate(potential: BatchedPotential, runs: list[_Run]) -> None:
    """Energies and forces of ``runs`` at their positions, packed into calls of at most
    ``potential.atoms_per_call`` atoms (at least one run per call). A run whose evaluation
    raises fails alone."""
    calls: list[list[_Run]] = [[]]
    for r in runs:
        if calls[-1] and sum(len(x.masses) for x in calls[-1]) + len(r.masses) > potential.atoms_per_call:
            calls.append([])
        calls[-1].append(r)
    for group in calls:
        try:
            results = potential.evaluate([r.system for r in group])
        except Exception as exc:  # noqa: BLE001 - one bad cell must not stop the batch
            if len(group) > 1:  # find the culprit: evaluate one by one
                for r in group:
                    _evaluate(_One(potential), [r])
                continue
            group[0].status, group[0].reason = "failed", f"MD error: {type(exc).__name__}: {exc}"
            continue
        for r, (energy, forces) in zip(group, results, strict=True):
            r.energy, r.forces = energy, forces


class _One:
    """A view of a potential that evaluates one system per call (isolates a failing system)."""

    def __init__(self, potential: BatchedPotential) -> None:
        self.potential, self.atoms_per_call = potential, 0

    def evaluate(self, systems: list[System]) -> list[tuple[float, np.ndarray]]:
        return self.potential.evaluate(systems)


def _record(run: _Run, t0: float) -> None:
    """Frame ``run.frame`` is at hand: check it, keep it, save a chunk when one is full."""
    s, atoms = run.spec.settings, run.atoms
    atoms.set_positions(run.system.positions)
    atoms.set_momenta(run.p)
    reason = divergence(atoms, run.energy, run.prev_energy, s)
    if reason:
        run.status, run.reason, run.done = "failed", reason, True
        log.error("MD of %s at %g K diverged at step %d: %s", run.spec.material_id, s.temperature_K,
                  run.frame * s.interval, reason)
        return
    run.prev_energy = run.energy
    frame_ps = s.timestep_fs * s.interval / 1000.0
    run.buf.append(frame_row(run.frame, s.interval, frame_ps, float(atoms.get_temperature()), run.energy,
                             atoms.get_positions()))
    run.frame += 1
    if len(run.buf) >= s.chunk_frames:
        state = {"positions": run.system.positions, "momenta": run.p, "nsteps": np.array(run.nsteps),
                 "frames_done": run.frame, "prev_energy": run.energy,
                 "wall_s": run.wall_before + time.perf_counter() - t0}
        if run.thermostat is not None:
            state |= {"eta": run.thermostat._eta.copy(), "p_eta": run.thermostat._p_eta.copy()}
        run.store.save(run.chunk, run.buf, {k: np.asarray(v) for k, v in state.items()})
        run.chunk, run.buf = run.chunk + 1, []
    run.done = run.frame >= run.n_frames


def _finish(run: _Run, wall: float, device: str) -> dict[str, Any]:
    """Write the run's trajectory table (saved chunks + the frames in memory); its md_runs row."""
    import pyarrow.parquet as pq

    s, atoms = run.spec.settings, run.atoms
    meta = run_meta(run.spec.material_id, atoms.get_atomic_numbers().tolist(), atoms.cell.array.tolist(),
                    timestep_fs=s.timestep_fs, interval=s.interval, temperature_K=s.temperature_K, mlip=s.mlip,
                    thermostat=s.thermostat, seed=s.seed, status=run.status, reason=run.reason,
                    settings=asdict(s))
    with schema.TableWriter(run.spec.out_path, "trajectory", **meta) as writer:
        for part in run.store.chunks():
            writer.write(pq.read_table(part))
        writer.write(run.buf)
    steps = max(0, run.frame - 1) * s.interval
    return run_row(run.spec.material_id, s, status=run.status, reason=run.reason, n_atoms=len(atoms), n_steps=steps,
                   n_frames=run.frame, wall_s=wall, device=device, resumed_at_frame=run.resumed_at,
                   trajectory_path=str(run.spec.out_path))


def run_batch(specs: list[RunSpec], potential: BatchedPotential, *, progress: bool = True) -> list[dict[str, Any]]:
    """Run every spec to its end (or its failure) together; returns their ``md_runs`` rows, in order.

    A run's table is written when the batch ends; resume stores are cleared only after every
    table is written, so a batch killed at any point (even after some runs finished) resumes
    every run from its last saved chunk, and the finished tables equal an uninterrupted batch's.
    """
    from tqdm.auto import tqdm

    runs = [_start(spec, potential.cutoff_A) for spec in specs]
    t0 = time.perf_counter()
    live = [r for r in runs if not r.done]
    _evaluate(potential, live)
    for r in live:
        if r.status == "failed":
            r.done = True
        elif r.frame == 0:  # frame 0 is the start; a resumed run's last frame is saved already
            _record(r, t0)
    total = sum(r.n_frames for r in runs)
    bar = tqdm(total=total, initial=sum(r.frame for r in runs), unit="frame", disable=not progress,
               mininterval=2.0, desc=f"md batch of {len(runs)} runs")
    while live := [r for r in runs if not r.done]:
        for r in live:  # first half: thermostat, half kick, drift
            if r.thermostat is not None:
                r.p = r.thermostat.integrate_nhc(r.p, r.dt / 2)
            r.p = r.p + (r.dt / 2) * r.forces
            r.system.positions = r.system.positions + r.dt * r.p / r.masses
        _evaluate(potential, live)
        before = sum(r.frame for r in runs)
        for r in live:
            if r.status == "failed":  # the potential raised on this run
                r.done = True
                log.error("MD of %s at %g K failed: %s", r.spec.material_id, r.spec.settings.temperature_K, r.reason)
                continue
            r.p = r.p + (r.dt / 2) * r.forces
            if r.thermostat is not None:
                r.p = r.thermostat.integrate_nhc(r.p, r.dt / 2)
            r.nsteps += 1
            if r.nsteps % r.spec.settings.interval == 0:
                _record(r, t0)
        bar.update(sum(r.frame for r in runs) - before)
    bar.close()
    wall = time.perf_counter() - t0
    device = getattr(potential, "device", "cpu")
    rows = [_finish(r, r.wall_before + wall, device) for r in runs]
    for r in runs:
        r.store.clear()
    for row in rows:
        log.info("MD %s %g K: %s, %d steps in %.1f s (%.2f steps/s)", row["material_id"], row["temperature_K"],
                 row["status"], row["n_steps"], row["wall_s"], row["steps_per_s"])
    return rows


def md_batch_job(structure_files: list[str | Path], runs: list[tuple[str, float]], settings: MDSettings,
                 out_dir: str | Path, resume_root: str | Path, *, progress: bool = True) -> list[dict[str, Any]]:
    """Workflow entry: one batch of (material id, temperature K) runs of prepared structures.

    Writes ``out_dir/<id>/<T>K.parquet`` (trajectory) and ``<T>K.run.parquet`` (its md_runs row)
    for every run; resume stores live in ``resume_root/<id>/<T>K`` (outside ``out_dir``, which
    Snakemake deletes before it reruns a killed job). A material rejected at fetch gives
    'skipped' runs; an MD error fails its run alone.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from ionscreen import mlip
    from ionscreen.md import skipped_run
    from ionscreen.potentials import get_potential
    from ionscreen.structures import structure_from_row

    prepared: dict[str, Any] = {}
    for path in structure_files:
        table = schema.read_table(path, "structures")
        for _, row in table.iterrows():
            prepared[row["material_id"]] = row
    out_dir, resume_root = Path(out_dir), Path(resume_root)
    rows: dict[tuple[str, float], dict[str, Any]] = {}
    specs: list[RunSpec] = []
    for mid, temp in runs:
        s = replace(settings, temperature_K=float(temp))
        out = out_dir / mid / f"{temp:g}K.parquet"
        if mid not in prepared:
            rows[mid, float(temp)] = skipped_run(out, mid, s, "rejected at fetch (see rejected table)")
            continue
        specs.append(RunSpec(AseAtomsAdaptor.get_atoms(structure_from_row(prepared[mid])), s, out, mid,
                             resume_root / mid / f"{temp:g}K"))
    if specs:
        mlip.set_threads(settings.threads)
        potential = get_potential(settings.mlip, settings.device, batch_atoms=settings.batch_atoms)
        for spec, row in zip(specs, run_batch(specs, potential, progress=progress), strict=True):
            rows[spec.material_id, spec.settings.temperature_K] = row
    for (mid, temp), row in rows.items():
        schema.write_table([row], out_dir / mid / f"{temp:g}K.run.parquet", "md_runs", mlip=settings.mlip)
    return [rows[mid, float(temp)] for mid, temp in runs]
