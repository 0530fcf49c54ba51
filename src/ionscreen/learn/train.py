"""Two-level auxiliary-modality learning (stage ``train``; docs/method.md section 4). Reads top to
bottom, from ``learn.config`` through ``learn.routes`` to this module's ``train``:

1. ``TrainConfig`` (``learn.config``): every knob, with the paper's value and why.
2. Data: labels + structure embeddings (+ trajectory embeddings) -> ``Dataset`` -> ``Tensors``
   (features standardised with training statistics; log10 target standardised).
3. A composition-grouped train / validation / test split (seeded; test is never used for a choice).
4. Per seed, one ensemble member, by one of three routes:
   - **AML** (trajectory embeddings available, ``aml: true``): dual-modal trainer g ->
     closed-form (ridge) initialisation of the structure-only predictor f1 (or gradient
     distillation, an ablation) -> fine-tuning of f1 without trajectories.
   - **no AML** (``aml: false``, or no trajectories): f1 from scratch on structures only.
   - **data-level transfer** (``transfer_from: MODEL_DIR``): f2 with g's structure encoder and f1's
     decoder, per-layer learning rates and exponential decay, for data without trajectories (OBELiX).
   Every route runs through ``fit``: one visible epoch loop with early stopping on validation
   (``learn.routes``); ``fit_ensemble`` here runs them per seed.
5. The checkpoint directory (``model.pt`` loads with ``ionscreen.learn.model`` alone; ``trainer.pt``
   keeps g for later transfer) and the metrics table (per split, temperature and seed).

Elsewhere: data ``learn.dataset``, splits ``learn.folds``, metrics ``learn.metrics``, the loss
``learn.model.censored_l1``, skill ``learn.skill.model_skill``, cross-validation ``learn.evaluate``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ionscreen import __version__, schema
from ionscreen.learn.config import TrainConfig
from ionscreen.learn.dataset import Dataset, Tensors, default_split, load_dataset, make_tensors
from ionscreen.learn.meta import ModelMeta
from ionscreen.learn.metrics import metric_rows, training_predictions
from ionscreen.learn.model import (
    DualModalTrainer,
    StructurePredictor,
    far_threshold,
    load_transfer_source,
    save_checkpoint,
    save_trainers,
)
from ionscreen.learn.routes import Run, finetune, from_scratch, init_from_trainer, train_trainer, transfer
from ionscreen.learn.skill import model_skill
from ionscreen.mlip import resolve_device

log = logging.getLogger(__name__)


def route(cfg: TrainConfig, data: Dataset) -> str:
    """Which route step 4 takes: 'transfer', 'aml' or 'structure-only'."""
    if cfg.transfer_from:
        return "transfer"
    if cfg.aml and data.trajs is not None:
        return "aml"
    if cfg.aml:
        log.warning(
            "no trajectory embeddings for this data set: training the STRUCTURE-ONLY predictor "
            "(no auxiliary-modality learning; set train.transfer_from to transfer from an AML model)"
        )
    return "structure-only"


@dataclass
class TrainResult:
    """A trained ensemble and what it says about its data: members (f1 or f2), the AML trainers g
    (empty unless route aml), the model card, metrics rows and per-seed predictions (log10)."""

    members: list[StructurePredictor]
    trainers: list[DualModalTrainer]
    meta: ModelMeta
    tensors: Tensors
    train_hidden: np.ndarray
    data: Dataset
    split: np.ndarray
    metrics: pd.DataFrame
    per_seed: np.ndarray  # (members, samples)


def fit_ensemble(
    data: Dataset, split: np.ndarray, cfg: TrainConfig, embedding_meta: dict[str, Any] | None = None
) -> TrainResult:
    """Step 4 for every seed on ``data`` with ``split`` (train/validation/test per sample)."""
    t_start = time.perf_counter()
    if data.exact.sum() < 3:
        raise ValueError(f"only {int(data.exact.sum())} usable samples for target {cfg.target!r}: need >= 3")
    if data.upper is not None:
        log.info("%d of %d samples are upper bounds (censored targets)", int(data.upper.sum()), len(data.y))
    train_idx, val_idx = np.flatnonzero(split == "train"), np.flatnonzero(split == "validation")
    log.info("samples: %d train, %d validation, %d test", len(train_idx), len(val_idx), int((split == "test").sum()))
    if not len(val_idx):
        log.warning("no validation compositions: early stopping falls back to the training loss")
    select_idx = val_idx if len(val_idx) else train_idx
    how = route(cfg, data)
    source = (
        load_transfer_source(cfg.transfer_from, cfg.poly_expansion, cfg.hidden_dim, cfg.decoder_widths, embedding_meta)
        if how == "transfer"
        else None
    )
    device = resolve_device(cfg.device)
    t = make_tensors(data, train_idx, cfg.poly_expansion, source[2] if source else None).to(device)
    if source is not None and t.x.shape[1] != source[0][0].encoder_x.in_features:
        raise ValueError(
            f"features have {t.x.shape[1]} columns; the transferred encoder expects {source[0][0].encoder_x.in_features}"
        )

    members: list[StructurePredictor] = []
    trainers: list[DualModalTrainer] = []
    history: list[dict[str, Any]] = []
    for k, seed in enumerate(cfg.seeds):
        run = Run(t, data, train_idx, select_idx, cfg, seed)
        if how == "aml":
            g = train_trainer(run, seed)
            members.append(finetune(run, init_from_trainer(run, g, seed), seed))
            trainers.append(g)
        elif how == "transfer":
            assert source is not None
            g_src, f_src = source[0][k % len(source[0])].to(device), source[1][k % len(source[1])].to(device)
            members.append(transfer(run, g_src, f_src, seed))
        else:
            members.append(from_scratch(run, seed))
        history += run.history

    n = len(data.y)
    per_seed = t.predictions(members, lambda m: m(t.x, t.seg, n))
    with torch.no_grad():
        hidden = np.concatenate([m.pooled(t.x, t.seg, n).cpu().numpy() for m in members], axis=1)
    target = f"log10_{cfg.target}"
    model_name = {"aml": "f1 (AML)", "transfer": "f2 (transfer)", "structure-only": "structure-only"}[how]
    metrics = metric_rows(data, split, per_seed, target, model_name)
    if trainers:  # g with trajectories: what the auxiliary modality makes possible, for comparison
        metrics += metric_rows(
            data, split, t.predictions(trainers, lambda g: g(t.x, t.p, t.seg, n)[0]), target, "g (with trajectories)"
        )
    meta = ModelMeta(
        skill=model_skill(data, split, per_seed.mean(axis=0), model_name, cfg.seeds[0]),
        target_column=cfg.target,
        target=target,
        route=how,
        poly_expansion=cfg.poly_expansion,
        architecture={
            "in_dim": int(t.x.shape[1]),
            "hidden_dim": cfg.hidden_dim,
            "decoder_widths": list(cfg.decoder_widths),
        },
        y_mean=t.y_mean,
        y_std=t.y_std,
        training_elements=sorted(set().union(*(data.elements[i] for i in train_idx))),
        temperature_range_K=[float(data.temperatures[train_idx].min()), float(data.temperatures[train_idx].max())],
        training_materials=sorted(set(data.material_ids[i] for i in train_idx)),
        far_threshold=far_threshold(hidden, train_idx, val_idx, cfg.far_quantile),
        config=asdict(cfg),
        embedding=embedding_meta or {},
        trajectory_embedder=data.trajectory_embedder if how == "aml" else None,
        device=device,
        history=history,
        train_seconds=time.perf_counter() - t_start,
        version=__version__,
    )
    log.info("trained %d members (%s, %s) in %.1f s", len(members), how, device, meta.train_seconds)
    return TrainResult(members, trainers, meta, t, hidden[train_idx], data, split, pd.DataFrame(metrics), per_seed)


def write_model(
    res: TrainResult,
    model_dir: str | Path | None,
    metrics_out: str | Path | None = None,
    predictions_out: str | Path | None = None,
) -> None:
    """The checkpoint directory (``model.pt``, ``model.json``, ``trainer.pt`` for AML), the
    metrics table and the training predictions table."""
    t, meta = res.tensors, res.meta
    if model_dir is not None:
        save_checkpoint(
            model_dir, res.members, x_mean=t.x_mean, x_std=t.x_std, train_hidden=res.train_hidden, meta=meta
        )
        if res.trainers:
            arch = {**meta.architecture, "traj_dim": int(t.p.shape[1])}
            save_trainers(
                model_dir, res.trainers, x_mean=t.x_mean, x_std=t.x_std, meta=replace(meta, architecture=arch)
            )
    if metrics_out:
        schema.write_table(res.metrics, metrics_out, "metrics", config=meta.config, route=meta.route)
    if predictions_out:
        schema.write_table(
            training_predictions(res.data, res.split, res.per_seed),
            predictions_out,
            "training_predictions",
            target=meta.target,
        )


def train(
    labels: pd.DataFrame,
    embeddings: pd.DataFrame,
    structures: pd.DataFrame,
    cfg: TrainConfig,
    model_dir: str | Path | None,
    metrics_out: str | Path | None = None,
    predictions_out: str | Path | None = None,
    *,
    trajectories: pd.DataFrame | None = None,
    embedding_meta: dict[str, Any] | None = None,
    split: np.ndarray | None = None,
    data: Dataset | None = None,
) -> TrainResult:
    """Workflow entry: tables -> ``Dataset`` -> split -> ``fit_ensemble`` -> ``write_model``.
    ``split`` (one of train/validation/test per sample of ``data``) overrides the default split
    (cross-validation uses it)."""
    if data is None:
        data = load_dataset(
            labels,
            embeddings,
            structures,
            cfg.target,
            trajectories if cfg.aml and not cfg.transfer_from else None,
            censored=cfg.censored,
        )
    if split is None:
        split = default_split(data, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    res = fit_ensemble(data, split, cfg, embedding_meta)
    write_model(res, model_dir, metrics_out, predictions_out)
    return res
