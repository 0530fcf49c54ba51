"""Fetch-stage figures: all 254 vendored OBELiX CIFs through ordering + 9 A supercell (counts,
rejection codes, atom counts; no relaxation), and the full preparation (order + supercell +
SevenNet-0 relaxation) of one 50-atom structure, timed.

    python benchmarks/prepare_obelix.py [--min-width 9] [--max-atoms 200] [--relax-steps 100]
"""

from __future__ import annotations

import argparse
import collections
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-width", type=float, default=9.0)
    ap.add_argument("--max-atoms", type=int, default=200)
    ap.add_argument("--relax-steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    from pathlib import Path

    from ionscreen import mlip
    from ionscreen.structures.prepare import (
        PrepareSettings,
        StructureError,
        prepare_structure,
        read_structure,
    )
    from ionscreen.structures.sources import material_files

    mlip.set_threads(a.threads)
    repo = Path(__file__).resolve().parents[1]
    files = material_files([{"type": "obelix", "path": "resources/obelix"}], repo)
    settings = PrepareSettings(min_width_A=a.min_width, max_atoms=a.max_atoms, relax_steps=0)
    known = mlip.known_elements("7net-0")
    codes: collections.Counter[str] = collections.Counter()
    sizes, n_ordered = [], 0
    t0 = time.perf_counter()
    for _mid, f in files.items():
        try:
            row = prepare_structure(read_structure(f), settings, None, known)
        except StructureError as exc:
            codes[exc.code] += 1
            continue
        sizes.append(row["nsites"])
        n_ordered += row["ordering"] != "none"
    sizes = np.array(sizes)
    print(
        f"{len(files)} OBELiX CIFs, order + {a.min_width:g} A supercell, <= {a.max_atoms} atoms: {len(sizes)} prepared "
        f"({n_ordered} ordered), {sum(codes.values())} rejected {dict(codes)}; {time.perf_counter() - t0:.1f} s"
    )
    print(
        "atoms after preparation: "
        + ", ".join(f"{q}th pct {int(np.percentile(sizes, q))}" for q in (0, 25, 50, 75, 90, 100))
    )
    hist, edges = np.histogram(sizes, bins=[0, 25, 50, 100, 150, 200])
    print(
        "histogram: "
        + ", ".join(f"{int(lo)}-{int(hi)}: {n}" for lo, hi, n in zip(edges[:-1], edges[1:], hist, strict=True))
    )

    s = read_structure(repo / "resources/structures/candidates/Li10GeP2S12.json")  # orders to 50 atoms
    calc = mlip.get_calculator("7net-0", "cpu")
    for width in (0.0, a.min_width):
        t0 = time.perf_counter()
        row = prepare_structure(
            s, PrepareSettings(min_width_A=width, max_atoms=400, relax_steps=a.relax_steps), calc, known
        )
        print(
            f"Li10GeP2S12 (50 atoms ordered), min width {width:g} A -> {row['nsites']} atoms ({row['supercell']}): "
            f"{time.perf_counter() - t0:.1f} s, {row['relax_steps']} FIRE steps, max force {row['relax_max_force_eV_A']:.3f} eV/A"
        )


if __name__ == "__main__":
    main()
