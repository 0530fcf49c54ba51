"""Regenerate the structures shipped for the default (embedded) configuration.

Run from the repository root:  python resources/structures/make_structures.py SHARED_OBELIX_CIF_DIR
Textbook crystals are built from published room-temperature lattice data (cited per entry);
pymatgen's bundled Li structures are copied; OBELiX CIFs (CC BY 4.0, resources/obelix/) are
copied under the id ``obelix-<ID>``. Training and candidate sets share no composition.
"""

import json
import shutil
import sys
from pathlib import Path

import pymatgen.util
from pymatgen.core import Lattice, Structure

HERE = Path(__file__).parent
PMG = Path(pymatgen.util.__file__).parent / "structures"


def rocksalt(a, cation, anion):
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def antifluorite(a, anion):
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Li", anion], [[0.25, 0.25, 0.25], [0, 0, 0]])


TEXTBOOK = {
    # id: (structure, reference)
    "train": {
        "Li3N": (Structure.from_spacegroup("P6/mmm", Lattice.hexagonal(3.648, 3.875), ["N", "Li", "Li"],
                                           [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0]]),
                 "Rabenau & Schulz, J. Less-Common Met. 50, 155 (1976): a 3.648, c 3.875 A"),
        "Li2S": (antifluorite(5.708, "S"), "Zintl, Harder & Dauth, Z. Elektrochem. 40, 588 (1934): a 5.708 A"),
        "LiF": (rocksalt(4.0263, "Li", "F"), "Wyckoff, Crystal Structures vol. 1 (1963): a 4.0263 A"),
        "LiCl": (rocksalt(5.1295, "Li", "Cl"), "Wyckoff, Crystal Structures vol. 1 (1963): a 5.1295 A"),
        "LiCoO2": (Structure.from_spacegroup("R-3m", Lattice.hexagonal(2.8156, 14.0542), ["Li", "Co", "O"],
                                             [[0, 0, 0.5], [0, 0, 0], [0, 0, 0.2396]]),
                   "Akimoto, Gotoh & Oosawa, J. Solid State Chem. 141, 298 (1998): a 2.8156, c 14.0542 A, z(O) 0.2396"),
    },
    "candidates": {
        "LiBr": (rocksalt(5.5013, "Li", "Br"), "Wyckoff, Crystal Structures vol. 1 (1963): a 5.5013 A"),
        "LiI": (rocksalt(6.000, "Li", "I"), "Wyckoff, Crystal Structures vol. 1 (1963): a 6.000 A"),
        "Li2Se": (antifluorite(6.002, "Se"), "Zintl, Harder & Dauth, Z. Elektrochem. 40, 588 (1934): a 6.002 A"),
        "Li2Te": (antifluorite(6.517, "Te"), "Zintl, Harder & Dauth, Z. Elektrochem. 40, 588 (1934): a 6.517 A"),
    },
}
PYMATGEN = {"train": ["Li2O", "Li2O2"], "candidates": ["LiFePO4", "Li10GeP2S12"]}
OBELIX = {"train": ["11b", "qbb"], "candidates": ["0iv", "bsa", "h6c", "jqc"]}


def main(obelix_cifs: Path) -> None:
    sources = {}
    for part in ("train", "candidates"):
        out = HERE / part
        out.mkdir(exist_ok=True)
        for name, (s, ref) in TEXTBOOK[part].items():
            prim = s.get_primitive_structure()
            (out / f"{name}.json").write_text(json.dumps(prim.as_dict(), indent=1))
            sources[f"{part}/{name}.json"] = ref
        for name in PYMATGEN[part]:
            shutil.copy(PMG / f"{name}.json", out / f"{name}.json")
            sources[f"{part}/{name}.json"] = "pymatgen/util/structures (bundled with pymatgen)"
        for oid in OBELIX[part]:
            shutil.copy(obelix_cifs / f"{oid}.cif", out / f"obelix-{oid}.cif")
            sources[f"{part}/obelix-{oid}.cif"] = f"OBELiX training split, entry {oid} (CC BY 4.0, see resources/obelix)"
    (HERE / "SOURCES.json").write_text(json.dumps(sources, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
