"""When a run of a batch stops (``md.stop``): every ``md.segment_ps`` after ``md.min_ps`` the frames so
far are labelled as the label stage would, and the run stops once D (cm^2/s) is known to
``md.target_rel_error`` at two checks in a row (``stop_here``), else at ``md.n_steps``."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscreen.trajectory import Trajectory

if TYPE_CHECKING:
    from ionscreen.md.batch import BatchRun

log = logging.getLogger(__name__)


def saved_frames(run: BatchRun) -> np.ndarray:
    """Positions (n_frames, n_atoms, 3) of every frame saved so far, as the table stores them."""
    import pyarrow.parquet as pq

    parts = [
        np.stack(pq.read_table(p, columns=["positions_A"]).column("positions_A").to_numpy(zero_copy_only=False))
        for p in run.store.chunks()
    ]
    parts += [np.stack([r["positions_A"] for r in run.buf])] if run.buf else []
    return np.concatenate(parts).reshape(run.frame, len(run.masses), 3).astype(np.float64)


def stop_here(d: float, lo: float, hi: float, previous: tuple[float, float, float] | None, target: float) -> bool:
    """The stop rule at one check: D (with its 95 % interval lo-hi, cm^2/s) is known to a relative
    half-width <= ``target``, and so was it at the check before, with each D inside the other's
    interval. A single check would stop on a lucky narrow interval: in the replay
    (benchmarks/md_adaptive.py) the full-length D fell outside 2 of 11 intervals that one check
    had accepted."""

    def known(x: tuple[float, float, float] | None) -> bool:
        return x is not None and math.isfinite(x[0]) and x[0] > 0 and (x[2] - x[1]) / 2 / x[0] <= target

    now = (d, lo, hi)
    return known(now) and known(previous) and previous[1] <= d <= previous[2] and lo <= previous[0] <= hi


def check_label(run: BatchRun, label: Any) -> tuple[float, float, float]:
    """Label the frames so far as the label stage would; sets ``diffusive`` and ``rel_error`` and
    returns (D, low, high) of the 95 % interval (NaN when not diffusive)."""
    from ionscreen.labels.stage import label_or_failed

    s = run.spec.settings
    traj = Trajectory(
        saved_frames(run),
        run.atoms.get_atomic_numbers(),
        run.atoms.cell.array,
        s.frame_ps,
        s.temperature_K,
        run.spec.material_id,
    )
    row = label_or_failed(traj, label)
    d, lo, hi = (float(row.get(k, np.nan)) for k in ("D_cm2_s", "D_ci95_low_cm2_s", "D_ci95_high_cm2_s"))
    run.diffusive = bool(row["status"] == "ok" and row.get("diffusive") and d > 0)
    run.rel_error = (hi - lo) / 2.0 / d if run.diffusive else float("nan")
    run.checked_at = run.frame
    return (d, lo, hi) if run.diffusive else (math.nan, math.nan, math.nan)


def after_frame(run: BatchRun, label: Any) -> None:
    """The stop rule and the end-of-run label check, after frame ``run.frame - 1`` was kept."""
    s = run.spec.settings
    if run.status != "ok" or not s.checks_labels or label is None:
        return  # no label checks: run_row's stop_reason says 'fixed' (or the status)
    elapsed = (run.frame - 1) * s.frame_ps
    segment = max(1, round(s.segment_ps / s.frame_ps))
    if s.stop == "converged" and not run.done and (run.frame - 1) % segment == 0 and elapsed >= s.min_ps - 1e-9:
        now = check_label(run, label)
        if stop_here(*now, run.previous, s.target_rel_error):
            run.done, run.stop_reason = True, "converged"
            log.info(
                "%s at %g K converged after %.3g ps: D's 95 %% interval +-%.0f %%",
                run.spec.material_id,
                s.temperature_K,
                elapsed,
                100 * run.rel_error,
            )
            return
        run.previous = now
    if run.done:
        if run.checked_at != run.frame:
            check_label(run, label)
        run.stop_reason = "max_length" if s.stop == "converged" else "fixed"
