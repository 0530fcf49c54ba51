"""The disorder policy (``ionscreen.structures.ordering``): exact, seeded orderings; the atom budget; the
prediction fallback; split sites; charge balance."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from ionscreen.structures.ordering import balance_charge, order_structure
from ionscreen.structures.prepare import StructureError, min_interatomic_distance, read_structure
from tests.conftest import REPO


def test_ordering_li7bio6_is_exact_and_seeded():
    s = read_structure(REPO / "resources/structures/candidates/obelix-jqc.cif")  # Li 0.875 occupancy
    assert not s.is_ordered
    a = order_structure(s, seed=0, max_atoms=200)
    b = order_structure(s, seed=0, max_atoms=200)
    c = order_structure(s, seed=1, max_atoms=200)
    assert a.structure.is_ordered
    assert a.structure.composition.reduced_formula == "Li7BiO6"
    # Li0-Li3 are 4 pairs of equivalent sites at 0.875: 2 x 0.875 x 4 cells = 7 Li per pair.
    assert len(a.structure) == 56  # 1x2x2 supercell: 4 x 15 sites minus 4 Li vacancies
    assert "1x2x2" in a.description and "0.0%" in a.description
    assert np.allclose(a.structure.frac_coords, b.structure.frac_coords)
    assert not np.allclose(a.structure.frac_coords, c.structure.frac_coords)


def test_ordering_li10gep2s12_and_the_atom_limit():
    s = read_structure(REPO / "resources/structures/candidates/Li10GeP2S12.json")
    r = order_structure(s, max_atoms=100)
    assert r.structure.is_ordered and len(r.structure) == 50 and "2.9%" in r.description
    with pytest.raises(StructureError, match="50 atoms \\(limit 40\\)") as exc:
        order_structure(s, max_atoms=40)
    assert exc.value.code == "too_large"


def test_ordering_unresolvable_disorder_has_a_code():
    # One site at 1/7 occupancy: no supercell up to 6 cells holds whole atoms within 5 %.
    s = Structure(Lattice.cubic(5.0), [{"Li": 1 / 7}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(StructureError, match="within the limit of 4 atoms") as exc:
        order_structure(s, max_atoms=4)
    assert exc.value.code == "disorder_unresolved"


def test_prediction_fallback_orders_what_training_rejects():
    s = Structure(Lattice.cubic(5.0), [{"Li": 1 / 7}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    r = order_structure(s, max_atoms=4, fallback=True)  # the best ordering found, with its error
    assert r.structure.is_ordered and r.error > 0.05 and "approximate" in r.description
    s = read_structure(REPO / "resources/structures/candidates/Li10GeP2S12.json")
    r = order_structure(s, max_atoms=40, fallback=True)  # over the budget: used, and said so
    assert len(r.structure) == 50 and "50 atoms exceed the budget of 40" in r.description


def _split_sites(n_pairs: int = 6) -> Structure:
    """Positional disorder as CIFs write it: each Li sits on one of two sites 0.3 A apart (0.5 each)."""
    rng = np.random.default_rng(3)
    centres = rng.uniform(0, 1, (n_pairs, 3))
    species, coords = [], []
    for c in centres:
        for shift in (-0.15, 0.15):
            species.append({"Li": 0.5})
            coords.append(c + [shift / 8.0, 0, 0])
    species += ["Cl"] * 2
    coords += [[0.25, 0.25, 0.25], [0.75, 0.75, 0.75]]
    return Structure(Lattice.cubic(8.0), species, coords)


def test_split_sites_are_filled_one_atom_per_pair():
    s = _split_sites()
    for seed in range(5):
        r = order_structure(s, seed=seed, max_atoms=200)
        assert r.structure.composition["Li"] == 6  # one Li per pair: the composition is exact
        assert min_interatomic_distance(r.structure) > 0.5, r.description
    assert any("moved off split sites" in order_structure(s, seed=k).description for k in range(5))


def _li_cl_o(decorated: bool) -> Structure:
    """Li 3 x 0.5, Cl 1, O 0.25 per cell: neutral as written (1.5 - 1 - 0.5 = 0)."""
    li, cl, o = ("Li+", "Cl-", "O2-") if decorated else ("Li", "Cl", "O")
    species = [{li: 0.5}, {li: 0.5}, {li: 0.5}, {cl: 1.0}, {o: 0.25}]
    coords = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0.5, 0.5, 0.5], [0, 0.5, 0.5]]
    s = Structure(Lattice.cubic(4.0), species, coords)
    for k, lab in enumerate(["Li1", "Li1", "Li1", "Cl1", "O1"]):
        s[k].label = lab
    return s


def test_ordering_keeps_charge_balance_where_oxidation_states_are_known():
    # Within 9 atoms the best supercell has 3 cells: Li 4.5 -> 4, Cl 3, O 0.75 -> 1, charge -1.
    plain = order_structure(_li_cl_o(False), max_atoms=9, tolerance=0.4)
    c = plain.structure.composition.element_composition
    assert (c["Li"], c["Cl"], c["O"]) == (4, 3, 1)
    assert "charge" not in plain.description  # no oxidation states: nothing to balance against
    bal = order_structure(_li_cl_o(True), max_atoms=9, tolerance=0.4)
    comp = bal.structure.composition.element_composition
    assert (comp["Li"], comp["Cl"], comp["O"]) == (5, 3, 1)  # one Li added on a Li site: neutral
    assert "charge balanced (Li +1)" in bal.description and "left" not in bal.description
    assert balance_charge([{"Li": 1}], [{"Li": 1.0}], [1], {"Li": 1.0}) == ({"Li": -1}, 0.0)


@pytest.mark.parametrize("name", ["obelix-jqc.cif", "obelix-0iv.cif", "obelix-bsa.cif", "obelix-h6c.cif"])
def test_supercell_arrays_are_pymatgens_supercell_bit_for_bit(name):
    """The ordering's supercell without Site objects: the same lattice and coordinates, bit for
    bit, as Structure.make_supercell (which it replaced for speed), for real disordered CIFs."""
    from ionscreen.structures.ordering import supercell_arrays

    s = read_structure(REPO / "resources/structures/candidates" / name)
    for sc in [(1, 1, 1), (1, 2, 2), (3, 1, 2)]:
        lattice, frac, cart = supercell_arrays(s, sc)
        big = s.copy()
        big.make_supercell(np.diag(sc))
        assert np.array_equal(lattice.matrix, big.lattice.matrix)
        assert np.array_equal(frac, big.frac_coords) and np.array_equal(cart, big.cart_coords)


@pytest.mark.filterwarnings("ignore:No Pauling electronegativity")
def test_sorted_structure_sorts_as_pymatgen_does():
    """Electronegativity, then symbol; equal keys keep their order (He has no electronegativity)."""
    from ionscreen.structures.ordering import sorted_structure

    rng = np.random.default_rng(0)
    species = list(rng.choice(["O", "Li", "La", "Zr", "He", "S", "Li", "O"], size=40))
    frac = rng.random((40, 3))
    lattice = Lattice.cubic(9.0)
    got = sorted_structure(lattice, species, frac)
    ref = Structure(lattice, species, frac).get_sorted_structure()
    assert [x.species_string for x in got] == [x.species_string for x in ref]
    assert np.array_equal(got.frac_coords, ref.frac_coords)


def test_closest_pair_search_below_a_threshold_agrees_with_all_pairs():
    """The neighbour-list search (check_structure's) equals the all-pairs minimum where it is
    below the threshold, and says 'not below' otherwise."""
    close = Structure(Lattice.cubic(5.0), ["Li", "Li", "O"], [[0, 0, 0], [0.06, 0, 0], [0.5, 0.5, 0.5]])
    split = order_structure(_split_sites(), seed=0, max_atoms=200).structure
    for s in [close, split, read_structure(REPO / "resources/structures/candidates/LiFePO4.json")]:
        exact = min_interatomic_distance(s)
        for below in (0.5, 1.0, 2.5):
            got = min_interatomic_distance(s, below_A=below)
            if exact < below:
                assert got == pytest.approx(exact, abs=1e-12)
            else:
                assert got >= below
    assert min_interatomic_distance(close, below_A=0.5) == pytest.approx(0.3)
