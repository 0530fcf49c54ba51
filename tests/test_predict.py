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
        rows += [{"material_id": mid, "temperature_K": t, "prediction": v, "target": "D_cm2_s"} for t, v in zip(T, y, strict=True)]
    out = add_arrhenius(pd.DataFrame(rows)).groupby("material_id").first()
    assert out.loc["fast", "Ea_eV"] == pytest.approx(0.2) and out.loc["slow", "Ea_eV"] == pytest.approx(0.6)
    assert out.loc["fast", "prediction_300K"] == pytest.approx(-3 - 0.2 / (K_B_EV * 300 * math.log(10)))
    assert bool(out.loc["fast", "extrapolated_300K"]) is True


def test_single_temperature_has_no_fit():
    out = add_arrhenius(pd.DataFrame([{"material_id": "m", "temperature_K": 800.0, "prediction": -1.0, "target": "D_cm2_s"}]))
    assert np.isnan(out["Ea_eV"].iloc[0])


def test_arrhenius_of_sigma_predictions_fits_sigma_T():
    """sigma ~ D / T (Nernst-Einstein): a ln(sigma) fit gives Ea k_B T too low (0.229 eV for 0.300)."""
    T = np.array([600.0, 800.0, 1000.0, 1200.0])
    ea, prefactor = 0.3, 5e3  # eV; S K / cm
    y = np.log10(prefactor / T * np.exp(-ea / (K_B_EV * T)))
    rows = [{"material_id": "m", "temperature_K": t, "prediction": v, "target": "sigma_S_cm"} for t, v in zip(T, y, strict=True)]
    out = add_arrhenius(pd.DataFrame(rows)).iloc[0]
    assert out["Ea_eV"] == pytest.approx(0.3, abs=1e-9) and out["Ea_kind"] == "activation (sigma T)"
    assert out["prediction_300K"] == pytest.approx(np.log10(prefactor / 300 * np.exp(-ea / (K_B_EV * 300))), abs=1e-9)


def test_arrhenius_of_msd_predictions_says_it_is_apparent():
    T = np.array([800.0, 1000.0])
    rows = [{"material_id": "m", "temperature_K": t, "prediction": v, "target": "msd_final_A2"} for t, v in zip(T, [0.1, 0.3], strict=True)]
    assert set(add_arrhenius(pd.DataFrame(rows))["Ea_kind"]) == {"apparent (MSD)"}
