"""ionscreen.labels.bounds: the upper limit of D holds on walks with known D (ionscreen.labels.walks):
independent, concerted and long hops."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from ionscreen.labels.bounds import count_hops, hop_dispersion, hop_upper_bound, li_spacing_A
from ionscreen.labels.diffusion import LabelSettings, label_trajectory
from ionscreen.labels.walks import concerted_walk, lattice_walk

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
    assert b["n_hops"] == 0 and 2.4 <= spacing < 3.5  # 8 Li on 64 sites 2.5 A apart
    # No event seen: event rate < chi2_0.95(2) / (2 T) = 3.0 / 25 ps, each event up to 4 Li (the group
    # size is unknown), hops of at least 3.5 A (longer than this spacing).
    expected = chi2.ppf(0.95, 2) / (2 * 25.0) * 4 / 8 * 3.5**2 / 6 * 1e-4
    assert b["hop_dispersion"] == 4 and b["hop_length_A"] == pytest.approx(3.5)
    assert b["li_spacing_A"] == spacing
    assert b["D_upper_cm2_s"] == pytest.approx(expected, rel=1e-9)
    hopping = lattice_walk(1e-5, seed=3)  # 8 Li x 25 ps x 0.096 hops/ps: ~19 hops
    hops = count_hops(_li(hopping), hopping.frame_dt_ps, 1.25)
    assert 10 <= len(hops) <= 30
    assert np.median(np.linalg.norm(hops.jump_A, axis=1)) == pytest.approx(2.5, abs=0.3)
    assert hop_dispersion(hops.start_ps, 25.0) < 1.6  # independent hops: about 1


@pytest.mark.parametrize("group", [1, 2, 4])
def test_hops_in_groups_have_the_group_size_as_dispersion(group):
    """The variance-to-mean ratio of hop counts in 0.5 ps bins: ~1 for independent hops however
    fast (chance coincidences are Poisson too), ~g for groups of g."""
    for D in (5e-6, 1e-4):
        w = concerted_walk(D, group=group, n_li=24, sites_per_side=6, seed=2)
        hops = count_hops(_li(w), w.frame_dt_ps, 1.0)
        assert hop_dispersion(hops.start_ps, 25.0) == pytest.approx(group, rel=0.35), (group, D)
    assert np.isnan(hop_dispersion(np.array([]), 25.0))


def _hops_to_D(hops_per_run: float, n_li: int, a_A: float) -> float:
    """The D (cm^2/s) of a walk that makes ``hops_per_run`` hops in all over 25 ps."""
    return hops_per_run * a_A**2 / (6 * n_li * 25.0) * 1e-4


@pytest.mark.parametrize(
    ("case", "walk", "n_li", "a_A"),
    [
        # Pairs and groups of 4 hopping together on a full lattice (Li spacing = hop length): a Poisson
        # limit on hops covers 0.78 and 0.5 here; on events times the group size it must hold.
        ("pairs hop together", lambda D, s: concerted_walk(D, group=2, seed=s), 27, 2.5),
        ("groups of 4", lambda D, s: concerted_walk(D, group=4, seed=s), 27, 2.5),
        # 3.0 A hops by Li sitting 2.2 A apart: the Li spacing understates the hop length.
        ("long hops", lambda D, s: lattice_walk(D, n_li=8, a_A=3.0, pair_A=2.2, seed=s), 8, 3.0),
    ],
)
@pytest.mark.parametrize("hops_per_run", [2, 5, 10, 20])
def test_hop_limit_covers_the_true_D_for_concerted_and_long_hops(case, walk, n_li, a_A, hops_per_run):
    """200 runs each: the upper limit lies above the true D in >= 95 % of them."""
    D = _hops_to_D(hops_per_run, n_li, a_A)
    upper = []
    for s in range(200):
        w = walk(D, 7000 + s)
        upper.append(hop_upper_bound(_li(w), w.cell_A, w.frame_dt_ps, [0, 1, 2])["D_upper_cm2_s"])
    coverage = np.mean(np.array(upper) >= D)
    assert coverage >= 0.95, (case, hops_per_run, coverage)


@pytest.mark.parametrize(
    ("case", "D", "min_diffusive"),
    [
        ("caged", 1e-8, 0),  # ~0.02 hops per run: vibrations only
        ("rare hops", 1e-6, 0),  # the independent check's case: 8 Li, a = 2.5 A, ~2 hops per 25 ps run
        ("fast", 1e-4, 35),  # ~190 hops: diffusive, D measured
    ],
)
def test_upper_limit_covers_the_true_D_in_95_percent_of_runs(case, D, min_diffusive):
    # A 15 A cell: in the default 10 A one, two hops of one Li between frames at 1e-4 cm^2/s would move it
    # half a cell, which kinisi cannot unwrap (the label stage refuses such frames).
    rows = [label_trajectory(lattice_walk(D, sites_per_side=6, seed=1000 + s), SETTINGS) for s in range(40)]
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
