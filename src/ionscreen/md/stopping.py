"""When a run of a batch stops (``md.stop: converged``), and the checks behind the ladder.

A narrow interval of D is not enough to stop: Li confined to cages, a structure still
equilibrating and back-and-forth hopping all give MSDs that look linear, with narrow intervals,
over the first few ps, and a rule that stops on precision alone reports a caged material as a
conductor (an independent check: 15 of 20 caged walks stopped as 'converged'). So every
``md.segment_ps`` from ``md.min_ps`` on, a check (``check_trajectory``) asks, in this order:

1. **steady** - the Li hop at the same rate in the first and the second half of the run
   (hop counts from ``labels.bounds.count_hops``; two-sided binomial test, p >= ``STEADY_P``).
   A transient start (faster or slower hopping while the structure equilibrates) fails it for as
   long as it shows in the counts, which are far more precise than D from either half. Counting
   is cheap: a check that fails here labels nothing.
2. **known** - the label stage's own function labels the frames so far: diffusive, with a 95 %
   interval of relative half-width <= ``md.target_rel_error`` once widened by sqrt(b), b the Li
   per independent hop event (``labels.bounds.hop_dispersion``; 1 for independent hops). kinisi's
   interval treats the Li as independent walkers; when they hop in groups of g there are g times
   fewer independent displacements, and its interval is too narrow by about sqrt(g).
3. **long-range and linear** - the MSD at the longest lag of the fitted window is at least
   ``md.min_msd_hops`` squared hop lengths (the root mean squared length of the hops the label
   counted): Li have left their neighbourhood many times over, which a cage of a few sites cannot
   fake (a 4 x 4 x 4-site cage holds the MSD below 7.5 hop lengths squared); and the fitted
   window's log-log MSD slope is within ``MAX_SLOPE_DEVIATION`` of 1 (correlated back-and-forth
   hops bend it).
4. **confirmed** - the check before passed 1-3 as well, and each D lies inside the other's
   interval (a lucky narrow interval alone stops nothing).

The run stops at the first check that passes all four (``converged``), else at ``md.n_steps``
(``max_length``). The check reads the frames the label stage will read, so the stopped run's label
is the one the check saw. ``replay`` applies the same rule to a finished trajectory (tests and
``benchmarks/md_adaptive.py``: coverage of the true D on walks with known D).

``framework_intact`` is what the ladder asks of a run before it skips the temperatures below it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscreen.trajectory import Trajectory

if TYPE_CHECKING:
    from ionscreen.labels.diffusion import LabelSettings
    from ionscreen.md.batch import BatchRun
    from ionscreen.md.engine import MDSettings

log = logging.getLogger(__name__)

STEADY_P = 0.05  # below this p-value the hop rates of the two halves differ: not steady
# The fitted window's log-log MSD slope must be this close to 1 to stop (the label stage accepts
# 0.8-1.25 for 'diffusive'): correlated back-and-forth hops bend the MSD (slope ~0.8 at a few ps).
MAX_SLOPE_DEVIATION = 0.1
# The ladder's framework check: the host may not move (beyond its drift) more than this, averaged
# over the last FRAMEWORK_AVERAGE_PS, and at most this share of atoms may change coordination.
MAX_HOST_SHIFT_A = 1.0
MAX_COORDINATION_CHANGE = 0.25
FRAMEWORK_AVERAGE_PS = 0.5


@dataclass
class Check:
    """What one check of the stop rule saw, at ``elapsed_ps``; ``why``: the first test that
    failed, or 'converged'."""

    elapsed_ps: float
    D: float = math.nan  # cm^2/s, the label's D (NaN: not labelled or not diffusive)
    low: float = math.nan  # its 95 % interval
    high: float = math.nan
    diffusive: bool | None = None  # None: not labelled at this check, or the label failed
    steady_p: float = math.nan
    long_range: float = math.nan  # MSD at the longest fitted lag / hop length^2
    why: str = ""
    row: dict[str, Any] | None = None  # the label row (None when not labelled)

    @property
    def passed(self) -> bool:
        """Tests 1-3 hold (what the next check's 'confirmed' asks of this one)."""
        return self.why in ("unconfirmed", "converged")

    @property
    def stop(self) -> bool:
        return self.why == "converged"

    @property
    def rel_error(self) -> float:
        return (self.high - self.low) / 2.0 / self.D if self.diffusive and self.D > 0 else math.nan


def steady_p_value(traj: Trajectory, specie_z: int = 3) -> float:
    """Two-sided binomial p-value that the Li hopped at one rate in both halves of ``traj``
    (1.0 with no hop)."""
    from scipy.stats import binomtest

    from ionscreen.labels.bounds import count_hops, hop_radius_A, li_spacing_A

    li = traj.positions_A[:, traj.numbers == specie_z]
    hops = count_hops(li, traj.frame_dt_ps, hop_radius_A(li_spacing_A(li, traj.cell_A)))
    if len(hops) == 0:
        return 1.0
    first = int(np.sum(hops.start_ps < traj.duration_ps / 2.0))
    return float(binomtest(first, len(hops), 0.5).pvalue)


def long_range_ratio(row: dict[str, Any], ceiling: float) -> float:
    """MSD (A^2) at the longest lag the label's window fits (``ceiling`` x its duration), over the
    squared length of the hops the label counted (NaN with no hop)."""
    curve = row.get("_msd") or {}
    dt, msd = np.asarray(curve.get("dt_ps", []), float), np.asarray(curve.get("msd_A2", []), float)
    inside = dt <= ceiling * float(row["duration_ps"]) + 1e-9
    hop = float(row.get("hop_length_A", math.nan))
    if not inside.any() or not hop > 0:
        return math.nan
    return float(msd[inside][-1] / hop**2)


def _dispersion(row: dict[str, Any]) -> float:
    """Li per independent hop event (labels.bounds.hop_dispersion), at least 1."""
    b = float(row.get("hop_dispersion", math.nan))
    return b if b > 1.0 else 1.0


def check_trajectory(
    traj: Trajectory, md: MDSettings, label: LabelSettings, previous: Check | None, *, force_label: bool = False
) -> Check:
    """One check of the stop rule on the frames so far (``traj``). ``force_label``: label even
    when the hops are not steady (the end-of-run check: the run's label is needed)."""
    from ase.data import atomic_numbers

    from ionscreen.labels.stage import label_or_failed

    c = Check(traj.duration_ps, steady_p=steady_p_value(traj, atomic_numbers[label.specie]))
    steady = c.steady_p >= STEADY_P
    if not steady and not force_label:
        c.why = f"hop rate not steady (p = {c.steady_p:.2g})"
        return c
    row = label_or_failed(traj, label)
    c.row = row
    if row["status"] != "ok":
        c.why = f"label failed: {row['reason']}"
        return c
    c.diffusive = bool(row.get("diffusive")) and float(row["D_cm2_s"]) > 0
    if c.diffusive:
        c.D, c.low, c.high = (float(row[k]) for k in ("D_cm2_s", "D_ci95_low_cm2_s", "D_ci95_high_cm2_s"))
    c.long_range = long_range_ratio(row, label.window_ceiling)
    if not steady:
        c.why = f"hop rate not steady (p = {c.steady_p:.2g})"
    elif not c.diffusive:
        c.why = "not diffusive"
    elif not (known := c.rel_error * math.sqrt(_dispersion(row))) <= md.target_rel_error:
        c.why = f"D known to +-{100 * known:.0f} %, not +-{100 * md.target_rel_error:.0f} %"
    elif not c.long_range >= md.min_msd_hops:
        c.why = f"MSD at the longest lag is {c.long_range:.1f} squared hop lengths, not {md.min_msd_hops:g}"
    elif not abs(float(row["msd_slope"]) - 1.0) <= MAX_SLOPE_DEVIATION:
        c.why = f"MSD not linear in the fitted window (log-log slope {float(row['msd_slope']):.2f})"
    elif previous is None or not previous.passed:
        c.why = "unconfirmed"
    elif not (previous.low <= c.D <= previous.high and c.low <= previous.D <= c.high):
        c.why = "unconfirmed"  # this check passes; the one before disagrees
    else:
        c.why = "converged"
    return c


def check_times(md: MDSettings, length_ps: float) -> list[float]:
    """Elapsed times (ps) at which the stop rule checks a run of at most ``length_ps``."""
    out, k = [], 0
    while (t := md.min_ps + k * md.segment_ps) < length_ps - 1e-9:
        out.append(t)
        k += 1
    return out


def cut(traj: Trajectory, t_ps: float) -> Trajectory:
    """The first ``t_ps`` of a trajectory."""
    return replace(traj, positions_A=traj.positions_A[: int(round(t_ps / traj.frame_dt_ps)) + 1])


def replay(traj: Trajectory, md: MDSettings, label: LabelSettings) -> tuple[Check, str]:
    """Where the stop rule stops a finished trajectory, as the engine would have: the check it
    stopped at (or the full-length check) and the stop reason ('converged' or 'max_length')."""
    previous = None
    for t in check_times(md, traj.duration_ps):
        previous = check_trajectory(cut(traj, t), md, label, previous)
        if previous.stop:
            return previous, "converged"
    return check_trajectory(traj, md, label, previous, force_label=True), "max_length"


def _host_coordination(
    positions: np.ndarray, cell: np.ndarray, host: np.ndarray, cutoff: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per atom, the number of host atoms within its cutoff (A; default 1.2 x its nearest host
    distance) under periodic boundaries; returns (counts, cutoffs)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms(positions=positions, cell=cell, pbc=True)
    widths = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    radius = 4.0 if cutoff is None else float(cutoff.max())
    while True:
        i, j, d = neighbor_list("ijd", atoms, radius)
        keep = host[j] & (d > 1e-8)
        i, d = i[keep], d[keep]
        if cutoff is None:
            nearest = np.full(len(positions), np.inf)
            np.minimum.at(nearest, i, d)
            cut = 1.2 * nearest
        else:
            cut = cutoff
        if np.all(cut <= radius) or radius > 2 * widths.max():
            break
        radius *= 1.5
    counts = np.bincount(i[d <= cut[i]], minlength=len(positions))
    return counts, cut


def framework_intact(traj: Trajectory, specie_z: int = 3) -> tuple[bool, str]:
    """Whether the host framework of a run stayed as it started: (intact, what was seen).

    Positions averaged over the first and the last ``FRAMEWORK_AVERAGE_PS`` (at most a quarter of
    the run each; vibrations average out) are compared: no host atom may move more than
    ``MAX_HOST_SHIFT_A`` beyond the host's common drift, and at most ``MAX_COORDINATION_CHANGE`` of
    the atoms (Li and host) may change their coordination by the host: the number of host atoms
    within 1.2 x their nearest host distance at the start. A Li hopping between sites of one kind
    keeps it; a framework that melts, collapses or reorders, or Li moving into other kinds of
    sites, does not. A run without host atoms is judged on the coordination of all atoms."""
    n = max(1, min(int(round(FRAMEWORK_AVERAGE_PS / traj.frame_dt_ps)), traj.n_frames // 4))
    start = traj.positions_A[:n].mean(axis=0)
    end = traj.positions_A[-n:].mean(axis=0)
    host = traj.numbers != specie_z
    if not host.any():
        host = np.ones_like(host)
    d = end[host] - start[host]
    shift = float(np.max(np.linalg.norm(d - d.mean(axis=0), axis=1)))
    before, cutoff = _host_coordination(start, traj.cell_A, host)
    after, _ = _host_coordination(end, traj.cell_A, host, cutoff)
    changed = float(np.mean(before != after))
    seen = f"host moved up to {shift:.2f} A, {100 * changed:.0f} % of atoms changed coordination"
    return shift <= MAX_HOST_SHIFT_A and changed <= MAX_COORDINATION_CHANGE, seen


def saved_frames(run: BatchRun) -> np.ndarray:
    """Positions (n_frames, n_atoms, 3) of every frame saved so far, as the table stores them."""
    import pyarrow.parquet as pq

    parts = [
        np.stack(pq.read_table(p, columns=["positions_A"]).column("positions_A").to_numpy(zero_copy_only=False))
        for p in run.store.chunks()
    ]
    parts += [np.stack([r["positions_A"] for r in run.buf])] if run.buf else []
    return np.concatenate(parts).reshape(run.frame, len(run.masses), 3).astype(np.float64)


def _frames(run: BatchRun) -> Trajectory:
    s = run.spec.settings
    return Trajectory(
        saved_frames(run),
        run.atoms.get_atomic_numbers(),
        run.atoms.cell.array,
        s.frame_ps,
        s.temperature_K,
        run.spec.material_id,
    )


def _apply(run: BatchRun, c: Check) -> None:
    run.last_check = c
    run.diffusive = c.diffusive
    run.rel_error = c.rel_error
    run.checked_at = run.frame


def after_frame(run: BatchRun, label: Any) -> None:
    """The stop rule and the end-of-run label check, after frame ``run.frame - 1`` was kept. An
    exception inside a check fails this run alone, with its reason."""
    s = run.spec.settings
    if run.status != "ok" or not s.checks_labels or label is None:
        return  # no label checks: run_row's stop_reason says 'fixed' (or the status)
    try:
        elapsed = (run.frame - 1) * s.frame_ps
        segment = max(1, round(s.segment_ps / s.frame_ps))
        at_check = (run.frame - 1 - round(s.min_ps / s.frame_ps)) % segment == 0 and elapsed >= s.min_ps - 1e-9
        if s.stop == "converged" and not run.done and at_check:
            c = check_trajectory(_frames(run), s, label, run.last_check)
            _apply(run, c)
            if c.stop:
                run.done, run.stop_reason = True, "converged"
                log.info(
                    "%s at %g K converged after %.3g ps: D's 95 %% interval +-%.0f %%",
                    run.spec.material_id,
                    s.temperature_K,
                    elapsed,
                    100 * run.rel_error,
                )
                return
        if run.done and not run.stop_reason:
            traj = _frames(run)
            if run.checked_at != run.frame or run.last_check is None or run.last_check.row is None:
                _apply(run, check_trajectory(traj, s, label, run.last_check, force_label=True))
            run.framework_intact, run.framework = framework_intact(traj)
            run.stop_reason = "max_length" if s.stop == "converged" else "fixed"
    except Exception as exc:  # noqa: BLE001 - one run's check must not stop the batch
        log.exception("label check of %s at %g K failed", run.spec.material_id, s.temperature_K)
        run.status, run.reason, run.done = "failed", f"label check: {type(exc).__name__}: {exc}", True
