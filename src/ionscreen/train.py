"""Train the structure-only predictor on labels + structure embeddings (stage ``train``).

Reads top to bottom: config -> data -> composition-grouped split -> one training loop per seed
(early stopping on validation) -> ensemble checkpoint -> metrics. The checkpoint directory loads
with ``ionscreen.model.load_predictor`` alone.

The full two-level auxiliary-modality learning (dual-modal trainer with trajectory embeddings,
closed-form initialisation, data-level transfer) builds on this predictor; this module trains
its structure path directly (the paper's "no AML" baseline).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ionscreen import __version__, schema
from ionscreen.embed import embeddings_by_material
from ionscreen.model import Batch, StructurePredictor, save_checkpoint

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    # Which label column is the target; the model always learns log10 of it.
    target: str = "msd_final_A2"
    # d_h = 8 in the AML paper: a narrow bottleneck regularises the 2935-d input.
    hidden_dim: int = 8
    # The paper's decoder is 3 x 4000 (ReLU); small data and CPU demos want far less.
    decoder_widths: list[int] = field(default_factory=lambda: [4000, 4000, 4000])
    # Cubic expansion [e, e^2, e^3] of the embedding (ablation switch).
    poly_expansion: bool = True
    # Adam at 1e-3 as in the paper.
    lr: float = 1e-3
    weight_decay: float = 0.0
    # Upper bound; early stopping on validation usually ends sooner.
    epochs: int = 200
    patience: int = 30
    # Materials per optimiser step (the paper uses 1 material with all its temperatures).
    batch_materials: int = 1
    # One model per seed; their spread is the prediction_std.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # Fractions of reduced compositions held out; the test part is never used for any choice.
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    split_seed: int = 0
    # Hidden-space distance quantile (on validation, else training) that marks far_from_training.
    far_quantile: float = 0.95


# ----------------------------------------------------------------------------- data


@dataclass
class Dataset:
    material_ids: list[str]
    groups: list[str]  # reduced formula per sample (splits group by it)
    temperatures: np.ndarray
    y: np.ndarray  # log10 target
    embs: list[np.ndarray]  # per sample (n_li, d)
    elements: list[set[str]]


def load_dataset(labels: pd.DataFrame, embeddings: pd.DataFrame, structures: pd.DataFrame, target: str) -> Dataset:
    """Join labels with embeddings; keep rows with a finite, positive target."""
    if target not in labels.columns:
        raise ValueError(f"target {target!r} is not a labels column; choose one of {list(labels.columns)}")
    embs = embeddings_by_material(embeddings)
    formula = dict(zip(structures["material_id"], structures["reduced_formula"], strict=True))
    from pymatgen.core import Composition

    ok = labels[(labels["status"] == "ok") & np.isfinite(labels[target].astype(float)) & (labels[target].astype(float) > 0)]
    ok = ok[ok["material_id"].isin(embs)]
    dropped = len(labels) - len(ok)
    if dropped:
        log.info("training uses %d of %d label rows (others failed, skipped, non-positive %s or lack embeddings)", len(ok), len(labels), target)
    return Dataset(
        material_ids=list(ok["material_id"]),
        groups=[formula[m] for m in ok["material_id"]],
        temperatures=ok["temperature_K"].to_numpy(float),
        y=np.log10(ok[target].to_numpy(float)),
        embs=[embs[m] for m in ok["material_id"]],
        elements=[{el.symbol for el in Composition(formula[m]).elements} for m in ok["material_id"]],
    )


def grouped_split(groups: list[str], val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """'train' / 'validation' / 'test' per sample; every group lands in exactly one part."""
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    n = len(uniq)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    if n - n_test - n_val < 1:
        raise ValueError(f"{n} compositions are too few for val {val_fraction} and test {test_fraction}")
    part = {g: "test" for g in uniq[:n_test]}
    part.update({g: "validation" for g in uniq[n_test:n_test + n_val]})
    part.update({g: "train" for g in uniq[n_test + n_val:]})
    return np.array([part[g] for g in groups])


# ----------------------------------------------------------------------------- metrics


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from scipy.stats import spearmanr

    n = len(y)
    mae = float(np.mean(np.abs(y - p))) if n else math.nan
    ss = float(np.sum((y - y.mean()) ** 2)) if n else 0.0
    r2 = 1.0 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else math.nan
    rho = float(spearmanr(y, p).statistic) if n > 2 and np.ptp(y) > 0 and np.ptp(p) > 0 else math.nan
    return {"n": n, "mae": mae, "spearman": rho, "r2": r2}


# ----------------------------------------------------------------------------- training


def _loss_on(model: StructurePredictor, x: torch.Tensor, seg: torch.Tensor, y: torch.Tensor, idx: np.ndarray, rows_of: list[np.ndarray]) -> torch.Tensor:
    """L1 loss on samples ``idx`` (rows gathered and renumbered)."""
    rows = np.concatenate([rows_of[i] for i in idx])
    new_seg = np.concatenate([np.full(len(rows_of[i]), k) for k, i in enumerate(idx)])
    out = model(x[rows], torch.from_numpy(new_seg), len(idx))
    return torch.nn.functional.l1_loss(out, y[idx])


def train(
    labels: pd.DataFrame,
    embeddings: pd.DataFrame,
    structures: pd.DataFrame,
    cfg: TrainConfig,
    model_dir: str | Path,
    metrics_out: str | Path | None = None,
    predictions_out: str | Path | None = None,
    *,
    embedding_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the seed ensemble, write the checkpoint directory and the metrics table."""
    t_start = time.perf_counter()
    data = load_dataset(labels, embeddings, structures, cfg.target)
    if len(data.y) < 3:
        raise ValueError(f"only {len(data.y)} usable samples for target {cfg.target!r}: need >= 3")
    split = grouped_split(data.groups, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    train_idx = np.flatnonzero(split == "train")
    val_idx = np.flatnonzero(split == "validation")
    log.info("samples: %d train, %d validation, %d test", len(train_idx), len(val_idx), int((split == "test").sum()))

    # Features and normalisation from the training part only.
    batch = Batch.build(data.embs, data.temperatures, cfg.poly_expansion)
    rows_of = [np.flatnonzero(batch.seg == i) for i in range(batch.n)]
    train_rows = np.concatenate([rows_of[i] for i in train_idx])
    x_mean = batch.x[train_rows].mean(axis=0)
    x_std = batch.x[train_rows].std(axis=0)
    # Constant columns pass through unchanged. The temperature term's 1 is the bias-free encoder's
    # only bias: centred to 0, LayerNorm(W x) would be blind to the scale of x.
    const = x_std < 1e-8
    x_mean[const], x_std[const] = 0.0, 1.0
    y_mean, y_std = float(data.y[train_idx].mean()), float(data.y[train_idx].std() or 1.0)
    x = torch.from_numpy(((batch.x - x_mean) / x_std).astype(np.float32))
    seg = torch.from_numpy(batch.seg)
    y = torch.from_numpy(((data.y - y_mean) / y_std).astype(np.float32))

    # Samples of one material go together (the paper batches per material).
    by_material: dict[str, list[int]] = {}
    for i in train_idx:
        by_material.setdefault(data.material_ids[i], []).append(int(i))
    mats = list(by_material)
    select_on = val_idx if len(val_idx) else train_idx
    if not len(val_idx):
        log.warning("no validation compositions: early stopping falls back to the training loss")

    members: list[StructurePredictor] = []
    history: list[dict[str, Any]] = []
    for seed in cfg.seeds:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = StructurePredictor(x.shape[1], cfg.hidden_dim, cfg.decoder_widths)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, best_state, best_epoch, waited = math.inf, None, -1, 0
        for epoch in range(cfg.epochs):
            model.train()
            order = rng.permutation(len(mats))
            for start in range(0, len(order), cfg.batch_materials):
                idx = np.array([i for m in order[start:start + cfg.batch_materials] for i in by_material[mats[m]]])
                opt.zero_grad()
                loss = _loss_on(model, x, seg, y, idx, rows_of)
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                val_loss = float(_loss_on(model, x, seg, y, select_on, rows_of)) * y_std
            if val_loss < best - 1e-6:
                best, best_epoch, waited = val_loss, epoch, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= cfg.patience:
                    break
        assert best_state is not None
        model.load_state_dict(best_state)
        model.eval()
        members.append(model)
        history.append({"seed": seed, "best_epoch": best_epoch, "selection_mae": best, "epochs_run": epoch + 1})
        log.info("seed %d: best selection MAE %.4f (log10) at epoch %d", seed, best, best_epoch)

    # Ensemble predictions on every sample (in log10 target units) and hidden vectors.
    with torch.no_grad():
        preds = np.stack([m(x, seg, batch.n).numpy() * y_std + y_mean for m in members])
        hidden = np.concatenate([m.pooled(x, seg, batch.n).numpy() for m in members], axis=1)
    pred = preds.mean(axis=0)
    pred_std = preds.std(axis=0, ddof=1) if len(members) > 1 else np.zeros_like(pred)

    # far_from_training threshold: distances of held-out (else training, leave-one-out) samples.
    train_h = hidden[train_idx]
    if len(val_idx):
        ref = np.linalg.norm(hidden[val_idx][:, None] - train_h[None], axis=-1).min(axis=1)
    else:
        d = np.linalg.norm(train_h[:, None] - train_h[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        ref = d.min(axis=1)
    far_threshold = float(np.quantile(ref[np.isfinite(ref)], cfg.far_quantile)) if np.isfinite(ref).any() else math.inf

    metrics = []
    for part in ("train", "validation", "test"):
        sel = split == part
        if not sel.any():
            continue
        for temp in [math.nan, *sorted(set(data.temperatures[sel]))]:
            s = sel & (np.isnan(temp) | (data.temperatures == temp))
            metrics.append({"split": part, "temperature_K": temp, "target": f"log10_{cfg.target}",
                            **regression_metrics(data.y[s], pred[s])})
    train_elements = sorted(set().union(*(data.elements[i] for i in train_idx)))
    meta = {
        "version": __version__,
        "target_column": cfg.target,
        "target": f"log10_{cfg.target}",
        "config": asdict(cfg),
        "architecture": {"in_dim": int(x.shape[1]), "hidden_dim": cfg.hidden_dim,
                         "decoder_widths": list(cfg.decoder_widths)},
        "poly_expansion": cfg.poly_expansion,
        "y_mean": y_mean, "y_std": y_std,
        "training_elements": train_elements,
        "temperature_range_K": [float(data.temperatures[train_idx].min()), float(data.temperatures[train_idx].max())],
        "training_materials": sorted(set(data.material_ids[i] for i in train_idx)),
        "far_threshold": far_threshold,
        "embedding": embedding_meta or {},
        "history": history,
        "train_seconds": time.perf_counter() - t_start,
    }
    save_checkpoint(model_dir, members, x_mean=x_mean, x_std=x_std, train_hidden=train_h, meta=meta)
    if metrics_out:
        schema.write_table(metrics, metrics_out, "metrics", config=asdict(cfg))
    if predictions_out:
        schema.write_table(
            pd.DataFrame({"material_id": data.material_ids, "temperature_K": data.temperatures,
                          "split": split, "y_log10": data.y, "prediction": pred,
                          "prediction_std": pred_std}),
            predictions_out, "training_predictions", target=meta["target"])
    log.info("trained %d members in %.1f s", len(members), meta["train_seconds"])
    return meta
