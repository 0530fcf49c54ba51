"""Prediction-side logic: Arrhenius of predictions, flags, ranks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ionscreen.labels import K_B_EV
from ionscreen.predict import add_arrhenius


def test_arrhenius_of_predictions_recovers_Ea():
    T = np.array([600.0, 800.0, 1000.0, 1200.0])
    rows = []
    for mid, ea in (("fast", 0.2), ("slow", 0.6)):
        y = -3 - ea / (K_B_EV * T * math.log(10))  # log10 D
        rows += [{"material_id": mid, "temperature_K": t, "prediction": v} for t, v in zip(T, y, strict=True)]
    out = add_arrhenius(pd.DataFrame(rows)).groupby("material_id").first()
    assert out.loc["fast", "Ea_eV"] == pytest.approx(0.2) and out.loc["slow", "Ea_eV"] == pytest.approx(0.6)
    assert out.loc["fast", "prediction_300K"] == pytest.approx(-3 - 0.2 / (K_B_EV * 300 * math.log(10)))
    assert bool(out.loc["fast", "extrapolated_300K"]) is True


def test_single_temperature_has_no_fit():
    out = add_arrhenius(pd.DataFrame([{"material_id": "m", "temperature_K": 800.0, "prediction": -1.0}]))
    assert np.isnan(out["Ea_eV"].iloc[0])
