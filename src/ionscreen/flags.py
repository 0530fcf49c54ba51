"""Every flag a prediction row can carry (the ``flags`` column of ``predictions`` and ``ranking``),
named once with what it means, and the applicability checks that both kinds of model share
(``applicability_flags``): the workflow's model (``screen.predict``) and the room-temperature
model (``roomtemp.model``)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

# Of the structure the prediction was made for.
ORIENTATION_DEPENDENT = "orientation_dependent"
DISORDER_RESOLVED = "disorder_resolved"
COMPOSITION_APPROXIMATE = "composition_approximate"
RELAXATION_NOT_CONVERGED = "relaxation_not_converged"
SPACEGROUP_UNKNOWN = "spacegroup_unknown"
# Of the model's reach.
TEMPERATURE_OUTSIDE_TRAINING = "temperature_outside_training"
ELEMENTS_UNSEEN = "elements_unseen_in_training"
FAR_FROM_TRAINING = "far_from_training"
IN_TRAINING_DATA = "in_training_data"
NO_TEMPERATURE_DEPENDENCE = "no_temperature_dependence"
# Of the ranking.
NO_SKILL = "no_demonstrated_skill"
OUTSIDE_RANKING_MODEL_ELEMENTS = "outside_ranking_model_elements"

FLAGS: dict[str, str] = {
    ORIENTATION_DEPENDENT: "the model was trained on embeddings that change with the cell's orientation (the 'full' "
    "variant in the 'given' frame): the same crystal in another orientation gets another prediction",
    DISORDER_RESOLVED: "partial occupancies were ordered at random (seeded): one of many orderings",
    COMPOSITION_APPROXIMATE: "the disorder could only be ordered with a composition error above 5 % within the atom "
    "budget; the best ordering found was embedded",
    RELAXATION_NOT_CONVERGED: "the MLIP relaxation stopped with forces above its threshold",
    SPACEGROUP_UNKNOWN: "the symmetry search failed: the room-temperature model used P1 (1) as the space group",
    TEMPERATURE_OUTSIDE_TRAINING: "the temperature lies outside the model's training temperatures (extrapolation)",
    ELEMENTS_UNSEEN: "the structure has elements that no training material had",
    FAR_FROM_TRAINING: "the distance to the nearest training sample is above the threshold set on held-out data",
    IN_TRAINING_DATA: "the room-temperature model returns a training entry's measurement (spread 0): the candidate is "
    "that entry, or indistinguishable from it",
    NO_TEMPERATURE_DEPENDENCE: "the model was trained at one temperature, or its predictions do not change over the "
    "predicted temperatures: no activation energy",
    NO_SKILL: "the ranking model has not shown skill on held-out data at the ranking temperature",
    OUTSIDE_RANKING_MODEL_ELEMENTS: "the room-temperature model ranks, and this candidate has elements it never saw",
}


def applicability_flags(
    elements: Iterable[str], training_elements: Collection[str], distance: float, far_threshold: float
) -> list[str]:
    """The flags every trained model gives, in this order: ``elements_unseen_in_training`` when
    ``elements`` (symbols) hold one that no training material had, ``far_from_training`` when
    ``distance`` to the nearest training sample is above ``far_threshold`` (both in the model's own
    feature space; a NaN distance is no evidence and gives no flag)."""
    flags = []
    if set(elements) - set(training_elements):
        flags.append(ELEMENTS_UNSEEN)
    if math.isfinite(distance) and distance > far_threshold:
        flags.append(FAR_FROM_TRAINING)
    return flags
