"""Reading, validation reasons, disorder policy, supercells, relaxation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Molecule, Structure

from ionscreen import schema
from ionscreen.structures.prepare import (
    PrepareSettings,
    StructureError,
    check_structure,
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


def test_candidate_settings_are_one_set_of_defaults():
    import yaml

    from ionscreen.structures.prepare import CANDIDATE_MAX_ATOMS, candidate_settings

    schema = yaml.safe_load((REPO / "config/config.schema.yaml").read_text())
    assert schema["properties"]["screen"]["properties"]["max_atoms"]["default"] == CANDIDATE_MAX_ATOMS
    assert yaml.safe_load((REPO / "config.yaml").read_text())["screen"]["max_atoms"] == CANDIDATE_MAX_ATOMS
    c = candidate_settings(relax_steps=5)
    assert (c.max_atoms, c.min_width_A, c.relax_steps, c.ordering_fallback) == (CANDIDATE_MAX_ATOMS, 0.0, 5, True)


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
    n_ok, n_bad = prepare_sources(
        {"Li3N": good, "empty": empty, "SiS4": no_li},
        settings,
        tmp_path / "s.parquet",
        tmp_path / "r.parquet",
        progress=False,
    )
    assert (n_ok, n_bad) == (1, 2)
    s = schema.read_table(tmp_path / "s.parquet", "structures").iloc[0]
    # widths 3.159, 3.159, 3.875 A -> 3x3x2 for 7 A: 18 cells of 4 atoms
    assert s["supercell"] == "3x3x2" and s["nsites"] == 72
    assert s["min_width_A"] >= 7.0 and s["relax_steps"] <= 3
    r = schema.read_table(tmp_path / "r.parquet", "rejected").set_index("material_id")
    assert r.loc["empty", "reason"] == "empty.cif: file is empty"
    assert r.loc["SiS4", "reason"] == "no Li in SiS4"
