"""Structure-embedding throughput: batched SevenNet-0 forward passes against one structure per call,
on the 254 vendored OBELiX training CIFs after ordering (no supercell, no relaxation), same run.

    python benchmarks/embed_throughput.py [--max-atoms 400] [--batch-atoms N] [--device auto]
"""

from __future__ import annotations

import argparse
import collections
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ionscreen import mlip
from ionscreen.embed.structure import SevenNetEmbedder
from ionscreen.structures.ordering import order_structure
from ionscreen.structures.prepare import StructureError, check_structure, read_structure

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-atoms", type=int, default=400)
    ap.add_argument("--batch-atoms", type=int, default=None, help="default: 256 on CPU, 8192 on GPU")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="only the first N CIFs (a quick check)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings of each path")
    a = ap.parse_args()
    mlip.set_threads(a.threads)
    known = mlip.known_elements("7net-0")

    t0 = time.perf_counter()
    items, rejected = [], collections.Counter()
    n_ordered = 0
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(REPO / "resources/obelix/train_cifs.tar.gz") as tar:
            tar.extractall(tmp, filter="data")
        cifs = sorted(Path(tmp).rglob("*.cif"))[: a.limit]
        for f in cifs:
            try:
                s = read_structure(f)
                check_structure(s, known_elements=known)
                o = order_structure(s, seed=0, max_atoms=a.max_atoms)
                n_ordered += o.description != "none"
                items.append((f.stem, o.structure))
            except StructureError as exc:
                rejected[str(exc).split(":")[0].split(" (")[0][:70]] += 1
    t_order = time.perf_counter() - t0
    sizes = np.array([len(s) for _, s in items])
    print(
        f"{len(cifs)} OBELiX CIFs: {len(items)} usable ({n_ordered} ordered from partial occupancies), "
        f"{sum(rejected.values())} rejected; read+order {t_order:.1f} s"
    )
    for reason, n in rejected.most_common():
        print(f"  rejected x{n}: {reason}")
    print(
        f"atoms per structure: min {sizes.min()}, median {int(np.median(sizes))}, "
        f"90th pct {int(np.percentile(sizes, 90))}, max {sizes.max()}, total {sizes.sum()}"
    )

    emb = SevenNetEmbedder("7net-0", 10, "full", a.device)
    device = mlip.resolve_device(a.device)
    emb.atom_embeddings([items[0][1]])  # warm-up

    def run_batched():
        return emb(items, batch_atoms=a.batch_atoms, progress=False)

    def run_single():
        return [row for item in items for row in emb([item], batch_atoms=a.batch_atoms, progress=False)]

    # Alternate the two, best of three each: timings on a shared 2-core machine vary by ~20 %.
    times: dict[str, list[float]] = {"batched": [], "single": []}
    for _ in range(a.repeats):
        for name, fn in (("batched", run_batched), ("single", run_single)):
            t0 = time.perf_counter()
            rows = fn()
            times[name].append(time.perf_counter() - t0)
            if name == "batched":
                batched = rows
            else:
                single = rows
    t_batch, t_single = min(times["batched"]), min(times["single"])
    diff = max(float(np.abs(x["embedding"] - y["embedding"]).max()) for x, y in zip(batched, single, strict=True))
    print(
        f"SevenNet-0 layer 10 on {device}, {a.threads} threads: batched ({a.batch_atoms or emb.default_batch_atoms()} atoms/pass) "
        f"{len(items) / t_batch:.1f} structures/s ({t_batch:.1f} s); one at a time {len(items) / t_single:.1f} "
        f"structures/s ({t_single:.1f} s); ratio {t_single / t_batch:.2f}x; {len(batched)} Li rows; "
        f"max |batched - single| {diff:.1e}"
    )


if __name__ == "__main__":
    main()
