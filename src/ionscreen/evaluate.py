"""The AML paper's table for a model trained on an ingested LiFlow set (METHOD.md section 5).

``paper_table`` takes the data set's own test split, times inference from structure alone (SevenNet
embedding + the predictor ensemble, as a screening user would run it), and writes the MAE of the
log10 target per temperature next to the published figures for LiFlow's 419 test materials.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen import schema

log = logging.getLogger(__name__)

PUBLISHED_SOURCE = "published: AML paper on LiFlow's 419 test materials (METHOD.md section 5)"
# method -> (inference seconds for 419 materials or NaN, {T: MAE of log10 MSD})
PUBLISHED: dict[str, tuple[float, dict[int, float]]] = {
    "LiFlow (autoregressive generator)": (2910.0, {600: 0.378, 800: 0.392, 1000: 0.457, 1200: 0.407}),
    "DenseGNN": (29.0, {600: 0.412, 800: 0.472, 1000: 0.531, 1200: 0.523}),
    "random forest": (math.nan, {600: 0.465, 800: 0.582, 1000: 0.705, 1200: 0.816}),
    "AML without model-level learning": (math.nan, {600: 0.395, 800: 0.428, 1000: 0.473, 1200: 0.467}),
    "AML, gradient distillation": (math.nan, {600: 0.354, 800: 0.406, 1000: 0.455, 1200: 0.421}),
    "AML (full)": (14.0, {600: 0.344, 800: 0.367, 1000: 0.402, 1200: 0.390}),
}


def paper_table(model_dir: str | Path, structures_path: str | Path, labels_path: str | Path, out: str | Path,
                *, markdown_out: str | Path | None = None, device: str = "auto", batch_atoms: int | None = None) -> pd.DataFrame:
    """Rows (method, temperature_K, mae, n_test, inference_s, source) for this run and the paper."""
    from ionscreen.embed import SevenNetEmbedder, embeddings_by_material
    from ionscreen.mlip import resolve_device
    from ionscreen.model import Batch, load_predictor
    from ionscreen.structures import structure_from_row

    predictor = load_predictor(model_dir)
    meta = predictor.meta
    target = meta["target_column"]
    labels = schema.read_table(labels_path, "labels")
    if "split" not in labels.columns or not (labels["split"] == "test").any():
        raise ValueError(f"{labels_path} has no test split: the paper table needs the data set's own test part")
    vals = pd.to_numeric(labels[target], errors="coerce")
    test = labels[(labels["split"] == "test") & (labels["status"] == "ok") & (vals > 0)]
    structures = schema.read_table(structures_path, "structures").set_index("material_id")
    mats = sorted(set(test["material_id"]) & set(structures.index))

    # Inference from structure alone, timed end to end: build structures, embed, predict.
    emb_meta = meta.get("embedding") or {}
    embedder = SevenNetEmbedder(emb_meta.get("model", "7net-0"), int(emb_meta.get("layer", 10)),
                                emb_meta.get("variant", "full"), device)
    t0 = time.perf_counter()
    items = [(m, structure_from_row({"structure_json": structures.loc[m, "structure_json"]})) for m in mats]
    by_mat = embeddings_by_material(pd.DataFrame(embedder(items, batch_atoms=batch_atoms, progress=False)))
    samples = [(m, float(t)) for m, t in zip(test["material_id"], test["temperature_K"], strict=True) if m in by_mat]
    batch = Batch.build([by_mat[m] for m, _ in samples], [t for _, t in samples], meta.get("poly_expansion", True))
    pred, _, _ = predictor.predict(batch)
    inference_s = time.perf_counter() - t0

    y = dict(zip(zip(test["material_id"], test["temperature_K"].astype(float), strict=True), np.log10(vals[test.index]), strict=True))
    truth = np.array([y[s] for s in samples])
    temps = np.array([t for _, t in samples])
    method = f"ionscreen {meta.get('route', 'structure-only')} (this run)"
    source = f"this run: {len(mats)} test materials, {resolve_device(device)}"
    out_rows: list[dict[str, Any]] = []
    for T in sorted(set(temps)):
        sel = temps == T
        out_rows.append({"method": method, "temperature_K": float(T), "mae": float(np.mean(np.abs(pred[sel] - truth[sel]))),
                         "n_test": int(sel.sum()), "inference_s": inference_s, "source": source, "target": f"log10_{target}"})
    for name, (secs, maes) in PUBLISHED.items():
        for T, mae in maes.items():
            out_rows.append({"method": name, "temperature_K": float(T), "mae": mae, "n_test": 419,
                             "inference_s": secs, "source": PUBLISHED_SOURCE, "target": "log10_msd"})
    df = pd.DataFrame(out_rows)
    schema.write_table(df, out, "paper_table", model_dir=str(model_dir))
    if markdown_out is not None:
        schema.write_text_atomic(markdown_out, to_markdown(df))
    log.info("paper table: %d test materials predicted in %.2f s", len(mats), inference_s)
    return df


def to_markdown(df: pd.DataFrame) -> str:
    """Methods as rows, temperatures as columns, like the paper."""
    wide = df.pivot_table(index=["method", "inference_s", "n_test"], columns="temperature_K", values="mae", sort=False)
    wide.columns = [f"{c:g} K" for c in wide.columns]
    lines = ["| method | test materials | inference (s) | " + " | ".join(wide.columns) + " |",
             "|---|---|---|" + "---|" * len(wide.columns)]
    for (method, secs, n), r in wide.iterrows():
        cells = " | ".join("" if pd.isna(v) else f"{v:.3f}" for v in r)
        lines.append(f"| {method} | {n} | {'-' if pd.isna(secs) else f'{secs:.2f}'} | {cells} |")
    return "\n".join(lines) + "\n\nMAE of the log10 target; the published rows are log10 MSD on LiFlow's 419 test materials.\n"
