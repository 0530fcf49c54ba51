"""Transport labels from trajectories (stage ``label``).

Per material and temperature:
- ``msd_final_A2``: mean over Li of |r(t_end) - r(0)|^2, one time origin (what LiFlow and the AML
  paper evaluate); ``msd_per_time_A2_ps`` = msd_final / duration (LiFlow's ``msd_t_Li``).
- D* with credible interval: kinisi 2.x Bayesian fit of the multi-origin MSD over the diffusive
  window, on an evenly spaced grid of at most ``n_dt`` time intervals (kinisi's cost grows
  ~quadratically with the number of intervals).
- Diffusive window (automatic unless ``start_dt_ps`` is given): the first time interval, between
  ``window_floor`` and ``window_ceiling`` of the trajectory length, from which the log-log slope
  of the MSD (fitted up to the ceiling) lies in [slope_threshold, 1/slope_threshold] and where
  the MSD exceeds ``min_msd_A2`` (1 A^2: beyond vibrations). If there is none, ``diffusive`` is False and D, sigma are NaN: only the MSD values are reported.
- sigma by Nernst-Einstein (``transport.nernst_einstein_S_cm``), n = Li number density, Haven ratio 1.
Across temperatures: the Arrhenius fit of ln D against 1/T (``transport.arrhenius_fit``), Ea in eV,
extrapolation to 300 K flagged as extrapolated (the ``arrhenius`` table, ``arrhenius_row``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ionscreen.labels.bounds import hop_upper_bound, statistical_upper_bound
from ionscreen.labels.transport import nernst_einstein_S_cm
from ionscreen.trajectory import LabelError, Trajectory

# kinisi unwraps positions by the minimum image between frames: a move of half a cell vector or more
# between two frames is read as the other way round (a fast walk in a 10 A cell doubled D this way).
MAX_FRAME_STEP = 0.45


@dataclass
class LabelSettings:
    specie: str = "Li"
    dimension: str = "xyz"
    start_dt_ps: float | None = None  # None: automatic window
    n_dt: int = 128  # time intervals in kinisi's fit (cost ~ n_dt^2)
    slope_threshold: float = 0.8  # window slope must lie in [0.8, 1.25]
    min_msd_A2: float = 1.0  # MSD at the window start: beyond vibrational amplitudes (~0.1-0.5 A^2)
    window_floor: float = 0.05  # fraction of the trajectory
    window_ceiling: float = 0.5
    upper_confidence: float = 0.95  # D_upper_cm2_s: one-sided confidence of the upper limit (labels/bounds.py)
    # With no Li hop seen, the upper limit cannot see how many Li hop together or how far: it assumes
    # groups of up to max_group Li (concerted hops of 2-4 Li) and hops of at least prior_hop_A (labels/bounds.py).
    max_group: int = 4
    prior_hop_A: float = 3.5
    min_frames: int = 20
    n_samples: int = 1000  # kinisi posterior samples per walker
    n_burn: int = 500
    seed: int = 42


def _dims(dimension: str) -> list[int]:
    idx = ["xyz".index(c) for c in dimension]
    if not idx or len(set(idx)) != len(idx):
        raise LabelError(f"dimension {dimension!r} must be letters of 'xyz'")
    return idx


def check_trajectory(traj: Trajectory, settings: LabelSettings) -> np.ndarray:
    """Raise LabelError for unusable input; return the boolean mask of the diffusing species."""
    from ase.data import atomic_numbers

    z = atomic_numbers.get(settings.specie)
    if z is None:
        raise LabelError(f"unknown element {settings.specie!r}")
    mask = traj.numbers == z
    if not mask.any():
        raise LabelError(f"no {settings.specie} atoms in the trajectory")
    if traj.positions_A.ndim != 3 or traj.positions_A.shape[1:] != (len(traj.numbers), 3):
        raise LabelError(f"positions have shape {traj.positions_A.shape}, expected (frames, {len(traj.numbers)}, 3)")
    if traj.n_frames < settings.min_frames:
        raise LabelError(f"too few frames: {traj.n_frames} < {settings.min_frames}")
    if not np.all(np.isfinite(traj.positions_A)):
        raise LabelError("positions contain NaN or inf")
    if traj.cell_A.shape != (3, 3) or abs(np.linalg.det(traj.cell_A)) < 1e-6:
        raise LabelError("cell is not a 3x3 matrix of non-zero volume")
    if not (traj.frame_dt_ps > 0):
        raise LabelError("time between frames must be positive")
    step = np.abs(np.diff(traj.positions_A, axis=0) @ np.linalg.inv(traj.cell_A)).max(initial=0.0)
    if step >= MAX_FRAME_STEP:
        raise LabelError(
            f"an atom moves {step:.2f} of a cell vector between two frames: kinisi unwraps by the minimum image, "
            f"which needs < {MAX_FRAME_STEP}; save frames more often or use a larger cell"
        )
    return mask


def msd_final(traj: Trajectory, mask: np.ndarray, dims: list[int]) -> float:
    """Mean over the species of |r(t_end) - r(0)|^2 in the chosen dimensions (A^2)."""
    d = traj.positions_A[-1, mask][:, dims] - traj.positions_A[0, mask][:, dims]
    return float(np.mean(np.sum(d * d, axis=1)))


def dt_grid(n_frames: int, n_dt: int) -> np.ndarray:
    """At most ``n_dt`` evenly spaced time intervals, in frames (1 ... n_frames - 1)."""
    return np.unique(np.round(np.linspace(1, n_frames - 1, min(n_dt, n_frames - 1))).astype(int))


def _kinisi_analyzer(traj: Trajectory, mask: np.ndarray, settings: LabelSettings, grid: np.ndarray) -> Any:
    os.environ.setdefault("TQDM_DISABLE", "1")
    import scipp as sc
    from kinisi.analyze import DiffusionAnalyzer
    from kinisi.displacement import calculate_msd
    from kinisi.parser import Parser

    frame_fs = traj.frame_dt_ps * 1000.0
    inv = np.linalg.inv(traj.cell_A)
    frac = traj.positions_A @ inv
    lattice = np.broadcast_to(traj.cell_A, (traj.n_frames, 3, 3))
    # kinisi parsers duplicate frame 0 (their time origin convention)
    frac = np.concatenate([frac[:1], frac])
    lattice = np.concatenate([lattice[:1], lattice])

    class ArrayParser(Parser):
        def get_indices(self, *a: Any) -> Any:  # pragma: no cover - not used with explicit indices
            raise NotImplementedError

        def get_drift_indices(self, *a: Any) -> Any:  # pragma: no cover
            raise NotImplementedError

    framework = np.flatnonzero(~mask)
    parser = ArrayParser(
        coords=sc.array(dims=["time", "particle", "dimension"], values=frac, unit=sc.units.dimensionless),
        latt=sc.array(dims=["time", "dimension1", "dimension2"], values=lattice, unit=sc.units.angstrom),
        time_step=frame_fs * sc.Unit("fs"),
        step_skip=1 * sc.Unit("dimensionless"),
        dt=sc.array(dims=["time interval"], values=grid * frame_fs, unit="fs"),
        specie_indices=sc.array(dims=["particle"], values=np.flatnonzero(mask)),
        drift_indices=sc.array(dims=["particle"], values=framework if framework.size else np.flatnonzero(mask)),
        dimension=settings.dimension,
    )
    d = DiffusionAnalyzer(parser)
    d._dg = calculate_msd(parser, progress=False)
    return d


def diffusive_window(
    dt_ps: np.ndarray, msd: np.ndarray, settings: LabelSettings, duration_ps: float
) -> tuple[float | None, float]:
    """(start_dt_ps or None, slope): the automatic rule.

    The start is the first time interval t in [floor, ceiling] x duration from which the
    least-squares log-log slope of the MSD up to the ceiling lies in [threshold, 1/threshold]
    and the MSD already exceeds ``min_msd_A2``: the ballistic part (slope 2) is over, Li has
    moved beyond its vibrational amplitude, and the MSD grows linearly. A caged or sub-diffusive
    MSD, or a run too short to leave the vibrational regime, gives None and the slope over the
    whole candidate window.
    """
    ok = (msd > 0) & (dt_ps > 0)
    t, m = dt_ps[ok], msd[ok]
    lo, hi = settings.window_floor * duration_ps, settings.window_ceiling * duration_ps
    inside = np.flatnonzero((t >= lo) & (t <= hi))
    lo_s, hi_s = settings.slope_threshold, 1.0 / settings.slope_threshold
    for i in inside:
        if m[i] < settings.min_msd_A2:
            continue
        sel = (t >= t[i]) & (t <= hi)
        if sel.sum() < 4:
            break
        slope = loglog_slope(t[sel], m[sel])
        if lo_s <= slope <= hi_s:
            return float(t[i]), slope
    # Not diffusive: report the slope over the whole candidate window.
    sel = (t >= lo) & (t <= hi)
    return None, loglog_slope(t[sel], m[sel])


def loglog_slope(t: np.ndarray, msd: np.ndarray) -> float:
    """Least-squares slope of log MSD against log t (NaN with fewer than 2 points)."""
    return float(np.polyfit(np.log(t), np.log(msd), 1)[0]) if len(t) >= 2 else float("nan")


def window_slope(dt_ps: np.ndarray, msd: np.ndarray, start_ps: float) -> float:
    """Log-log slope of the MSD from ``start_ps`` to the end."""
    sel = (dt_ps >= start_ps) & (msd > 0)
    return loglog_slope(dt_ps[sel], msd[sel])


def label_trajectory(traj: Trajectory, settings: LabelSettings | None = None) -> dict[str, Any]:
    """All labels of one trajectory as a ``labels`` row (plus ``_msd`` curve for plots)."""
    import scipp as sc

    s = settings or LabelSettings()
    mask = check_trajectory(traj, s)
    dims = _dims(s.dimension)
    n_li = int(mask.sum())
    volume = abs(float(np.linalg.det(traj.cell_A)))
    mf = msd_final(traj, mask, dims)
    row: dict[str, Any] = {
        "material_id": traj.material_id,
        "temperature_K": traj.temperature_K,
        "status": "ok",
        "reason": "",
        "n_li": n_li,
        "n_frames": traj.n_frames,
        "duration_ps": traj.duration_ps,
        "msd_final_A2": mf,
        "msd_per_time_A2_ps": mf / traj.duration_ps,
        "li_density_A3": n_li / volume,
    }
    grid = dt_grid(traj.n_frames, s.n_dt)
    d = _kinisi_analyzer(traj, mask, s, grid)
    dt_ps = np.asarray(d.dt.values, dtype=float) / 1000.0
    msd = np.asarray(d.msd.values, dtype=float)
    if s.start_dt_ps is not None:
        start, slope = float(s.start_dt_ps), window_slope(dt_ps, msd, float(s.start_dt_ps))
        diffusive = True
    else:
        start, slope = diffusive_window(dt_ps, msd, s, traj.duration_ps)
        diffusive = start is not None
    row.update(start_dt_ps=start if start is not None else float("nan"), msd_slope=slope, diffusive=diffusive)
    nan = float("nan")
    row.update(D_cm2_s=nan, D_std_cm2_s=nan, D_ci95_low_cm2_s=nan, D_ci95_high_cm2_s=nan, sigma_S_cm=nan)
    # An upper limit of D that holds with confidence s.upper_confidence, for every run: a run that
    # never becomes diffusive (slow or caged Li) cannot measure D but bounds it, and training uses
    # the bound as a censored target instead of dropping the run (which would bias the data toward
    # fast conductors). The largest of: the hop-event limit (labels/bounds.py; holds when no Li happened
    # to hop, and when Li hop together), the running coefficient MSD(dt) / (2 d dt) at the longest well-sampled interval (the
    # old, on-average bound), and for a diffusive run kinisi's posterior quantile.
    hop = hop_upper_bound(
        traj.positions_A[:, mask],
        traj.cell_A,
        traj.frame_dt_ps,
        dims,
        s.upper_confidence,
        max_group=s.max_group,
        prior_hop_A=s.prior_hop_A,
    )
    uppers = [hop["D_upper_cm2_s"]]
    well = (dt_ps > 0) & (dt_ps <= s.window_ceiling * traj.duration_ps) & (msd > 0)
    if well.any():
        i = np.flatnonzero(well)[-1]
        uppers.append(float(msd[i] / (2 * len(dims) * dt_ps[i]) * 1e-4))  # A^2/ps -> cm^2/s
    row.update(
        n_hops=int(hop["n_hops"]),
        hop_dispersion=hop["hop_dispersion"],
        hop_length_A=hop["seen_hop_A"],
    )
    if diffusive:
        if (dt_ps >= start).sum() < 3:
            raise LabelError(f"start_dt {start:g} ps leaves fewer than 3 time intervals to fit")
        d.diffusion(
            start * 1000.0 * sc.Unit("fs"),
            progress=False,
            n_samples=s.n_samples,
            n_burn=s.n_burn,
            random_state=np.random.RandomState(s.seed),
        )
        samples = np.asarray(d.D.values, dtype=float)
        D = float(np.mean(samples))
        lo, hi = np.percentile(samples, [2.5, 97.5])
        row.update(
            D_cm2_s=D,
            D_std_cm2_s=float(np.std(samples, ddof=1)),
            D_ci95_low_cm2_s=float(lo),
            D_ci95_high_cm2_s=float(hi),
            sigma_S_cm=nernst_einstein_S_cm(D, n_li / volume, traj.temperature_K),
        )
        uppers.append(float(np.percentile(samples, 100 * s.upper_confidence)))
        uppers.append(
            statistical_upper_bound(
                D,
                traj.positions_A[:, mask][:, :, dims],
                hop["hop_length_A"],
                s.upper_confidence,
                hop["hop_dispersion"],
            )
        )
    upper = max(uppers)
    row.update(D_upper_cm2_s=upper, sigma_upper_S_cm=nernst_einstein_S_cm(upper, n_li / volume, traj.temperature_K))
    row["_msd"] = {"dt_ps": dt_ps.tolist(), "msd_A2": msd.tolist()}
    return row
