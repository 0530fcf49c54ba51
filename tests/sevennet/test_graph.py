"""ionscreen.sevennet.graph: SevenNet's input graph as numpy arrays, against sevenn's own builder."""

from __future__ import annotations

import numpy as np

from ionscreen.structures.prepare import read_structure
from tests.conftest import REPO, li3n


def test_graph_arrays_equal_sevenns_graph():
    """Our graph builder gives sevenn's ``unlabeled_atoms_to_graph`` dict, array for array (same
    keys, values and dtypes), on cells with small and skewed lattices and many neighbours."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from sevenn.train.dataload import unlabeled_atoms_to_graph

    from ionscreen.sevennet.graph import graph_arrays

    lfp = read_structure(REPO / "resources/structures/candidates/LiFePO4.json")
    cells = [
        li3n(),
        li3n() * (2, 1, 1),
        lfp,
        lfp.copy().make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 1]]),
        read_structure(REPO / "resources/structures/candidates/LiBr.json"),
    ]
    for s in cells:
        ours, ref = graph_arrays(s, 5.0), unlabeled_atoms_to_graph(AseAtomsAdaptor.get_atoms(s), 5.0)
        assert ours.keys() == ref.keys()
        assert len(ref["edge_vec"]) > 10 * len(s)
        for key, value in ref.items():
            if isinstance(value, np.ndarray):
                assert ours[key].dtype == value.dtype, key
                np.testing.assert_array_equal(ours[key], value, err_msg=key)
            else:
                assert ours[key] == value, key
