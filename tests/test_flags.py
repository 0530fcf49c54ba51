"""Flags: named once, documented, and the applicability checks both kinds of model share."""

from __future__ import annotations

import math

from ionscreen.flags import ELEMENTS_UNSEEN, FAR_FROM_TRAINING, FLAGS, applicability_flags
from tests.conftest import REPO


def test_applicability_flags_name_unseen_elements_and_distance_above_the_threshold():
    assert applicability_flags({"Li", "O"}, {"Li", "O", "P"}, 1.0, 2.0) == []
    assert applicability_flags({"Li", "Pu"}, {"Li", "O"}, 1.0, 2.0) == [ELEMENTS_UNSEEN]
    assert applicability_flags({"Li"}, {"Li"}, 2.5, 2.0) == [FAR_FROM_TRAINING]
    assert applicability_flags({"Li", "Pu"}, {"Li"}, 2.5, 2.0) == [ELEMENTS_UNSEEN, FAR_FROM_TRAINING]
    assert applicability_flags({"Li"}, {"Li"}, 2.0, 2.0) == []  # at the threshold: not above it
    assert applicability_flags({"Li"}, {"Li"}, math.nan, 2.0) == []  # no distance, no evidence


def test_every_flag_is_named_once_and_documented():
    docs = (REPO / "docs/screen.md").read_text() + (REPO / "docs/models.md").read_text()
    assert [f for f in FLAGS if f"`{f}`" not in docs] == []
    # no module spells a flag itself: they all take the name from ionscreen.flags
    package = REPO / "src/ionscreen"
    sources = {str(p.relative_to(package)): p.read_text() for p in package.rglob("*.py") if p.name != "flags.py"}
    spelled = [(name, f) for name, text in sources.items() for f in FLAGS if f'"{f}"' in text]
    assert spelled == []
