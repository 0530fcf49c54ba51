"""SevenNet's input graph as numpy arrays (``graph_arrays``), built without sevenn or torch so that
reader processes build it cheaply, in the structure's own frame or rotated to the standard one
(``standard_rotation``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pymatgen.core import Structure

FRAMES = ("given", "standard")  # the Cartesian frame a graph is built in: as written, or the standard orientation


def standard_rotation(cell: np.ndarray) -> np.ndarray:
    """The orthogonal 3x3 matrix Q with ``cell @ Q`` the cell in its standard orientation (rows
    are lattice vectors, A): the one ``Lattice.from_parameters`` builds from the cell's lengths and
    angles. Rotated copies of one cell share it, so their rotated positions agree to rounding. A
    left-handed cell gets an improper Q (the standard cell is right-handed)."""
    from pymatgen.core import Lattice

    cell = np.asarray(cell, dtype=float)
    std = Lattice.from_parameters(*Lattice(cell).parameters).matrix
    return np.linalg.solve(cell, std)


# sevenn's graph keys (``sevenn._keys``: tests/embed/test_structure.py checks them), written here so that a
# reader process builds graphs without importing sevenn.
GRAPH_KEYS = {
    "x": "x",
    "atomic_numbers": "atomic_numbers",
    "pos": "pos",
    "edge_index": "edge_index",
    "edge_vec": "edge_vec",
    "cell_volume": "cell_volume",
    "num_atoms": "num_atoms",
    "info": "data_info",
}


def graph_arrays(s: Structure, cutoff_A: float, frame: str = "given") -> dict[str, Any]:
    """SevenNet's graph of an ordered structure as numpy arrays, the dict sevenn's
    ``unlabeled_atoms_to_graph`` builds for a periodic cell (matscipy's neighbour list within
    ``cutoff_A``, int64 edge indices, positions and cell in A, volume in A^3), built here from the
    structure's arrays: no ASE adaptor, and no import of ``sevenn.train`` (about 2 s, which a
    reader process would otherwise spend before its first file). ``tests/sevennet/test_graph.py`` checks
    it equal, array for array, to sevenn's function. Arrays pickle fast: a reader process builds them.
    ``frame="standard"`` rotates positions and cell to the standard orientation first
    (``standard_rotation``)."""
    from matscipy.neighbours import neighbour_list

    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")
    k = GRAPH_KEYS
    numbers = np.asarray(s.atomic_numbers, dtype=np.int64)
    pos = np.array(s.cart_coords, dtype=float)
    cell = np.array(s.lattice.matrix, dtype=float)
    if frame == "standard":
        q = standard_rotation(cell)
        pos, cell = pos @ q, cell @ q
    src, dst, vec, _ = neighbour_list("ijDS", pbc=np.ones(3, dtype=bool), cell=cell, positions=pos, cutoff=cutoff_A)
    return {
        k["x"]: numbers,
        k["atomic_numbers"]: numbers,
        k["pos"]: pos,
        k["edge_index"]: np.array([src.astype(np.int64), dst.astype(np.int64)]),
        k["edge_vec"]: vec,
        k["cell_volume"]: np.array(np.abs(np.linalg.det(cell))),
        k["num_atoms"]: np.array(len(numbers)),
        k["info"]: {},
    }
