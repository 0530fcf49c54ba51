"""obelix-rt's composition descriptors in numpy against matminer 0.10.1's featurisers, the code
they follow: every column, every OBELiX composition, and the cases the OBELiX table lacks."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


@functools.cache
def matminer_featurisers():
    """The five featurisers as obelix-rt was built on them, from matminer itself (built once)."""
    from matminer.featurizers.composition import (
        ElementFraction,
        ElementProperty,
        IonProperty,
        Stoichiometry,
        ValenceOrbital,
    )

    return [
        ElementProperty.from_preset("magpie"),
        Stoichiometry(),
        ValenceOrbital(),
        IonProperty(fast=True),
        ElementFraction(),
    ]


def matminer_row(comp):
    return np.array([float(v) for f in matminer_featurisers() for v in f.featurize(comp)])


@pytest.fixture(scope="module")
def compositions():
    from pymatgen.core import Composition

    table = pd.read_csv(REPO / "resources/obelix/train.csv")
    comps = [Composition(c) for c in table["True Composition"]]
    # Cases OBELiX lacks: one element, given oxidation states (neutral or not, mixed valence),
    # an element without common oxidation states or electronegativity, tiny and odd amounts.
    comps += [
        Composition(c)
        for c in ("Li", "Li2O", "Li0.33La0.557TiO3", "LiAr", "Li7La3Zr2O12", "Li1e-3Na0.999Cl", "LiFe2O4")
    ]
    comps.append(Composition({"Li+": 1, "O2-": 1}))
    comps.append(Composition({"Li+": 2, "O2-": 1}))
    comps.append(Composition({"Li+": 1, "Fe2+": 1, "Fe3+": 1, "O2-": 3}))
    return comps


def test_every_column_equals_matminers_on_every_obelix_composition(compositions):
    from ionscreen.roomtemp.composition import composition_row, feature_labels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.stack([matminer_row(c) for c in compositions])
        got = np.stack([composition_row(c) for c in compositions])
    assert got.shape == ref.shape == (len(compositions), 267)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    # A case where the cases differ: given charges that do not balance are not a possible compound.
    labels = feature_labels()
    possible = got[:, labels.index("compound possible")]
    assert list(possible[-3:]) == [0.0, 1.0, 1.0]


def test_the_labels_are_matminers():
    from ionscreen.roomtemp.composition import feature_labels

    assert feature_labels() == [n for f in matminer_featurisers() for n in f.feature_labels()]


def test_the_descriptors_load_without_matminer_or_scikit_learn():
    """What a reader process imports for them (it used to import matminer, and scikit-learn under
    it: 0.8 s per reader)."""
    import subprocess
    import sys

    code = (
        "import sys; from pymatgen.core import Composition; "
        "from ionscreen.roomtemp.descriptors import composition_features; "
        "row = composition_features(Composition('Li7La3Zr2O12')); "
        "print(len(row), 'matminer' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["267", "False", "False"]
