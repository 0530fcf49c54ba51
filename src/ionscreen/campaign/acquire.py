"""What a campaign picks next: its settings, the acquisitions and the diversity step.

Every acquisition maximises the label (a larger label is better: log10 of D, sigma or MSD):

- ``ucb``: mean + kappa x std (optimism where the surrogate is unsure);
- ``ei``: expected improvement over the best label so far, sum over a normal of
  max(0, y - best): (mu - best) Phi(z) + std phi(z), z = (mu - best) / std;
- ``greedy``: the mean alone; ``uncertainty``: the std alone; ``random``: a seeded shuffle.

Diversity (``diversity: elements``): one round takes at most one material per element set, so ten
picks are not ten dopings of one garnet (Li6.4La3Zr1.4Ta0.6O12, Li6.5La3Zr1.5Ta0.5O12, ...). When the
pool runs out of element sets, the next best of sets already taken fill the round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ACQUISITIONS = ("ucb", "ei", "greedy", "uncertainty", "random")
DIVERSITY = ("elements", "none")
ORACLES = ("md", "table")


@dataclass(frozen=True)
class CampaignSettings:
    """``campaign:`` in config.yaml (the schema and the defaults test follow these fields)."""

    rounds: int = 2  # rounds of train -> predict the pool -> pick -> label
    picks: int = 10  # materials labelled per round
    # ucb: 2.70x random's top-decile finds in the OBELiX replay (ei 1.70x, greedy 1.99x; docs/campaigns.md)
    acquisition: str = "ucb"
    kappa: float = 1.0  # ucb's weight on the std (in label units per std)
    diversity: str = "elements"  # one pick per element set per round: with ucb 32.9 +- 3.8 finds vs 31.4 +- 10.4
    oracle: str = "md"  # md: this workflow's MD and labels; table: look the labels up
    table: str = ""  # the oracle table (Parquet or CSV): material_id and table_column
    table_column: str = "label"  # the label column of the oracle table
    temperature_K: float = 0.0  # the MD label's temperature (0: the highest of md.temperatures_K)
    n_trees: int = 200  # trees of the surrogate
    calibration_folds: int = 5  # grouped folds the std is calibrated on
    seed: int = 0  # random picks and the trees; round r uses seed + r


class CampaignError(ValueError):
    """A campaign setting that cannot work: one line that names it."""


def check_settings(s: CampaignSettings, pool_size: int | None = None) -> None:
    """Raise ``CampaignError`` (one line) for settings that cannot work."""
    if s.rounds < 1:
        raise CampaignError(f"campaign.rounds is {s.rounds}: a campaign needs at least 1 round")
    if s.picks < 1:
        raise CampaignError(f"campaign.picks is {s.picks}: a round must pick at least 1 material")
    if s.acquisition not in ACQUISITIONS:
        raise CampaignError(f"campaign.acquisition {s.acquisition!r} is unknown: use one of {', '.join(ACQUISITIONS)}")
    if s.diversity not in DIVERSITY:
        raise CampaignError(f"campaign.diversity {s.diversity!r} is unknown: use one of {', '.join(DIVERSITY)}")
    if s.oracle not in ORACLES:
        raise CampaignError(f"campaign.oracle {s.oracle!r} is unknown: use one of {', '.join(ORACLES)}")
    if pool_size is not None and s.picks > pool_size:
        raise CampaignError(f"campaign.picks {s.picks} is larger than the pool ({pool_size} unlabelled candidates)")
    if pool_size is not None and s.picks * s.rounds > pool_size:
        raise CampaignError(
            f"campaign.rounds {s.rounds} x campaign.picks {s.picks} = {s.rounds * s.picks} picks, "
            f"more than the pool's {pool_size} unlabelled candidates"
        )


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """E[max(0, y - best)] for y ~ N(mean, std^2) (label units); std 0 gives max(0, mean - best)."""
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    gain = mean - best
    safe = np.where(std > 0, std, 1.0)
    z = gain / safe
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    return np.where(std > 0, gain * cdf + std * pdf, np.maximum(gain, 0.0))


def acquisition_values(
    mean: np.ndarray, std: np.ndarray, best: float, acquisition: str, kappa: float, seed: int
) -> np.ndarray:
    """The acquisition's value of each pool member (larger: pick first)."""
    if acquisition == "ucb":
        return np.asarray(mean) + kappa * np.asarray(std)
    if acquisition == "ei":
        return expected_improvement(mean, std, best)
    if acquisition == "greedy":
        return np.asarray(mean, float)
    if acquisition == "uncertainty":
        return np.asarray(std, float)
    if acquisition == "random":
        return np.random.default_rng(seed).random(len(mean))
    raise CampaignError(f"campaign.acquisition {acquisition!r} is unknown: use one of {', '.join(ACQUISITIONS)}")


def select(values: np.ndarray, element_sets: Sequence[str], picks: int, diversity: str) -> np.ndarray:
    """Indices of the ``picks`` pool members to label: the highest ``values`` first (ties: the
    earlier index); with ``diversity == 'elements'`` at most one per element set until every set
    has one, then the next best of any set."""
    order = np.argsort(-np.asarray(values, float), kind="stable")
    if diversity == "none":
        return order[:picks]
    chosen: list[int] = []
    seen: set[str] = set()
    for i in order:
        if len(chosen) == picks:
            break
        if element_sets[i] not in seen:
            chosen.append(int(i))
            seen.add(element_sets[i])
    if len(chosen) < picks:
        taken = set(chosen)
        chosen += [int(i) for i in order if int(i) not in taken][: picks - len(chosen)]
    return np.asarray(chosen, dtype=int)


def element_set(formula: str) -> str:
    """The element set of a formula, sorted: 'La-Li-O-Ta-Zr' for Li6.4La3Zr1.4Ta0.6O12."""
    from pymatgen.core import Composition

    return "-".join(sorted(el.symbol for el in Composition(formula).elements))
