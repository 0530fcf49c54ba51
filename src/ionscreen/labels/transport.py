"""Transport physics shared by labels, predictions and the report: Nernst-Einstein conductivity
from a diffusion coefficient, and the Arrhenius fit of D(T) (or of sigma T) with its confidence band.

Constants are CODATA 2018 (exact SI values for k_B and e). Units: D in cm^2/s, sigma in S/cm,
number densities in 1/A^3, temperatures in K, activation energies in eV.
"""

from __future__ import annotations

import math

import numpy as np

K_B_EV = 8.617333262e-5  # eV/K
K_B_J = 1.380649e-23  # J/K
E_C = 1.602176634e-19  # C


def nernst_einstein_S_cm(D_cm2_s: float, n_li_per_A3: float, temperature_K: float, charge: float = 1.0) -> float:
    """sigma = n (z e)^2 D / (k_B T), Haven ratio 1; D in cm^2/s, n in 1/A^3 -> S/cm."""
    n_m3 = n_li_per_A3 * 1e30
    D_m2_s = D_cm2_s * 1e-4
    return n_m3 * (charge * E_C) ** 2 * D_m2_s / (K_B_J * temperature_K) / 100.0


def arrhenius_fit(T_K: np.ndarray, D: np.ndarray, D_std: np.ndarray | None = None) -> dict[str, float]:
    """Weighted least squares of ln D = ln D0 - Ea / (k_B T).

    Returns Ea_eV and its standard error Ea_std_eV, log10_D0_cm2_s with its standard error, the
    covariance ``cov_lnD0_Ea`` of ln D0 and Ea/k_B (unit K) and the 95 % interval of Ea. The
    parameter covariance is scaled by chi^2/dof (dof = n - 2) when that exceeds 1, so the interval
    uses Student's t quantile at dof (``t95``; 4.30 for four temperatures), not the normal 1.96.
    """
    from scipy.special import stdtrit  # scipy.stats' t.ppf without scipy.stats' 0.5 s import

    T_K, D = np.asarray(T_K, float), np.asarray(D, float)
    x = 1.0 / T_K
    y = np.log(D)
    if D_std is not None and np.all(np.asarray(D_std) > 0):
        w = D / np.asarray(D_std, float)  # 1 / sigma of ln D
    else:
        w = np.ones_like(y)
    A = np.vstack([np.ones_like(x), x]).T * w[:, None]
    coef, *_ = np.linalg.lstsq(A, y * w, rcond=None)
    resid = y * w - A @ coef
    dof = max(1, len(y) - 2)
    cov = np.linalg.inv(A.T @ A) * max(1.0, float(resid @ resid) / dof)
    ea, ea_std = float(-coef[1] * K_B_EV), float(math.sqrt(cov[1, 1]) * K_B_EV)
    t95 = float(stdtrit(dof, 0.975))
    return {
        "Ea_eV": ea,
        "Ea_std_eV": ea_std,
        "t95": t95,
        "Ea_ci95_low_eV": ea - t95 * ea_std,
        "Ea_ci95_high_eV": ea + t95 * ea_std,
        "log10_D0_cm2_s": float(coef[0] / math.log(10)),
        "log10_D0_std_cm2_s": float(math.sqrt(cov[0, 0]) / math.log(10)),
        "cov_lnD0_Ea": float(-cov[0, 1]),
    }


def arrhenius_band(
    fit: dict[str, float], T_K: np.ndarray, z: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(D, low, high) of the fitted line at ``T_K``: a 95 % band from the fit covariance (``z``
    defaults to the fit's Student-t quantile)."""
    z = fit.get("t95", 1.96) if z is None else z
    x = 1.0 / np.asarray(T_K, float)
    ln_d0 = fit["log10_D0_cm2_s"] * math.log(10)
    slope = -fit["Ea_eV"] / K_B_EV
    var0 = (fit["log10_D0_std_cm2_s"] * math.log(10)) ** 2
    var1 = (fit["Ea_std_eV"] / K_B_EV) ** 2
    cov = -fit["cov_lnD0_Ea"]
    ln_d = ln_d0 + slope * x
    sd = np.sqrt(np.maximum(var0 + 2 * x * cov + x * x * var1, 0.0))
    return np.exp(ln_d), np.exp(ln_d - z * sd), np.exp(ln_d + z * sd)
