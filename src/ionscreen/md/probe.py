"""What MD costs on this device, measured: the plan's probe (``ionscreen.md.plan``).

The probe runs the real batched engine (``md.batch.run_batch``) and the configured MLIP on a
sample of the campaign's own prepared structures, at the configured batch size, on the device
that will run the campaign, for at most ``probe_s`` seconds. It times three batches (the full
sample, its lighter half, its heavier half) and fits the cost of one engine step,

    t_step = calls x call_s + runs x run_step_s + edges x edge_step_s      (s)

where ``calls`` is the number of model calls the step needs (``potential.atoms_per_call`` packs
the runs), ``runs`` the runs in flight and ``edges`` their atom pairs within the MLIP's cutoff: a
model call's fixed cost (a GPU's kernel launches), the engine's own work per run (thermostat,
frames, divergence checks), and the model's work per pair. Pairs, not atoms: a message-passing
MLIP works on edges, and at 5 A a dense fluoride has twice the neighbours of a chloride (SevenNet-0
on this project's 2-core CPU, 1200 K: 0.11-0.15 ms per edge-step across LiCl, Li3N, Li2O and
LiF, against 2.9-10.7 ms per atom-step). A label check of the stop rule is timed on a walk of the campaign's length
(``check_s``). The result is a ``Rate``, kept per (device name, MLIP, batch size, accelerator)
in ``rates.parquet`` so that a plan for a cluster GPU can be made on a login node from a rate
measured on that GPU earlier.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ionscreen.md.batch import pack_calls
from ionscreen.md.engine import MDSettings

log = logging.getLogger(__name__)

SLICES = 3  # timed runs of each probe configuration


@dataclass(frozen=True)
class Rate:
    """The measured cost of the batched engine on one device (seconds)."""

    device_name: str  # 'NVIDIA H100 80GB HBM3', or 'cpu: <model>, <n> threads'
    device: str  # cpu or cuda
    mlip: str
    batch_atoms: int
    accelerator: str
    call_s: float  # per model call per step
    run_step_s: float  # per run in flight per step
    edge_step_s: float  # per atom pair within the cutoff, in flight, per step
    atoms_per_call: int  # how the engine packs runs into model calls on this device
    cutoff_A: float  # the MLIP's cutoff: what counts as an edge
    start_s: float  # loading the model (once per batch job)
    check_s: float  # one label (a stop-rule check, or a label job's run) of a full-length run
    probe_s: float  # what the probe itself took
    sample: str  # what was measured: runs x atoms, steps
    measured_at: str  # ISO date and time
    check_start_s: float = 0.0  # the first check in a job: kinisi's import and warm-up, once per job
    spread: float = 0.0  # half the range of one configuration's timed slices / their median (the largest)

    def step_s(self, runs: list[tuple[int, int]]) -> float:
        """Seconds of one engine step of these runs in flight, each (atoms, edges)."""
        if not runs:
            return 0.0
        calls = len(pack_calls([a for a, _ in runs], self.atoms_per_call))
        return calls * self.call_s + len(runs) * self.run_step_s + sum(e for _, e in runs) * self.edge_step_s

    def atom_steps_per_s(self, runs: list[tuple[int, int]]) -> float:
        """Throughput of a batch of these runs (atoms, edges), atom-steps/s."""
        return sum(a for a, _ in runs) / self.step_s(runs) if runs else float("nan")

    def key(self) -> tuple[str, str, int, str]:
        return (self.device_name, self.mlip, self.batch_atoms, self.accelerator)


class RateError(ValueError):
    """No rate for the campaign's device, MLIP and batch size, or a probe that cannot run."""


def device_name(device: str, threads: int = 1) -> str:
    """A device as a rate file names it: the GPU's name, or the CPU's model and the threads."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    return f"cpu: {model}, {threads} thread{'s' if threads != 1 else ''}"


def edges(atoms: Atoms, cutoff_A: float) -> int:
    """Directed atom pairs within ``cutoff_A`` (periodic images included): the MLIP's work."""
    from ase.neighborlist import neighbor_list

    return int(len(neighbor_list("i", atoms, cutoff_A)))


def sample_batch(
    atoms_of: dict[str, Atoms], edges_of: dict[str, int], batch_atoms: int, max_runs: int
) -> list[tuple[str, Atoms]]:
    """The probe's batch, shaped as the campaign's batch jobs: the campaign's structures, from
    the lightest to the heaviest (edges) spread evenly, added while they fit ``batch_atoms`` atoms
    and ``max_runs`` runs (at least one), repeated when the campaign has fewer structures. The
    heaviest is always in it (it replaces the last ones added when the batch is full): a fit on
    the light end alone overestimated a campaign's heavy end by 30 %."""
    if not atoms_of:
        raise RateError("no prepared structure to probe")
    order = sorted(atoms_of, key=lambda m: (edges_of[m], m))
    picks = [order[int(i)] for i in np.linspace(0, len(order) - 1, min(len(order), 64)).round()]
    picks = list(dict.fromkeys(picks))
    out: list[str] = []
    total, k = 0, 0
    while True:
        mid = picks[k % len(picks)]
        n = len(atoms_of[mid])
        if out and (total + n > batch_atoms or len(out) >= max_runs):
            break
        out.append(mid)
        total += n
        k += 1
        if k >= 4 * len(picks) and total >= batch_atoms / 2:
            break
    heavy = order[-1]
    if heavy not in out:
        while len(out) > 1 and (
            sum(len(atoms_of[m]) for m in out) + len(atoms_of[heavy]) > batch_atoms or len(out) >= max_runs
        ):
            out.pop()
        fits = sum(len(atoms_of[m]) for m in out) + len(atoms_of[heavy]) <= batch_atoms
        out = out + [heavy] if fits and len(out) < max_runs else [heavy]
    return _apart([(m, atoms_of[m]) for m in out])


def _apart(runs: list[tuple[str, Atoms]]) -> list[tuple[str, Atoms]]:
    """The runs with repeats apart (first occurrences, then the second ones, ...): a campaign's
    batch holds distinct materials, and a calculator that caches per system would run a repeat
    next door for free."""
    seen: dict[str, int] = {}
    nth = []
    for m, _ in runs:
        seen[m] = seen.get(m, -1) + 1
        nth.append(seen[m])
    return [r for _, r in sorted(zip(nth, runs, strict=True), key=lambda x: x[0])]


def _timed_batch(
    runs: list[tuple[str, Atoms]],
    edges_of: dict[str, int],
    settings: MDSettings,
    potential: Any,
    steps: int,
    folder: Path,
    tag: str,
) -> tuple[float, float, float, float, set[str]]:
    """``runs`` advanced together ``steps`` steps (stop rule off): (wall seconds per step, the
    model calls, runs and edges in flight per step on average, and the materials whose runs
    failed). A run that diverges (a tiny cell at the top temperature can) leaves the batch as it
    would in the campaign; the averages count each run for the steps it ran."""
    from ionscreen.md.batch import RunSpec, run_batch

    s = replace(settings, n_steps=steps, interval=min(settings.interval, steps), stop="fixed", ladder=False)
    specs = [
        RunSpec(a, s, folder / f"{tag}-{i}.parquet", mid, folder / f"{tag}-{i}.resume")
        for i, (mid, a) in enumerate(runs)
    ]
    rows = run_batch(specs, potential, progress=False, atoms_in_flight=settings.batch_atoms)
    done = [max(1, int(r["n_steps"])) + 1 for r in rows]  # + 1: the start's force call
    longest = max(done)
    for r in rows:
        if r["status"] != "ok":
            log.warning("probe run of %s: %s (it leaves the probe's batch early)", r["material_id"], r["reason"])
    share = [d / longest for d in done]
    n_runs = sum(share)
    n_edges = sum(edges_of[mid] * w for (mid, _), w in zip(runs, share, strict=True))
    calls = len(pack_calls([len(a) for _, a in runs], potential.atoms_per_call)) * n_runs / len(runs)
    failed = {r["material_id"] for r in rows if r["status"] != "ok"}
    return max(r["wall_s"] for r in rows) / longest, calls, n_runs, n_edges, failed


def _configs(
    atoms_of: dict[str, Atoms], edges_of: dict[str, int], batch_atoms: int, max_runs: int
) -> tuple[list[tuple[str, Atoms]], list[list[tuple[str, Atoms]]]]:
    """(the full sample batch, the batches the probe times): the full batch, then its lighter and
    its heavier half (in edges) as batches of their own, which separates the cost of runs in a batch
    (a calculator's caches thrash between systems) from that of their edges. A batch of one run:
    the campaign's lightest and heaviest structures alone."""
    full = sample_batch(atoms_of, edges_of, batch_atoms, max_runs)
    ordered = sorted(full, key=lambda r: (edges_of[r[0]], r[0]))
    if len(full) >= 2:
        return full, [full, _apart(ordered[: len(full) // 2]), _apart(ordered[len(full) // 2 :])]
    light = min(atoms_of, key=lambda m: (edges_of[m], m))
    heavy = max(atoms_of, key=lambda m: (edges_of[m], m))
    configs = [full, [(light, atoms_of[light])]]
    if edges_of[heavy] != edges_of[light]:
        configs.append([(heavy, atoms_of[heavy])])
    return full, configs


def probe(
    atoms_of: dict[str, Atoms],
    settings: MDSettings,
    *,
    probe_s: float = 60.0,
    label: Any = None,
    potential: Any = None,
    max_runs: int | None = None,
    edges_of: dict[str, int] | None = None,
) -> Rate:
    """Measure the engine on a sample of these structures (material id -> prepared Atoms) with
    these MD settings (MLIP, device, threads, batch size, temperature: the campaign's highest),
    within ``probe_s`` seconds. ``potential``: one already loaded (tests); else it is loaded here
    and its loading time is the rate's ``start_s``. ``max_runs``: runs in flight in one of the
    campaign's batch jobs (default: as many as fit ``batch_atoms``). ``edges_of``: each
    structure's edges at the MLIP's cutoff, when the caller has counted them."""
    from ionscreen import mlip
    from ionscreen.md.potentials import get_potential

    t_all = time.perf_counter()
    mlip.set_threads(settings.threads)
    t0 = time.perf_counter()
    if potential is None:
        potential = get_potential(
            settings.mlip, settings.device, batch_atoms=settings.batch_atoms, accelerator=settings.accelerator
        )
    start_s = time.perf_counter() - t0
    # The potential's own cutoff; a calculator behind the batched interface keeps none (0): the
    # MLIP's nominal one (ionscreen.mlip.cutoff_A) then counts its pairs.
    cutoff = float(potential.cutoff_A) or mlip.cutoff_A(settings.mlip)
    edges_of = edges_of or {m: edges(a, cutoff) for m, a in atoms_of.items()}
    max_runs = max_runs or settings.batch_atoms
    pool = dict(atoms_of)
    with tempfile.TemporaryDirectory(prefix="ionscreen-probe-") as tmp:
        folder = Path(tmp)
        # The stop rule's checks, and each label job. The first check of a process also imports and
        # warms kinisi (about 1.3 s here, against 0.8 s for a check after it): paid once per job,
        # so it counts with the model's loading, not with every check.
        first_check_s = _time_check(atoms_of, settings, label)
        check_s = _time_check(atoms_of, settings, label)
        check_start_s = max(0.0, first_check_s - check_s)
        # Warm-up and screening in one: every structure the probe will time runs three frames
        # together (first calls: allocation, caches; not timed). One whose run fails there (an
        # unrelaxed cell at the top temperature can diverge within a few frames) leaves the pool,
        # since timing a few steps of its start-up would skew the fit.
        screen_steps = min(settings.n_steps, 3 * settings.interval)
        for attempt in range(10):
            full, configs = _configs(pool, edges_of, settings.batch_atoms, max_runs)
            members = list({m: (m, x) for c in configs for m, x in c}.values())
            warm, _, _, _, bad = _timed_batch(
                members, edges_of, settings, potential, screen_steps, folder, f"warm{attempt}"
            )
            if not bad:
                break
            log.warning("probe: %s failed in the warm-up; probing without them", ", ".join(sorted(bad)))
            pool = {m: x for m, x in pool.items() if m not in bad}
            if not pool:
                raise RateError("every structure the probe tried failed in its first frames: see the log")
            if time.perf_counter() - t_all > probe_s / 2:  # the budget holds: time what is left unscreened
                full, configs = _configs(pool, edges_of, settings.batch_atoms, max_runs)
                members = list({m: (m, x) for c in configs for m, x in c}.values())
                break
        else:
            raise RateError("ten samples of structures failed in the probe's first frames: see the log")
        left = probe_s - (time.perf_counter() - t_all)
        # Steps per configuration: an equal share of what is left (less a reserve for writing the
        # tables), from the warm-up's step time scaled by the edges.
        member_edges = max(1, sum(edges_of[m] for m, _ in members))
        # Each configuration is timed in SLICES runs of its own: the fit takes the median, and half
        # the slices' range says how far one measurement of this device's speed strays (the plan
        # widens its range by it: on this project's 2-core machine 6-15 %).
        steps, times, rows, spread, slice_ms = [], [], [], 0.0, []
        for k, runs in enumerate(configs):
            guess = warm * (sum(edges_of[m] for m, _ in runs) / member_edges) + 1e-4
            share = max(left, 0.0) / (len(configs) - k) * 0.75
            n = int(min(max(share / guess / SLICES, 4), 2000))
            t1 = time.perf_counter()
            sliced = [_timed_batch(runs, edges_of, settings, potential, n, folder, f"c{k}s{j}") for j in range(SLICES)]
            per_step = float(np.median([x[0] for x in sliced]))
            slice_s = [x[0] for x in sliced]
            spread = max(spread, (max(slice_s) - min(slice_s)) / 2 / per_step)
            times.append(per_step)
            rows.append(sliced[0][1:4])
            steps.append(n * SLICES)
            slice_ms.append("/".join(f"{1e3 * x[0]:.3g}" for x in sliced))
            left -= time.perf_counter() - t1
    call_s, run_s, edge_s = _fit(np.array(rows, dtype=float), np.array(times))
    name = device_name(getattr(potential, "device", "cpu"), settings.threads)
    rate = Rate(
        device_name=name,
        device=getattr(potential, "device", "cpu"),
        mlip=settings.mlip,
        batch_atoms=settings.batch_atoms,
        accelerator=getattr(potential, "accelerator", "none"),
        call_s=call_s,
        run_step_s=run_s,
        edge_step_s=edge_s,
        atoms_per_call=int(potential.atoms_per_call),
        cutoff_A=cutoff,
        start_s=start_s,
        check_s=check_s,
        check_start_s=check_start_s,
        spread=spread,
        probe_s=time.perf_counter() - t_all,
        sample=", ".join(
            f"{len(runs)} runs x {sum(len(a) for _, a in runs)} atoms ({sum(edges_of[m] for m, _ in runs)} edges)"
            f" x {n} steps: {1e3 * t:.3g} ms/step (slices {sl})"
            for runs, n, t, sl in zip(configs, steps, times, slice_ms, strict=True)
        ),
        measured_at=dt.datetime.now().isoformat(timespec="seconds"),
    )
    log.info("probe on %s: %s (%.1f s)", name, rate.sample, rate.probe_s)
    return rate


def _fit(x: np.ndarray, t: np.ndarray) -> tuple[float, float, float]:
    """Non-negative (call, run, edge) costs that reproduce the measured step times: the fewest
    terms that fit (two configurations may fix only two of them)."""
    from scipy.optimize import nnls

    best = None
    for cols in ((2,), (0, 2), (1, 2), (0, 1, 2), (0,), (1,)):
        coef, _ = nnls(x[:, cols], t)
        pred = x[:, cols] @ coef
        err = float(np.max(np.abs(pred - t) / t))
        if best is None or err < best[0] - 0.02:  # a simpler model unless a fuller one fits clearly better
            full = np.zeros(3)
            full[list(cols)] = coef
            best = (err, full)
    assert best is not None
    return float(best[1][0]), float(best[1][1]), float(best[1][2])


def _time_check(atoms_of: dict[str, Atoms], settings: MDSettings, label: Any) -> float:
    """Seconds of one stop-rule check (``stopping.check_trajectory`` with its label) of a
    full-length run with the campaign's typical number of Li, on a random walk of that length."""
    from ionscreen.labels.diffusion import LabelSettings
    from ionscreen.labels.walks import lattice_walk
    from ionscreen.md.stopping import check_trajectory

    label = label or LabelSettings()
    n_li = int(np.median([max(1, a.get_chemical_symbols().count(label.specie)) for a in atoms_of.values()]))
    length_ps = settings.n_steps * settings.timestep_fs / 1000.0
    side = max(2, math.ceil((2 * n_li) ** (1 / 3)))
    traj = lattice_walk(
        1e-4,
        n_li=min(n_li, side**3),
        sites_per_side=side,
        duration_ps=length_ps,
        frame_ps=settings.frame_ps,
        temperature_K=settings.temperature_K,
    )
    t0 = time.perf_counter()
    check_trajectory(traj, settings, label, None, force_label=True)
    return time.perf_counter() - t0
