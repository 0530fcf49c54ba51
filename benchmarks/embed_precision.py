"""Embedding precision: each engine's float32 embeddings and a model's predictions on them, against
the same embedding evaluated in float64 (``FirstBlock.double()``), on the 254 OBELiX training CIFs.

    python benchmarks/embed_precision.py --model results/model

The engines: ``e3nn`` (SevenNet as sevenn builds it: the plain path), ``fasttp`` (its convolution
regrouped) and ``firstblock`` (the default on CPUs). Prints, per engine, the largest embedding
difference and the largest prediction difference (log10 units, 4 temperatures), with the count of
materials above 1e-5, and the time each engine takes for the whole set.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="results/model", help="model directory (make screen writes results/model)")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[600.0, 800.0, 1000.0, 1200.0])
    a = ap.parse_args()
    from ionscreen import mlip
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.learn.model import load_predictor
    from ionscreen.screen.readers import prepare_worker
    from ionscreen.structures import obelix
    from ionscreen.structures.prepare import candidate_settings
    from ionscreen.structures.sources import material_id

    mlip.set_threads(1)
    settings, known = candidate_settings(device="cpu"), mlip.known_elements("7net-0")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "obelix"
        folder.mkdir()
        (folder / "train_cifs.tar.gz").symlink_to(REPO / "resources/obelix/train_cifs.tar.gz")
        files = sorted(obelix.cif_files(folder).values())
        graphs = [
            g
            for g in (
                prepare_worker((material_id(f), str(f), str(f), settings, known, 5.0, "given", False))[0] for f in files
            )
            if g is not None
        ]
    graphs = [g["_graph"] for g in graphs]
    predictor = load_predictor(a.model)

    def embed(embedder: SevenNetEmbedder) -> tuple[list[np.ndarray], float]:
        t0, out = time.perf_counter(), []
        for k in range(0, len(graphs), 8):
            out += embedder.atom_embeddings(graphs[k : k + 8], specie="Li")
        return out, time.perf_counter() - t0

    exact = SevenNetEmbedder(device="cpu", engine="firstblock")
    exact.block.double()  # every weight, feature and sum in float64, from the float64 edge vectors
    ref, _ = embed(exact)
    ref_pred = predictor.predict_materials(ref, a.temperatures)[0]
    print(f"{len(graphs)} materials, {sum(len(e) for e in ref)} Li atoms; against float64 embeddings:")
    print(f"{'engine':11s} {'max |emb diff|':>15s} {'max |pred diff|':>16s} {'> 1e-5':>7s} {'seconds':>8s}")
    for engine in ("e3nn", "fasttp", "firstblock"):
        embs, secs = embed(SevenNetEmbedder(device="cpu", engine=engine))
        diff = np.abs(predictor.predict_materials(embs, a.temperatures)[0] - ref_pred).max(axis=1)
        emb = max(float(np.abs(x - y).max()) for x, y in zip(embs, ref, strict=True))
        print(f"{engine:11s} {emb:15.2e} {diff.max():16.2e} {int((diff > 1e-5).sum()):7d} {secs:8.2f}")


if __name__ == "__main__":
    main()
