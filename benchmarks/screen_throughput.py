"""Screening throughput: (structure x temperature) predictions per second for the 254 OBELiX
training CIFs at 4 temperatures, with the time of each stage (read/order, embed, predict).

Reference: the AML paper screened 419 materials in 14 s on an RTX A6000 (~30 materials/s).

    python benchmarks/screen_throughput.py --model results/model [--device auto]
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]
PAPER_MATERIALS, PAPER_SECONDS = 419, 14.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="results/model", help="model directory (make screen writes results/model)")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[600.0, 800.0, 1000.0, 1200.0])
    ap.add_argument("--max-atoms", type=int, default=400)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    t_start = time.perf_counter()
    from ionscreen import mlip, schema
    from ionscreen.embed import SevenNetEmbedder
    from ionscreen.model import load_predictor
    from ionscreen.predict import predict_table
    from ionscreen.structures import PrepareSettings, prepare_many, structure_from_row

    mlip.set_threads(a.threads)
    predictor = load_predictor(a.model)
    emb_meta = predictor.meta.get("embedding", {})
    embedder = SevenNetEmbedder(emb_meta.get("model", "7net-0"), int(emb_meta.get("layer", 10)),
                                emb_meta.get("variant", "full"), a.device)
    t_load = time.perf_counter() - t_start

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(REPO / "resources/obelix/train_cifs.tar.gz") as tar:
            tar.extractall(tmp, filter="data")
        files = sorted(Path(tmp).rglob("*.cif"))
        t0 = time.perf_counter()
        ok, bad = prepare_many([(f.stem, str(f), f) for f in files],
                               PrepareSettings(min_width_A=0.0, max_atoms=a.max_atoms, relax_steps=0),
                               relax=False, progress=False)
        t_read = time.perf_counter() - t0
    structures = pd.DataFrame(ok, columns=schema.spec("structures").column_names)
    t0 = time.perf_counter()
    rows = embedder([(r["material_id"], structure_from_row(r)) for r in ok], progress=False)
    t_embed = time.perf_counter() - t0
    embeddings = pd.DataFrame(rows, columns=schema.spec("embeddings").column_names)
    t0 = time.perf_counter()
    pred = predict_table(predictor, structures, embeddings, a.temperatures)
    t_pred = time.perf_counter() - t0

    n, n_pred = len(ok), len(pred)
    total = t_read + t_embed + t_pred
    device = mlip.resolve_device(a.device)
    print(f"{len(files)} CIFs -> {n} screened, {len(bad)} rejected (see benchmarks/embed_throughput.py for reasons)")
    print(f"stage times on {device} ({a.threads} threads): read/order {t_read:.2f} s, embed {t_embed:.2f} s, "
          f"predict {t_pred:.3f} s; total {total:.2f} s (+{t_load:.1f} s loading models)")
    print(f"throughput: {n_pred / total:.1f} (structure x temperature) predictions/s, {n / total:.1f} materials/s "
          f"at {len(a.temperatures)} temperatures")
    paper = PAPER_MATERIALS / PAPER_SECONDS
    print(f"AML paper: {PAPER_MATERIALS} materials in {PAPER_SECONDS:g} s on an RTX A6000 = {paper:.1f} materials/s; "
          f"ratio ours/paper {n / total / paper:.2f}x (with model loading: {n / (total + t_load) / paper:.2f}x)")


if __name__ == "__main__":
    main()
