"""FastCifParser gives pymatgen's structure, bit for bit: every CIF in the repository, plus the
parser's corner cases written out (a site given twice by symmetry, mixed and over-full sites)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pymatgen.core import Structure

from ionscreen.structures.cif import FastCifParser, read_cif
from tests.conftest import REPO


def repository_cifs() -> list:
    """The vendored OBELiX CIFs (extracted from their archive on first use) and every other CIF
    in the repository."""
    from ionscreen.structures.obelix import cif_files

    obelix = REPO / "resources/obelix"
    others = (
        p
        for d in ("resources", "tests", "workflow", "config")
        if (REPO / d).is_dir()
        for p in (REPO / d).rglob("*.cif")
        if obelix not in p.parents
    )
    return sorted(cif_files(obelix).values()) + sorted(others)


def _same(a: Structure, b: Structure) -> bool:
    return (
        len(a) == len(b)
        and np.array_equal(a.lattice.matrix, b.lattice.matrix)
        and np.array_equal(a.frac_coords, b.frac_coords)
        and a.labels == b.labels
        and [s.species.as_dict() for s in a] == [s.species.as_dict() for s in b]
        and a.site_properties == b.site_properties
    )


def _both(path):
    out = []
    for read in (Structure.from_file, read_cif):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append(read(path))
        except Exception as exc:  # the same failure is the same answer
            out.append(f"{type(exc).__name__}: {exc}")
    return out


def test_every_repository_cif_reads_as_pymatgen_reads_it():
    cifs = repository_cifs()
    assert len(cifs) >= 260  # 254 OBELiX CIFs and the shipped candidates and training cells
    differ = []
    for path in cifs:
        ref, fast = _both(path)
        if isinstance(ref, str) or isinstance(fast, str):
            ok = ref == fast
        else:
            ok = _same(ref, fast)
        if not ok:
            differ.append(path.name)
    assert differ == []


HEADER = """data_test
_cell_length_a 5.0
_cell_length_b 6.0
_cell_length_c 7.0
_cell_angle_alpha 90
_cell_angle_beta 100
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P -1'
loop_
_symmetry_equiv_pos_as_xyz
 'x, y, z'
 '-x, -y, -z'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
"""


@pytest.mark.parametrize(
    "sites, n_sites",
    [
        # Na is listed at the inversion image of Li's site: pymatgen merges them into one mixed site
        ("Li1 Li 0.1 0.2 0.3 0.5\nNa1 Na -0.1 -0.2 -0.3 0.5\nO1 O 0.5 0.5 0.5 1.0\n", 3),
        # on the inversion centre the two images are one site; a zero occupancy is left out; S and Se
        # closer than the site tolerance (1e-4 in fractions) share a site
        ("Li1 Li 0 0 0 0.7\nLi2 Li 0.25 0.25 0.25 0.0\nS1 S 0.3 0.1 0.9 0.5\nSe1 Se 0.30001 0.1 0.9 0.5\n", 3),
        # Li2's inversion image lies across the cell boundary, within the tolerance of Li1
        ("Li1 Li 0.25 0.5 0.00002 0.5\nLi2 Li 0.75 0.5 0.99999 0.5\nCl1 Cl 0.5 0.5 0.5 1\n", 3),
    ],
)
def test_corner_cases_match_pymatgen(tmp_path, sites, n_sites):
    path = tmp_path / "t.cif"
    path.write_text(HEADER + sites)
    ref, fast = _both(path)
    assert not isinstance(ref, str), ref
    assert _same(ref, fast)
    assert len(fast) == n_sites


def test_overfull_site_fails_as_pymatgen_fails(tmp_path):
    path = tmp_path / "t.cif"
    path.write_text(HEADER + "Li1 Li 0.1 0.2 0.3 0.9\nNa1 Na 0.1 0.2 0.3 0.9\n")
    ref, fast = _both(path)
    assert isinstance(ref, str) and ref == fast
    assert "Invalid CIF file with no structures" in fast


def test_requests_it_does_not_cover_go_to_pymatgen(tmp_path):
    path = tmp_path / "t.cif"
    path.write_text(HEADER + "Li1 Li 0.1 0.2 0.3 1\nO1 O 0.5 0.5 0.5 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prim = FastCifParser(str(path)).parse_structures(primitive=True)[0]
        ref = Structure.from_file(path, primitive=True)
    assert _same(prim, ref)
