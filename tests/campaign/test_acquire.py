"""Acquisitions, the diversity step and the settings' checks (ionscreen.campaign.acquire)."""

from __future__ import annotations

import numpy as np
import pytest

from ionscreen.campaign.acquire import (
    CampaignError,
    CampaignSettings,
    acquisition_values,
    check_settings,
    element_set,
    expected_improvement,
    select,
)


def test_expected_improvement_equals_its_monte_carlo_value():
    rng = np.random.default_rng(0)
    mean, std, best = np.array([-1.0, 0.0, 0.5, 2.0]), np.array([0.5, 1.0, 0.1, 0.3]), 0.4
    draws = rng.normal(mean, std, size=(400_000, 4))
    mc = np.maximum(draws - best, 0.0).mean(0)
    assert np.allclose(expected_improvement(mean, std, best), mc, atol=3e-3)
    # no uncertainty: the plain improvement
    assert expected_improvement(np.array([1.0, 0.0]), np.array([0.0, 0.0]), 0.4).tolist() == pytest.approx([0.6, 0.0])


def test_acquisitions_rank_as_their_formulas_say():
    mean, std = np.array([1.0, 0.0, 0.8]), np.array([0.0, 2.0, 0.5])
    assert np.argmax(acquisition_values(mean, std, 1.0, "greedy", 1.0, 0)) == 0
    assert np.argmax(acquisition_values(mean, std, 1.0, "uncertainty", 1.0, 0)) == 1
    assert acquisition_values(mean, std, 1.0, "ucb", 0.5, 0).tolist() == pytest.approx([1.0, 1.0, 1.05])
    r1, r2 = (acquisition_values(mean, std, 1.0, "random", 1.0, s) for s in (3, 3))
    assert r1.tolist() == r2.tolist()  # seeded


def test_diversity_takes_one_pick_per_element_set_first():
    values = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    sets = ["La-Li-O-Zr", "La-Li-O-Zr", "Li-P-S", "La-Li-O-Zr", "Cl-Li-P-S"]
    assert select(values, sets, 3, "none").tolist() == [0, 1, 2]
    assert select(values, sets, 3, "elements").tolist() == [0, 2, 4]
    # more picks than element sets: the best of the rest fill the round
    assert select(values, sets, 4, "elements").tolist() == [0, 2, 4, 1]
    assert element_set("Li6.4La3Zr1.4Ta0.6O12") == "La-Li-O-Ta-Zr"


@pytest.mark.parametrize(
    ("change", "pool", "message"),
    [
        ({"rounds": 0}, None, "campaign.rounds is 0: a campaign needs at least 1 round"),
        ({"acquisition": "thompson"}, None, "campaign.acquisition 'thompson' is unknown"),
        ({"oracle": "dft"}, None, "campaign.oracle 'dft' is unknown"),
        ({"picks": 6}, 5, "campaign.picks 6 is larger than the pool (5 unlabelled candidates)"),
        ({"picks": 2, "rounds": 3}, 5, "3 x campaign.picks 2 = 6 picks, more than the pool's 5"),
    ],
)
def test_bad_settings_fail_with_one_line_that_names_them(change, pool, message):
    with pytest.raises(CampaignError) as e:
        check_settings(CampaignSettings(**change), pool)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_good_settings_pass():
    check_settings(CampaignSettings(picks=5, rounds=1), 5)
