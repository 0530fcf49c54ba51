"""What the structure checks and the disorder policy share (and nothing of either): the error a
rejected structure raises, and the geometry of a periodic cell (face-to-face widths, neighbour
pairs, the closest approach of two atoms). Distances in A.

``structures`` (reading, checks, supercells) and ``ordering`` (the disorder policy) both build on
this module; ``structures`` re-exports its names.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure


class StructureError(ValueError):
    """An input structure cannot be used; the message is the reason for the rejected table and
    ``code`` a short machine-readable key (no_li, unknown_element, overlapping_atoms, too_large,
    unreadable, empty_file, missing_file, non_periodic, no_atoms, disorder_unresolved, mlip_failed)."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def perpendicular_widths(lattice: Lattice) -> np.ndarray:
    """Distances between opposite cell faces (A): V / |a_j x a_k|."""
    m = lattice.matrix
    vol = abs(np.linalg.det(m))
    return np.array([vol / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)])


def neighbor_pairs(lattice: Lattice, cart: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, distance in A) of every pair of atoms closer than ``r`` (periodic images included,
    an atom with itself at distance 0 excluded): ``Structure.get_neighbor_list`` on arrays."""
    from pymatgen.optimization.neighbors import find_points_in_spheres

    cart = np.ascontiguousarray(cart, dtype=float)
    i, j, _, d = find_points_in_spheres(
        cart,
        cart,
        r=r,
        pbc=np.ascontiguousarray(lattice.pbc, dtype=np.int64),
        lattice=np.ascontiguousarray(lattice.matrix, dtype=float),
        tol=1e-8,
    )
    keep = ~((i == j) & (d <= 1e-8))
    return i[keep], j[keep], d[keep]


def min_interatomic_distance(s: Structure, below_A: float | None = None) -> float:
    """Smallest distance between two atoms, periodic images included (A).

    With ``below_A`` only pairs closer than that are searched (a neighbour list instead of the
    all-pairs matrix, which is quadratic in atoms): the result is exact when it is below
    ``below_A`` and otherwise some value >= ``below_A``."""
    if len(s) == 1:
        return float(np.min(s.lattice.abc))
    # A single atom's own image closer than any pair (tiny cells).
    width = float(np.min(perpendicular_widths(s.lattice)))
    if below_A is not None:
        i, j, d = neighbor_pairs(s.lattice, s.cart_coords, below_A)
        d = d[i != j]
        return min(float(d.min()) if len(d) else float(below_A), width)
    dm = s.distance_matrix
    np.fill_diagonal(dm, np.inf)
    return min(float(dm.min()), width)
