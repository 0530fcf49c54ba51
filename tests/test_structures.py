"""Reading, validation reasons, disorder policy, supercells, relaxation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Molecule, Structure

from ionscreen import schema
from ionscreen.ordering import balance_charge, order_structure
from ionscreen.structures import (
    PrepareSettings,
    StructureError,
    check_structure,
    min_interatomic_distance,
    perpendicular_widths,
    prepare_sources,
    read_structure,
    supercell_for_width,
)
from tests.conftest import REPO, li3n

KNOWN = frozenset({"Li", "N", "O", "Bi", "Br", "F", "Cl", "S", "Si"})


def test_reads_cif_json_poscar(tmp_path):
    s = li3n()
    s.to(filename=str(tmp_path / "POSCAR"))
    (tmp_path / "li3n.json").write_text(json.dumps(s.as_dict()))
    s.to(filename=str(tmp_path / "li3n.cif"))
    for name in ("POSCAR", "li3n.json", "li3n.cif"):
        got = read_structure(tmp_path / name)
        assert got.composition.reduced_formula == "Li3N"
        assert got.lattice.a == pytest.approx(3.648, abs=1e-4)


@pytest.mark.parametrize(
    ("content", "reason"),
    [("", "file is empty"), ("data_x\n_cell_length_a 4\ngarbage\n", "unreadable structure")],
)
def test_bad_files_give_reasons(tmp_path, content, reason):
    p = tmp_path / "bad.cif"
    p.write_text(content)
    with pytest.raises(StructureError, match=reason):
        read_structure(p)


def test_molecule_is_non_periodic(tmp_path):
    p = tmp_path / "mol.json"
    p.write_text(json.dumps(Molecule(["Li", "H"], [[0, 0, 0], [0, 0, 1.6]]).as_dict()))
    with pytest.raises(StructureError, match="non-periodic"):
        read_structure(p)


def test_check_reasons():
    with pytest.raises(StructureError, match="no Li"):
        check_structure(Structure(Lattice.cubic(4), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]), known_elements=KNOWN)
    with pytest.raises(StructureError, match="unknown to the MLIP: Xe"):
        check_structure(Structure(Lattice.cubic(4), ["Li", "Xe"], [[0, 0, 0], [0.5, 0.5, 0.5]]), known_elements=KNOWN)
    with pytest.raises(StructureError, match="overlapping atoms: closest pair 0.300"):
        check_structure(Structure(Lattice.cubic(4), ["Li", "F"], [[0, 0, 0], [0.075, 0, 0]]), known_elements=KNOWN)
    with pytest.raises(StructureError, match="exceed the limit of 10"):
        check_structure(li3n() * (2, 2, 2), known_elements=KNOWN, max_atoms=10)
    check_structure(li3n(), known_elements=KNOWN)  # a good one passes


def test_sevennet_knows_89_elements_but_not_all():
    from ionscreen.mlip import known_elements

    known = known_elements("7net-0")
    assert len(known) == 89 and {"Li", "La", "Zr", "O", "P", "S"} <= known
    assert "Og" not in known


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


def test_candidate_settings_are_one_set_of_defaults():
    import yaml

    from ionscreen.structures import CANDIDATE_MAX_ATOMS, candidate_settings

    schema = yaml.safe_load((REPO / "config/config.schema.yaml").read_text())
    assert schema["properties"]["screen"]["properties"]["max_atoms"]["default"] == CANDIDATE_MAX_ATOMS
    assert yaml.safe_load((REPO / "config.yaml").read_text())["screen"]["max_atoms"] == CANDIDATE_MAX_ATOMS
    c = candidate_settings(relax_steps=5)
    assert (c.max_atoms, c.min_width_A, c.relax_steps, c.ordering_fallback) == (CANDIDATE_MAX_ATOMS, 0.0, 5, True)


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


def test_supercell_widths():
    s = li3n()
    w = perpendicular_widths(s.lattice)
    assert w == pytest.approx([3.648 * np.sqrt(3) / 2, 3.648 * np.sqrt(3) / 2, 3.875], rel=1e-6)
    sc = supercell_for_width(s, 9.0)
    assert sc == (3, 3, 3)
    big = s * sc
    assert perpendicular_widths(big.lattice).min() >= 9.0
    assert supercell_for_width(s, 0.0) == (1, 1, 1)


def test_prepare_batch_goes_on_after_bad_inputs(tmp_path):
    good = tmp_path / "Li3N.json"
    good.write_text(json.dumps(li3n().as_dict()))
    empty = tmp_path / "empty.cif"
    empty.write_text("")
    no_li = REPO / ".test/bad/no-li-SiS4.cif"
    settings = PrepareSettings(mlip="lj", min_width_A=7.0, max_atoms=100, relax_steps=3)
    n_ok, n_bad = prepare_sources({"Li3N": good, "empty": empty, "SiS4": no_li}, settings,
                                  tmp_path / "s.parquet", tmp_path / "r.parquet", progress=False)
    assert (n_ok, n_bad) == (1, 2)
    s = schema.read_table(tmp_path / "s.parquet", "structures").iloc[0]
    # widths 3.159, 3.159, 3.875 A -> 3x3x2 for 7 A: 18 cells of 4 atoms
    assert s["supercell"] == "3x3x2" and s["nsites"] == 72
    assert s["min_width_A"] >= 7.0 and s["relax_steps"] <= 3
    r = schema.read_table(tmp_path / "r.parquet", "rejected").set_index("material_id")
    assert r.loc["empty", "reason"] == "empty.cif: file is empty"
    assert r.loc["SiS4", "reason"] == "no Li in SiS4"
