"""What obelix-rt's trees see and fit: the name and target of the model, matminer's composition
descriptors (computed in numpy by ``roomtemp.composition``) plus the cell (volume per atom in A^3, Li atoms per A^3, space-group number), the
space-group flag, and the target transforms (log10 sigma in S/cm <-> what the trees fit)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscreen.flags import SPACEGROUP_UNKNOWN

if TYPE_CHECKING:
    import pandas as pd

NAME = "obelix-rt"


SHIPPED = {NAME: "models/obelix-rt"}  # models that ship inside the package, by name (package-relative folder)


ROOM_TEMPERATURE_K = 300.0


TARGET = "log10_sigma_S_cm"


FOREST = "random forest (composition + lattice + space group)"  # the baseline of every CV table


CELL_NAMES = ("volume_per_atom_A3", "li_per_A3", "spacegroup_number")


def descriptor_names() -> list[str]:
    """Column names of ``descriptors``: matminer's feature labels, then ``CELL_NAMES``."""
    from ionscreen.roomtemp.composition import feature_labels

    return feature_labels() + list(CELL_NAMES)


def descriptors(compositions: Sequence[Any], volumes_A3: Sequence[float], spacegroups: Sequence[int]) -> np.ndarray:
    """[n, 270] descriptors of cells with the given (unreduced: atoms per cell) compositions,
    cell volumes (A^3) and space-group numbers. A featuriser that fails on a composition gives NaN
    for its columns (the trees route NaN as scikit-learn does). The composition part is computed
    once per distinct composition in a process (``composition_features``)."""
    from pymatgen.core import Composition

    rows = []
    for comp, vol, sg in zip(compositions, volumes_A3, spacegroups, strict=True):
        comp = Composition(comp)
        row = list(composition_features(comp))
        n = comp.num_atoms
        row.extend([float(vol) / n, comp["Li"] / float(vol), float(sg)])
        rows.append(row)
    return np.asarray(rows, dtype=float).reshape(len(rows), -1)


_COMPOSITION_CACHE: dict[tuple[tuple[str, float], ...], tuple[float, ...]] = {}


def composition_features(comp: Any) -> tuple[float, ...]:
    """matminer's features of one composition (``roomtemp.composition``: its five featurisers in
    numpy; NaN for a part that fails on it), remembered per distinct composition (element,
    amount) in this process: a pool of 20,000 candidates has far fewer compositions, and a
    re-screen repeats them all."""
    from ionscreen.roomtemp.composition import composition_row

    key = tuple(sorted((str(el), float(amt)) for el, amt in comp.items()))  # Li+ is not Li
    hit = _COMPOSITION_CACHE.get(key)
    if hit is not None:
        return hit
    row = tuple(float(v) for v in composition_row(comp))
    if len(_COMPOSITION_CACHE) < 100_000:  # bounded: memory stays small on any pool
        _COMPOSITION_CACHE[key] = row
    return row


def obelix_descriptors(table: pd.DataFrame) -> np.ndarray:
    """Descriptors of OBELiX rows from the CSV alone (no CIF needed): ``True Composition`` is the
    composition of the cell whose parameters a, b, c, alpha, beta, gamma (A, degrees) are given."""
    from pymatgen.core import Lattice

    vols = [
        Lattice.from_parameters(r.a, r.b, r.c, r.alpha, r.beta, r.gamma).volume
        for r in table[["a", "b", "c", "alpha", "beta", "gamma"]].itertuples()
    ]
    return descriptors(list(table["True Composition"]), vols, list(table["Space group #"].astype(int)))


def spacegroup_number(structure: Any, symprec: float = 0.1) -> int | None:
    """International space-group number of a (possibly disordered) structure; None if the search fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return int(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number())
    except Exception:  # spglib gives up on some cells
        return None


def spacegroup_from_symbol(symbol: str) -> int | None:
    """Number of a space-group symbol as the ``structures`` table stores it (e.g. 'Fm-3m'); None when unknown."""
    from pymatgen.symmetry.groups import SpaceGroup

    try:
        return int(SpaceGroup(str(symbol)).int_number)
    except Exception:
        return None


def structure_descriptors(structures: Sequence[Any], spacegroups: Sequence[int | None] | None = None) -> np.ndarray:
    """Descriptors of pymatgen structures (partial occupancies count as fractional atoms); the
    space group is searched when not given, and an unknown one counts as P1 (1): see
    ``spacegroup_flags`` for the flag that says so."""
    sgs = list(spacegroups) if spacegroups is not None else [spacegroup_number(s) for s in structures]
    return descriptors(
        [s.composition for s in structures], [s.volume for s in structures], [1 if sg is None else sg for sg in sgs]
    )


def spacegroup_flags(spacegroups: Sequence[int | None]) -> list[list[str]]:
    """Per structure, ``[SPACEGROUP_UNKNOWN]`` where its space group is unknown (P1 was used), else []."""
    return [[SPACEGROUP_UNKNOWN] if sg is None else [] for sg in spacegroups]


# What the trees fit, as a function of y = log10 sigma (S/cm), and back. "ln_neg" needs y < 0
# (sigma < 1 S/cm: every OBELiX entry; the best is 10^-1.6).
_TRANSFORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "identity": (lambda y: y, lambda z: z),
    "ln_neg": (lambda y: np.log(-y), lambda z: -np.exp(z)),
}


TARGET_TRANSFORMS = tuple(_TRANSFORMS)


def _transform(name: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """(forward, inverse) of a target transform; ValueError naming the known ones otherwise."""
    if name not in _TRANSFORMS:
        raise ValueError(f"unknown target transform {name!r}; known: {', '.join(TARGET_TRANSFORMS)}")
    return _TRANSFORMS[name]


def to_tree_target(y: np.ndarray, transform: str) -> np.ndarray:
    """Training target of the trees for log10 sigma ``y`` (S/cm) under ``transform``."""
    forward, _ = _transform(transform)
    y = np.asarray(y, dtype=float)
    if transform == "ln_neg" and np.any(y >= 0):
        raise ValueError(f"target transform ln_neg needs log10 sigma < 0 (sigma < 1 S/cm); got {y.max():.3g}")
    return forward(y)


def from_tree_target(z: np.ndarray, transform: str) -> np.ndarray:
    """log10 sigma (S/cm) for tree outputs ``z`` (the inverse of ``to_tree_target``)."""
    return _transform(transform)[1](np.asarray(z, dtype=float))


def ensemble_prediction(per_tree: np.ndarray, transform: str) -> tuple[np.ndarray, np.ndarray]:
    """(log10 sigma, spread over trees in log10 sigma) from per-tree outputs [n_trees, n]: the
    mean is taken where the trees were fitted (then mapped back), the spread after mapping back."""
    return from_tree_target(per_tree.mean(0), transform), from_tree_target(per_tree, transform).std(0)
