"""obelix-rt's composition descriptors in numpy: matminer 0.10.1's five featurisers as obelix-rt
uses them (``ElementProperty.from_preset("magpie")``, ``Stoichiometry()``, ``ValenceOrbital()``,
``IonProperty(fast=True)``, ``ElementFraction()``), each with its defaults (missing element data
imputed by the mean over the elements), computed as matminer's code computes them.

Why not matminer itself: importing it imports scikit-learn (0.8 s per process), and its
featurisers work through per-element Python lookups. ``ionscreen predict`` computes these in
every reader process, where that import cost more than the features. The element data are
matminer's own files (its Magpie tables, read from where matminer is installed, without importing
it) and pymatgen's (electronegativity, common oxidation states), so the values are matminer's:
``tests/roomtemp/test_composition.py`` compares every column on every OBELiX composition.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGPIE_PROPERTIES = (
    "Number",
    "MendeleevNumber",
    "AtomicWeight",
    "MeltingT",
    "Column",
    "Row",
    "CovalentRadius",
    "Electronegativity",
    "NsValence",
    "NpValence",
    "NdValence",
    "NfValence",
    "NValence",
    "NsUnfilled",
    "NpUnfilled",
    "NdUnfilled",
    "NfUnfilled",
    "NUnfilled",
    "GSvolume_pa",
    "GSbandgap",
    "GSmagmom",
    "SpaceGroupNumber",
)
MAGPIE_STATS = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")
NORMS = (0, 2, 3, 5, 7, 10)  # Stoichiometry's p-norms
ORBITALS = ("s", "p", "d", "f")
MAX_Z = 118  # matminer's tables and ElementFraction stop here


@dataclass(frozen=True)
class ElementTables:
    """Per-element data indexed by atomic number Z (row 0 unused)."""

    magpie: np.ndarray  # [119, 22] MAGPIE_PROPERTIES, missing values imputed
    valence: np.ndarray  # [119, 4] Ns..NfValence (imputed)
    n_valence: np.ndarray  # [119] NValence (imputed)
    electronegativity: np.ndarray  # [119] pymatgen's X (Pauling), missing imputed as matminer's PymatgenData does
    oxidation_states: tuple[tuple[int, ...], ...]  # pymatgen's common oxidation states per Z
    symbols: tuple[str, ...]  # symbol per Z ('' at 0)


def magpie_folder() -> Path:
    """matminer's Magpie element tables (``*.table``, one line per Z), found without importing
    matminer. FileNotFoundError naming what to install when matminer is absent."""
    spec = importlib.util.find_spec("matminer")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "utils" / "data_files" / "magpie_elementdata"
        if path.is_dir():
            return path
    raise FileNotFoundError(
        "obelix-rt's descriptors need matminer's Magpie element data: pip install --no-deps matminer==0.10.1"
    )


def _magpie_column(folder: Path, name: str) -> np.ndarray:
    """One Magpie property per Z (1..118) as matminer's ``MagpieData`` reads it: an unparsable or
    missing line is NaN, then every NaN takes the mean of the others (``impute_nan=True``)."""
    lines = (folder / f"{name}.table").read_text().splitlines()
    values = np.full(MAX_Z + 1, np.nan)
    for z in range(1, MAX_Z + 1):
        try:
            values[z] = float(lines[z - 1])
        except (ValueError, IndexError):
            pass
    known = values[1:]
    values[1:] = np.where(np.isnan(known), np.nanmean(known), known)
    return values


@functools.cache
def element_tables() -> ElementTables:
    """The element data, loaded once per process (about 30 ms)."""
    from pymatgen.core import Element

    folder = magpie_folder()
    magpie = np.stack([_magpie_column(folder, name) for name in MAGPIE_PROPERTIES], axis=1)
    valence = np.stack([_magpie_column(folder, f"N{orb}Valence") for orb in ORBITALS], axis=1)
    with warnings.catch_warnings():  # pymatgen warns for elements without an electronegativity
        warnings.simplefilter("ignore")
        every_x = [e.X for e in Element]
        elements = [Element.from_Z(z) for z in range(1, MAX_Z + 1)]
        x = [e.X for e in elements]
    # PymatgenData(impute_nan=True): a falsy or NaN value takes the mean over every Element's
    # value, falsy ones counted as NaN.
    x_mean = float(np.nanmean([v if v else math.nan for v in every_x]))
    electronegativity = np.array([math.nan] + [v if v and not math.isnan(v) else x_mean for v in x])
    return ElementTables(
        magpie=magpie,
        valence=valence,
        n_valence=_magpie_column(folder, "NValence"),
        electronegativity=electronegativity,
        oxidation_states=((),) + tuple(tuple(e.common_oxidation_states) for e in elements),
        symbols=("",) + tuple(e.symbol for e in elements),
    )


def feature_labels() -> list[str]:
    """matminer's labels of the 267 columns, in ``composition_features``' order."""
    return (
        [f"MagpieData {stat} {prop}" for prop in MAGPIE_PROPERTIES for stat in MAGPIE_STATS]
        + [f"{p}-norm" for p in NORMS]
        + [f"{kind} {orb} valence electrons" for kind in ("avg", "frac") for orb in ORBITALS]
        + ["compound possible", "max ionic char", "avg ionic char"]
        + list(element_tables().symbols[1:])
    )


_FAILURES = (ValueError, KeyError, TypeError, ZeroDivisionError, IndexError)


def composition_row(comp: Any) -> np.ndarray:
    """The 267 features of a pymatgen ``Composition`` (unreduced amounts are fine: every feature
    is of fractions). A part that fails on the composition gives NaN for its columns, as
    ``roomtemp.descriptors`` has always treated a failing matminer featuriser."""
    tables = element_tables()
    elements = comp.element_composition
    z = np.array([el.Z for el in elements])
    amounts = np.array([float(a) for a in elements.values()])
    parts: list[tuple[int, Any]] = [
        (len(MAGPIE_PROPERTIES) * len(MAGPIE_STATS), lambda: _magpie(tables, z, amounts)),
        (len(NORMS), lambda: _norms(amounts)),
        (2 * len(ORBITALS), lambda: _valence(tables, z, amounts)),
        (3, lambda: _ionic(tables, comp, z, amounts)),
        (MAX_Z, lambda: _fractions(z, amounts)),
    ]
    out = []
    for width, part in parts:
        try:
            out.append(np.asarray(part(), dtype=float).reshape(width))
        except _FAILURES:
            out.append(np.full(width, np.nan))
    return np.concatenate(out)


def _magpie(tables: ElementTables, z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ElementProperty(magpie): per property, min, max, range, weighted mean, weighted mean
    absolute deviation, and the mode (the smallest value among the elements of largest amount)."""
    v = tables.magpie[z]  # [n_elements, 22]
    mean = np.average(v, axis=0, weights=w)
    most = np.isclose(w, w.max())
    stats = np.stack(
        [
            v.min(0),
            v.max(0),
            v.max(0) - v.min(0),
            mean,
            np.average(np.abs(v - mean), axis=0, weights=w),
            v[most].min(0),
        ],
        axis=1,
    )
    stats[np.isnan(v).any(0), :3] = np.nan  # matminer's min, max and range are NaN when a value is
    return stats.ravel()


def _norms(amounts: np.ndarray) -> list[float]:
    """Stoichiometry: the number of elements, then the p-norms of the atomic fractions."""
    frac = amounts / amounts.sum()
    return [float(len(amounts)) if p == 0 else float((frac**p).sum() ** (1.0 / p)) for p in NORMS]


def _valence(tables: ElementTables, z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ValenceOrbital: mean s, p, d, f valence electrons, then each as a fraction of the mean total."""
    avg = np.average(tables.valence[z], axis=0, weights=w)
    return np.concatenate([avg, avg / np.average(tables.n_valence[z], weights=w)])


def _ionic(tables: ElementTables, comp: Any, z: np.ndarray, w: np.ndarray) -> list[float]:
    """IonProperty(fast=True): whether one common oxidation state per element (or the given
    oxidation states) can make the formula neutral, then the largest and the fraction-weighted
    ionic character 1 - exp(-(X_A - X_B)^2 / 4) over element pairs."""
    if len(z) < 2:
        return [1.0, 0.0, 0.0]
    species = list(comp.items())
    if all(getattr(s, "oxi_state", None) is not None for s, _ in species):  # oxidation states given
        charges = np.array([s.oxi_state for s, _ in species], dtype=float)
        w = np.array([float(a) for _, a in species])  # matminer weighs the pairs by these below
        possible = bool(np.isclose(np.dot(charges, w), 0))
    else:
        possible = any(
            np.isclose(np.dot(ox, w), 0) for ox in itertools.product(*(tables.oxidation_states[k] for k in z))
        )
    x = tables.electronegativity[z]
    frac = w / w.sum()
    chars, avg = [], 0.0
    for i, j in itertools.combinations(range(len(z)), 2):
        chars.append(1.0 - np.exp(-0.25 * (x[i] - x[j]) ** 2))
        avg += frac[i] * frac[j] * chars[-1]
    return [float(possible), float(np.max(chars)), float(avg)]


def _fractions(z: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """ElementFraction: the atomic fraction of each element Z = 1..118."""
    out = np.zeros(MAX_Z)
    np.add.at(out, z - 1, amounts / amounts.sum())
    return out
