"""ionscreen.labels.bounds: the upper limit of D holds on walks with known D (ionscreen.labels.walks)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from ionscreen.labels.bounds import count_hops, hop_upper_bound, li_spacing_A
from ionscreen.labels.diffusion import LabelSettings, label_trajectory
from ionscreen.labels.walks import lattice_walk

SETTINGS = LabelSettings(n_dt=32)


def _li(traj):
    return traj.positions_A[:, traj.numbers == 3]


def test_walk_has_the_diffusion_coefficient_it_was_made_with():
    """Mean squared displacement over many Li: 6 D t (1e-4 cm^2/s = 1 A^2/ps)."""
    msd = [
        np.mean(np.sum((_li(w)[-1] - _li(w)[0]) ** 2, axis=1))
        for w in (lattice_walk(1e-4, n_li=32, seed=s, vib_A=0.0) for s in range(20))
    ]
    assert np.mean(msd) == pytest.approx(6 * 1.0 * 25.0, rel=0.1)


def test_hops_are_counted_and_a_run_without_hops_gets_the_poisson_limit():
    still = lattice_walk(0.0, seed=3)
    b = hop_upper_bound(_li(still), still.cell_A, still.frame_dt_ps, [0, 1, 2])
    spacing = li_spacing_A(_li(still), still.cell_A)
    assert b["n_hops"] == 0 and spacing >= 2.5 - 0.5  # Li on distinct sites 2.5 A apart (+ vibrations)
    # No hop seen: rate < chi2_0.95(2) / (2 N T) = 3.0 / (8 x 25 ps); length = the Li spacing.
    expected = chi2.ppf(0.95, 2) / (2 * 8 * 25.0) * spacing**2 / 6 * 1e-4
    assert b["D_upper_cm2_s"] == pytest.approx(expected, rel=1e-9)
    hopping = lattice_walk(1e-5, seed=3)  # 8 Li x 25 ps x 0.096 hops/ps: ~19 hops
    jumps = np.concatenate(count_hops(_li(hopping), hopping.frame_dt_ps, 1.25))
    assert 10 <= len(jumps) <= 30
    assert np.median(np.linalg.norm(jumps, axis=1)) == pytest.approx(2.5, abs=0.3)


@pytest.mark.parametrize(
    ("case", "D", "min_diffusive"),
    [
        ("caged", 1e-8, 0),  # ~0.02 hops per run: vibrations only
        ("rare hops", 1e-6, 0),  # the independent check's case: 8 Li, a = 2.5 A, ~2 hops per 25 ps run
        ("fast", 1e-4, 35),  # ~190 hops: diffusive, D measured
    ],
)
def test_upper_limit_covers_the_true_D_in_95_percent_of_runs(case, D, min_diffusive):
    rows = [label_trajectory(lattice_walk(D, seed=1000 + s), SETTINGS) for s in range(40)]
    upper = np.array([r["D_upper_cm2_s"] for r in rows])
    assert np.isfinite(upper).all() and (upper > 0).all()
    coverage = np.mean(upper >= D)
    assert coverage >= 0.95, (case, coverage)
    assert sum(r["diffusive"] for r in rows) >= min_diffusive
    if case == "rare hops":
        # Runs in which no Li hopped show only the vibrational floor (where the running
        # coefficient alone fell below the truth); the limit holds there too.
        no_hop = [r for r in rows if r["n_hops"] == 0]
        assert no_hop and all(r["D_upper_cm2_s"] >= D for r in no_hop)
        assert np.median(upper / D) < 10  # a limit, not a number far above anything
