"""Report plots: Arrhenius with bands (or an honest fallback), and the band itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ionscreen.labels import K_B_EV, arrhenius_band, arrhenius_fit, arrhenius_row
from ionscreen.report import arrhenius_plot

T = np.array([600.0, 800.0, 1000.0, 1200.0])


def _labels(diffusive: bool) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    D = 1e-3 * np.exp(-0.3 / (K_B_EV * T)) * (1 + 0.05 * rng.normal(size=4))
    return pd.DataFrame({"material_id": "m", "temperature_K": T, "status": "ok", "diffusive": diffusive,
                         "D_cm2_s": D, "D_std_cm2_s": 0.05 * D, "D_ci95_low_cm2_s": 0.9 * D,
                         "D_ci95_high_cm2_s": 1.1 * D, "msd_final_A2": 10 * D / D.min(), "li_density_A3": 0.02})


def test_band_brackets_the_fit_and_the_data():
    lab = _labels(True)
    fit = arrhenius_fit(T, lab["D_cm2_s"].to_numpy(), lab["D_std_cm2_s"].to_numpy())
    assert abs(fit["Ea_eV"] - 0.3) < 3 * fit["Ea_std_eV"] + 0.02
    assert fit["Ea_ci95_low_eV"] < fit["Ea_eV"] < fit["Ea_ci95_high_eV"]
    d, lo, hi = arrhenius_band(fit, T)
    assert np.all(lo < d) and np.all(d < hi)
    assert np.all(np.abs(np.log(lab["D_cm2_s"].to_numpy() / d)) < 0.2)
    # The band is narrowest inside the data and widens when extrapolated to 300 K.
    _, lo300, hi300 = arrhenius_band(fit, np.array([300.0]))
    assert np.log(hi300 / lo300)[0] > np.max(np.log(hi / lo))


def test_arrhenius_plot_with_fits_and_without_diffusion():
    lab = _labels(True)
    arr = pd.DataFrame([arrhenius_row("m", lab.to_dict("records"))])
    img, caption = arrhenius_plot(lab, arr)
    assert img.startswith('<img alt="plot" src="data:image/png;base64,') and "95 % band" in caption
    img, caption = arrhenius_plot(_labels(False), None)
    assert "No run became diffusive" in caption and "base64" in img


def test_room_temperature_columns_format_sigma_std_and_flags():
    from ionscreen.report import room_temperature_columns

    rows = pd.DataFrame({"sigma_rt_log10_S_cm": [-2.0, np.nan], "sigma_rt_std": [0.5, np.nan],
                         "sigma_rt_flags": [["far_from_training"], None]})
    out = room_temperature_columns(rows)
    assert list(out["sigma_RT (S/cm)"]) == ["1.00e-02", ""]
    assert list(out["log10 sigma_RT"]) == ["-2.00 +- 0.50", ""]
    assert list(out["sigma_RT flags"]) == ["far_from_training", ""]
