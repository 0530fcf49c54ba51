"""The plan of the LiFlow protocol at full scale: 4,186 materials x 4 temperatures (600-1200 K) x
25 ps at 1 fs (25,000 steps a run), from a rate measured on this device (or a rate file).

The campaign's structures are not at hand here, so their sizes come from the 254 vendored OBELiX
CIFs prepared as the science settings prepare them (ordered, supercell with every width >= 9 A,
<= 200 atoms; no relaxation: positions barely change the pair count): 4,186 sizes (atoms, edges
within the MLIP's cutoff) drawn from them with a fixed seed. The probe runs the real engine on
alpha-Li3N supercells of 72-200 atoms: unrelaxed OBELiX cells diverge within frames at 1200 K (a
campaign's own are relaxed first), and the probe's cost per edge carries over between
structures. Plain baseline: the same atom-steps at the per-thread figure this
project quotes (190 atom-steps/s on a CPU), which ignores how much denser one cell is than
another.

    python benchmarks/plan_liflow.py                           # probe here (CPU: md.batch_atoms 400)
    python benchmarks/plan_liflow.py --rates gpu-rates.parquet --devices 8   # from a GPU's rate
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]
QUOTED_CPU_RATE = 190.0  # atom-steps/s per thread (README)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--materials", type=int, default=4186)
    ap.add_argument("--batch-atoms", type=int, default=None, help="default: 400 on a CPU, 8192 on a GPU")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--probe-s", type=float, default=60.0)
    ap.add_argument("--rates", default=None, help="a rates.parquet: plan from it, probe nothing")
    ap.add_argument("--rates-out", default=None, help="keep the probe's rate in this rates.parquet")
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="only the first N OBELiX CIFs (a quick check)")
    a = ap.parse_args()

    from dataclasses import replace

    from pymatgen.io.ase import AseAtomsAdaptor

    from ionscreen import mlip
    from ionscreen.md.engine import MDSettings
    from ionscreen.md.plan import PlanSettings, Run, plan_campaign, render
    from ionscreen.md.probe import edges, probe
    from ionscreen.md.rates import find_rate, read_rates, write_rate
    from ionscreen.structures.prepare import (
        PrepareSettings,
        StructureError,
        prepare_structure,
        read_structure,
        structure_from_row,
    )
    from ionscreen.structures.sources import material_files

    device = mlip.resolve_device(a.device)
    batch_atoms = a.batch_atoms or (400 if device == "cpu" else 8192)
    files = material_files([{"type": "obelix", "path": "resources/obelix"}], REPO)
    settings = PrepareSettings(min_width_A=9.0, max_atoms=200, relax_steps=0)
    known = mlip.known_elements("7net-0")
    t0 = time.perf_counter()
    atoms_of = {}
    for mid, f in list(files.items())[: a.limit]:
        try:
            row = prepare_structure(read_structure(f), settings, None, known)
        except StructureError:
            continue
        atoms_of[mid] = AseAtomsAdaptor.get_atoms(structure_from_row(row))
    md = MDSettings(
        n_steps=25_000,
        timestep_fs=1.0,
        interval=10,
        stop="converged",
        ladder=True,
        device=a.device,
        threads=a.threads,
        batch_atoms=batch_atoms,
    )
    rate = find_rate(read_rates(a.rates), md) if a.rates else None
    cutoff = rate.cutoff_A if rate else mlip.cutoff_A(md.mlip)
    sizes = {m: (len(x), edges(x, cutoff)) for m, x in atoms_of.items()}
    print(
        f"{len(files)} OBELiX CIFs -> {len(sizes)} prepared (9 A, <= 200 atoms) in {time.perf_counter() - t0:.0f} s; "
        f"atoms median {int(np.median([s[0] for s in sizes.values()]))}, edges per atom median "
        f"{np.median([s[1] / s[0] for s in sizes.values()]):.0f}"
    )
    if rate is None:
        from pymatgen.core import Lattice, Structure

        li3n = Structure.from_spacegroup(
            "P6/mmm", Lattice.hexagonal(3.648, 3.875), ["N", "Li", "Li"], [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0]]
        )
        cells = {"Li3N-72": (3, 3, 2), "Li3N-128": (4, 4, 2), "Li3N-192": (4, 4, 3), "Li3N-200": (5, 5, 2)}
        per_job = max(1, batch_atoms // 200)
        rate = probe(
            {k: AseAtomsAdaptor.get_atoms(li3n * rep) for k, rep in cells.items()},
            replace(md, temperature_K=1200.0, stop="fixed", ladder=False),
            probe_s=a.probe_s,
            max_runs=per_job,
        )
        if a.rates_out:
            write_rate(a.rates_out, rate)
    print(f"rate: {rate.device_name}: {rate.sample} (probe {rate.probe_s:.0f} s)")

    rng = np.random.default_rng(0)
    ids = sorted(sizes)
    drawn = [ids[k] for k in rng.integers(0, len(ids), a.materials)]
    temps = [1200.0, 1000.0, 800.0, 600.0]
    per_job = max(1, batch_atoms // 200)
    runs = []
    for t in temps:
        for j in range(0, len(drawn), per_job):
            for k, mid in enumerate(drawn[j : j + per_job]):
                atoms, e = sizes[mid]
                runs.append(Run(f"{t:g}K-{j // per_job:05d}", f"{mid}-{j + k}", t, atoms, e, t == max(temps)))
    plan = PlanSettings(devices=a.devices)
    for stop, ladder in (("fixed", False), ("converged", True)):
        s = replace(md, stop=stop, ladder=ladder)
        table, _ = plan_campaign(runs, s, rate, plan)
        title = (
            f"LiFlow protocol: {a.materials:,} materials x 4 T x 25 ps (1 fs), md.stop {stop}, "
            f"md.ladder {str(ladder).lower()}"
        )
        print()
        print(render(table, rate, title=title))
    atom_steps = sum(r.atoms for r in runs) * 25_000
    print(
        f"\nplain baseline ({QUOTED_CPU_RATE:.0f} atom-steps/s per CPU thread, every run to 25 ps): "
        f"{atom_steps / QUOTED_CPU_RATE / 3600:,.0f} h"
    )


if __name__ == "__main__":
    main()
