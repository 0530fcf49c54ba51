"""CIF reading: pymatgen's ``CifParser`` with the symmetry expansion done per site in numpy.

pymatgen builds a CIF's unit cell by applying every symmetry operation to every atom-site
coordinate and testing each image against every site found so far, one image at a time
(``CifParser._unique_coords`` and ``get_matching_coord`` in ``_get_structure``). For a 48-operation
space group with a dozen sites that is thousands of small array allocations: on the 254 OBELiX
CIFs it was 60 % of the time spent reading them.

``FastCifParser`` keeps every decision of pymatgen's parser (version 2026.10.16 was read): the
same operations applied with the same arithmetic (``SymmOp.operate``'s affine product), the same
wrap into [0, 1), the same periodic tolerance test (``find_in_coord_list_pbc``: each fractional
component within ``site_tolerance`` after removing the nearest integer), the same first-match rule
and order of sites, occupancies and labels. It tests all images of one site at once against the
sites found so far, then keeps the images that match neither those nor an earlier image of the
same site. Everything else (text parsing, lattice, symmetry operations, oxidation states, checks,
sorting) is pymatgen's own code. Files it does not cover (magnetic CIFs, implicit hydrogens,
``primitive``/``symmetrized``/``check_occu=False`` requests) go to pymatgen's code unchanged.

``tests/structures/test_cif.py`` checks that every vendored CIF gives a structure bit-for-bit equal to
``Structure.from_file``'s.
"""

from __future__ import annotations

import functools
import warnings
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Composition, DummySpecies, Element, Lattice, Species, Structure, get_el_sp
from pymatgen.io.cif import CifParser, str2float


def _within(stored: np.ndarray, query: np.ndarray, atol: float) -> np.ndarray:
    """[len(query), len(stored)] bool: ``query[i]`` equals ``stored[j]`` within ``atol`` per
    fractional component modulo lattice translations, as pymatgen's ``find_in_coord_list_pbc``
    decides it (stored minus query, nearest integer removed, strict ``<``)."""
    d = stored[None, :, :] - query[:, None, :]
    d -= np.round(d)
    return np.all(np.abs(d) < atol, axis=2)


def _implicit_hydrogens(symbol: str) -> int:
    """pymatgen's count of implicit hydrogens in a site symbol ('Wat', 'O-H')."""
    return {"Wat": 2, "wat": 2, "O-H": 1}.get(symbol[:3], 0)


def _site_order(species: list[Composition]) -> list[int]:
    """Site order of ``Structure.get_sorted_structure``: ``PeriodicSite.__lt__`` (average
    electronegativity, then the species string) with the same comparisons, so NaN electronegativities
    sort as pymatgen sorts them; each distinct occupancy is looked at once."""
    from pymatgen.core.sites import PeriodicSite

    keys: dict[int, tuple[float, str]] = {}
    per_site = []
    for comp in species:
        if id(comp) not in keys:  # sites of one CIF site share their Composition object
            site = PeriodicSite(comp, (0.0, 0.0, 0.0), Lattice.cubic(1.0), skip_checks=True)
            keys[id(comp)] = (comp.average_electroneg, site.species_string)
        per_site.append(keys[id(comp)])

    def before(a: int, b: int) -> int:
        (xa, sa), (xb, sb) = per_site[a], per_site[b]
        if xa < xb:
            return -1
        if xa > xb:
            return 0
        return -1 if sa < sb else 0

    return sorted(range(len(species)), key=functools.cmp_to_key(before))


class FastCifParser(CifParser):
    """``CifParser`` whose structure building tests symmetry images in numpy (see the module)."""

    def _images(self, coord: Any) -> np.ndarray:
        """[n_ops, 3] images of a fractional coordinate, each as ``SymmOp.operate`` computes it."""
        point = np.append(np.asarray(coord, dtype=float), 1.0)
        return np.array([np.dot(op.affine_matrix, point)[:3] for op in self.symmetry_operations])

    def _unique_coords(
        self, coords: Any, magmoms: Any = None, lattice: Any = None, labels: dict | None = None
    ) -> tuple[list, list, list]:
        if magmoms:
            return super()._unique_coords(coords, magmoms=magmoms, lattice=lattice, labels=labels)
        from pymatgen.electronic_structure.core import Magmom

        labels = labels or {}
        out = np.zeros((0, 3))
        coords_out: list[np.ndarray] = []
        labels_out: list[str] = []
        for tmp_coord in coords:
            images = self._images(tmp_coord)
            images = images - np.floor(images)
            new = ~_within(out, images, self._site_tolerance).any(axis=1)
            same = _within(images, images, self._site_tolerance)  # [query, stored]
            covered = np.zeros(len(images), dtype=bool)  # matches an image kept before it
            kept: list[int] = []
            for i in np.flatnonzero(new):
                if not covered[i]:
                    kept.append(int(i))
                    covered |= same[:, i]
            if kept:
                out = np.vstack([out, images[kept]])
                coords_out.extend(images[k] for k in kept)
                labels_out.extend([labels.get(tmp_coord, "no_label")] * len(kept))
        return coords_out, [Magmom(0)] * len(coords_out), labels_out

    def _get_structure(
        self, data: Any, primitive: bool, symmetrized: bool, check_occu: bool = False, min_thickness: float = 0.01
    ) -> Structure | None:
        # Each site's symbol: its type symbol where the CIF gives them, else its label (as pymatgen reads it).
        typed = "_atom_site_type_symbol" in data.data
        symbols = data["_atom_site_type_symbol"] if typed else data["_atom_site_label"]
        if (
            primitive
            or symmetrized
            or not check_occu
            or self.feature_flags["magcif"]
            or self.feature_flags["magcif_incommensurate"]
            or any(_implicit_hydrogens(s) for s in symbols)
        ):
            return super()._get_structure(
                data, primitive, symmetrized, check_occu=check_occu, min_thickness=min_thickness
            )
        lattice = self.get_lattice(data)
        if lattice is not None:
            thickness = [lattice.d_hkl((1, 0, 0)), lattice.d_hkl((0, 1, 0)), lattice.d_hkl((0, 0, 1))]
            if any(t < min_thickness for t in thickness):
                raise ValueError(f"{thickness=} Å below threshold, double check your structure.")
        self.symmetry_operations = self.get_symops(data)
        oxi_states = self._parse_oxi_states(data)

        # Sites of the CIF, merged where one is a symmetry image of an earlier one (mixed sites).
        keys: list[tuple[float, float, float]] = []
        key_array = np.zeros((0, 3))
        coord_to_species: dict[tuple[float, float, float], Composition] = {}
        labels: dict[tuple[float, float, float], str] = {}
        for idx, label in enumerate(data["_atom_site_label"]):
            symbol = self._parse_symbol(symbols[idx])
            if not symbol:
                continue
            if oxi_states is not None:
                o_s = oxi_states.get(symbol, 0)
                if typed:
                    o_s = oxi_states.get(symbols[idx], o_s)
                try:
                    el: Any = Species(symbol, o_s)
                except Exception:
                    el = DummySpecies(symbol, o_s)
            else:
                el = get_el_sp(symbol)
            try:
                occu = str2float(data["_atom_site_occupancy"][idx])
            except (KeyError, ValueError):
                occu = 1
            if occu <= 0:
                continue
            coord = (
                str2float(data["_atom_site_fract_x"][idx]),
                str2float(data["_atom_site_fract_y"][idx]),
                str2float(data["_atom_site_fract_z"][idx]),
            )
            comp = Composition({el: max(occu, 1e-8)})
            match = None
            if keys:
                hits = _within(key_array, self._images(coord), self._site_tolerance)
                first_op = np.flatnonzero(hits.any(axis=1))
                if len(first_op):
                    match = keys[int(np.flatnonzero(hits[first_op[0]])[0])]
            if match is None:
                keys.append(coord)
                key_array = np.vstack([key_array, np.asarray(coord, dtype=float)[None]])
                coord_to_species[coord] = comp
                labels[coord] = label
            else:
                coord_to_species[match] += comp
                labels[match] = label

        sums = [sum(c.values()) for c in coord_to_species.values() if set(c.elements) != {Element("O"), Element("H")}]
        if any(o > 1 for o in sums):
            msg = (
                f"Some occupancies ({[o for o in sums if o > 1]}) sum to > 1! If they are within the "
                f"occupancy_tolerance, they will be rescaled. The current occupancy_tolerance is set to: "
                f"{self._occupancy_tolerance}"
            )
            warnings.warn(msg, stacklevel=2)
            self.warnings.append(msg)

        all_species: list[Composition] = []
        all_coords: list[Any] = []
        all_labels: list[str] = []
        for comp, group in groupby(sorted(coord_to_species.items(), key=lambda x: x[1]), key=lambda x: x[1]):
            coords, _, new_labels = self._unique_coords([site[0] for site in group], labels=labels)
            all_coords.extend(coords)
            all_species.extend(len(coords) * [comp])
            all_labels.extend(new_labels)
        for idx, species in enumerate(all_species):
            total = sum(species.values())
            if total > self._occupancy_tolerance:
                raise ValueError(f"Occupancy {total} exceeded tolerance.")
            if total > 1:
                all_species[idx] = species / total
        if not all_species:
            return None
        order = _site_order(all_species)
        struct = Structure(
            lattice,
            [all_species[k] for k in order],
            [all_coords[k] for k in order],
            site_properties={},
            labels=[all_labels[k] for k in order] if any(all_labels) else None,
        )
        if self.check_cif:
            reason = self.check(struct)
            if reason is not None:
                warnings.warn(reason, stacklevel=2)
        return struct


def read_cif(path: str | Path) -> Structure:
    """The first structure of a CIF file, as ``Structure.from_file(path)`` reads it."""
    return FastCifParser(str(path)).parse_structures(primitive=False)[0]
