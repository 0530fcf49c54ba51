"""Two-level auxiliary-modality learning (stage ``train``; docs/method.md section 4). Reads top to bottom:

1. ``TrainConfig``: every knob, with the paper's value and why.
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
   Every route runs through ``fit``: one visible epoch loop with early stopping on validation.
5. The checkpoint directory (``model.pt`` loads with ``ionscreen.learn.model`` alone; ``trainer.pt``
   keeps g for later transfer) and the metrics table (per split, temperature and seed).

Elsewhere: data ``learn.dataset``, splits ``learn.folds``, metrics ``learn.metrics``, the loss
``learn.model.censored_l1``, skill ``learn.skill.model_skill``, cross-validation ``learn.evaluate``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ionscreen import __version__, schema
from ionscreen.learn.dataset import Dataset, Tensors, default_split, load_dataset, make_tensors
from ionscreen.learn.meta import ModelMeta
from ionscreen.learn.metrics import metric_rows, training_predictions
from ionscreen.learn.model import (
    DualModalTrainer,
    StructurePredictor,
    censored_l1,
    far_threshold,
    load_transfer_source,
    ridge_closed_form,
    save_checkpoint,
    save_trainers,
)
from ionscreen.learn.skill import model_skill
from ionscreen.mlip import resolve_device

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    # Which label column is the target; the model always learns log10 of it.
    target: str = "msd_final_A2"
    # d_h = 8 in the AML paper: a narrow bottleneck regularises the 2935-d input.
    hidden_dim: int = 8
    # The paper's decoder is 3 x 4000 (ReLU); small data and CPU demos want far less.
    decoder_widths: list[int] = field(default_factory=lambda: [4000, 4000, 4000])
    # Cubic expansion [e, e^2, e^3] of the embedding (ablation switch: false = e only).
    poly_expansion: bool = True
    # Upper bounds train as censored targets: a non-diffusive MD run's D_upper / sigma_upper, a
    # measured "<1E-10". Only a prediction above the bound costs (hinge), so slow conductors stay
    # in the data instead of biasing it toward fast ones. Metrics use exact labels only.
    censored: bool = True

    # --- Level 1, model-level AML (needs trajectory embeddings of the training set).
    # false = the "no AML" ablation: f1 trained from scratch on structures.
    aml: bool = True
    # closed_form (ridge, the paper's method) or distillation (gradient descent on the same
    # hidden-state target: the paper's weaker alternative, an ablation).
    init: str = "closed_form"
    # Weight of the structure-only term in g's loss; 0 = the "no alpha" ablation.
    alpha: float = 1.0
    trainer_lr: float = 1e-3
    trainer_epochs: int = 50
    # Ridge lambda, relative to mean(diag(X^T X)); the paper finds MAE flat over 1e-7..1e-3.
    ridge_lambda: float = 1e-5
    distill_lr: float = 1e-3
    distill_epochs: int = 200
    # Fine-tuning f1 without trajectories: a small lr keeps the closed-form solution close.
    finetune_lr: float = 1e-5
    finetune_epochs: int = 50

    # --- f1 from scratch (no AML, or a data set without trajectories).
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 200

    # --- Level 2, data-level transfer from a trajectory-trained model directory.
    transfer_from: str | None = None
    # Encoder from g's E_x learns fast; the decoder from f1 barely moves, its last layers least.
    transfer_lr_encoder: float = 1e-2
    transfer_lr_decoder: list[float] = field(default_factory=lambda: [1e-4, 1e-4, 1e-6, 1e-6])
    # Exponential lr decay per epoch: 0.999 over 1000 epochs on OBELiX, 0.99 over 100 on a D set.
    transfer_decay: float = 0.999
    transfer_epochs: int = 1000

    # Early stopping: epochs without a better validation MAE before a loop stops.
    patience: int = 30
    # Materials per optimiser step (the paper uses 1 material with all its temperatures).
    batch_materials: int = 1
    # One model per seed; their spread is the prediction_std, and metrics report mean +- std.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # Fractions of reduced compositions held out; the test part is never used for any choice.
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    split_seed: int = 0
    # Hidden-space distance quantile (on validation, else training) that marks far_from_training.
    far_quantile: float = 0.95
    # auto = cuda when a GPU is visible (the 3 x 4000 decoder is ~170x the cost of 3 x 64 on a CPU).
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.init not in ("closed_form", "distillation"):
            raise ValueError(f"train.init must be closed_form or distillation, not {self.init!r}")


# ----------------------------------------------------------------------------- the pieces


def fit(model: nn.Module, opt: torch.optim.Optimizer, step_loss: Callable[[np.ndarray], torch.Tensor],
        select: Callable[[], float], batches: Callable[[], list[np.ndarray]], *, epochs: int, patience: int,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, name: str = "") -> dict[str, Any]:
    """The training loop: epochs of optimiser steps, then the validation score (log10 MAE);
    keeps the best state (epoch 0 = as given) and stops after ``patience`` epochs without gain."""
    model.eval()
    best, best_epoch, waited = select(), 0, 0
    best_state = copy.deepcopy(model.state_dict())
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in batches():
            opt.zero_grad()
            step_loss(idx).backward()
            opt.step()
        if scheduler is not None:
            scheduler.step()
        model.eval()
        score = select()
        if score < best - 1e-6:
            best, best_epoch, waited = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    log.info("%s: best validation MAE %.4f at epoch %d of %d", name, best, best_epoch, epoch)
    return {"best_epoch": best_epoch, "selection_mae": best, "epochs_run": epoch}


class Run:
    """What one seed's training needs: tensors, parts of the split, batching and scores."""

    def __init__(self, t: Tensors, data: Dataset, train_idx: np.ndarray, select_idx: np.ndarray,
                 cfg: TrainConfig, seed: int):
        self.t, self.cfg, self.train_idx, self.select_idx, self.seed = t, cfg, train_idx, select_idx, seed
        self.rng = np.random.default_rng(seed)
        self.history: list[dict[str, Any]] = []  # one entry per training loop (goes into model.json)
        by_material: dict[str, list[int]] = {}
        for i in train_idx:
            by_material.setdefault(data.material_ids[i], []).append(int(i))
        self.materials = list(by_material.values())

    def batches(self) -> list[np.ndarray]:
        """Materials in a fresh random order; all temperatures of a material go together."""
        order = self.rng.permutation(len(self.materials))
        k = self.cfg.batch_materials
        return [np.array([i for m in order[s:s + k] for i in self.materials[m]]) for s in range(0, len(order), k)]

    def predictor_loss(self, f: StructurePredictor, idx: np.ndarray) -> torch.Tensor:
        x, _, seg, n = self.t.gather(idx)
        return censored_l1(f(x, seg, n), self.t.y[idx], self.t.upper[idx])

    def trainer_loss(self, g: DualModalTrainer, idx: np.ndarray) -> torch.Tensor:
        x, p, seg, n = self.t.gather(idx)
        combined, structure = g(x, p, seg, n)
        y, up = self.t.y[idx], self.t.upper[idx]
        return censored_l1(combined, y, up) + self.cfg.alpha * censored_l1(structure, y, up)

    @torch.no_grad()
    def score(self, loss: Callable[[np.ndarray], torch.Tensor]) -> float:
        return float(loss(self.select_idx)) * self.t.y_std

    def fit(self, model: nn.Module, opt: torch.optim.Optimizer, loss: Callable[[np.ndarray], torch.Tensor],
            epochs: int, loop: str, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> None:
        """``fit`` with this seed's batches and validation score; the loop goes into the history."""
        result = fit(model, opt, loss, lambda: self.score(loss), self.batches, epochs=epochs,
                     patience=self.cfg.patience, scheduler=scheduler, name=f"seed {self.seed} {loop}")
        self.history.append({"seed": self.seed, "loop": loop, **result})


def train_trainer(run: Run, seed: int) -> DualModalTrainer:
    """Step 4a: the dual-modal trainer g on structures and trajectories."""
    cfg, t = run.cfg, run.t
    assert t.p is not None
    torch.manual_seed(seed)
    g = DualModalTrainer(t.x.shape[1], t.p.shape[1], cfg.hidden_dim, cfg.decoder_widths).to(t.x.device)
    opt = torch.optim.Adam(g.parameters(), lr=cfg.trainer_lr)
    run.fit(g, opt, lambda idx: run.trainer_loss(g, idx), cfg.trainer_epochs, "trainer g")
    return g


def init_from_trainer(run: Run, g: DualModalTrainer, seed: int) -> StructurePredictor:
    """Step 4b: f1's encoder fits g's per-atom combined hidden state H = X W_x + P W_p from X alone
    (closed-form ridge, or gradient distillation); f1's decoder is a copy of g's."""
    cfg, t = run.cfg, run.t
    rows = torch.from_numpy(np.concatenate([t.rows_of[i] for i in run.train_idx])).to(t.x.device)
    x = t.x[rows]
    with torch.no_grad():
        h = g.hidden(x, t.p[rows])
    torch.manual_seed(seed)
    f1 = StructurePredictor(x.shape[1], cfg.hidden_dim, cfg.decoder_widths).to(x.device)
    f1.decoder.load_state_dict(g.decoder.state_dict())
    if cfg.init == "closed_form":
        w = ridge_closed_form(x, h, cfg.ridge_lambda)
        with torch.no_grad():
            f1.encoder.weight.copy_(w.T.float())
    else:  # gradient distillation: the same regression target, reached by Adam on the MSE
        opt = torch.optim.Adam(f1.encoder.parameters(), lr=cfg.distill_lr)
        for _ in range(cfg.distill_epochs):
            for s in torch.randperm(len(x), device=x.device).split(4096):
                opt.zero_grad()
                torch.nn.functional.mse_loss(f1.encoder(x[s]), h[s]).backward()
                opt.step()
    f1.eval()
    return f1


def finetune(run: Run, f1: StructurePredictor, seed: int) -> StructurePredictor:
    """Step 4c: fine-tune f1 on the trajectory data set without trajectories (L1, small lr)."""
    opt = torch.optim.Adam(f1.parameters(), lr=run.cfg.finetune_lr)
    run.fit(f1, opt, lambda idx: run.predictor_loss(f1, idx), run.cfg.finetune_epochs, "fine-tune f1")
    return f1


def from_scratch(run: Run, seed: int) -> StructurePredictor:
    """No AML: the structure-only predictor trained directly on the labels."""
    torch.manual_seed(seed)
    f = StructurePredictor(run.t.x.shape[1], run.cfg.hidden_dim, run.cfg.decoder_widths).to(run.t.x.device)
    opt = torch.optim.Adam(f.parameters(), lr=run.cfg.lr, weight_decay=run.cfg.weight_decay)
    run.fit(f, opt, lambda idx: run.predictor_loss(f, idx), run.cfg.epochs, "structure-only f")
    return f


def transfer(run: Run, g: DualModalTrainer, f1: StructurePredictor, seed: int) -> StructurePredictor:
    """Level 2: f2 = g's structure encoder + f1's decoder, trained on the new data set with
    per-layer learning rates and an exponential decay per epoch."""
    cfg = run.cfg
    f2 = StructurePredictor(run.t.x.shape[1], cfg.hidden_dim, cfg.decoder_widths).to(run.t.x.device)
    with torch.no_grad():
        f2.encoder.weight.copy_(g.encoder_x.weight)
    f2.decoder.load_state_dict(f1.decoder.state_dict())
    linears = [m for m in f2.decoder if isinstance(m, nn.Linear)]
    if len(cfg.transfer_lr_decoder) != len(linears):
        raise ValueError(f"transfer_lr_decoder has {len(cfg.transfer_lr_decoder)} rates; the decoder has {len(linears)} layers")
    groups = [{"params": f2.encoder.parameters(), "lr": cfg.transfer_lr_encoder}]
    groups += [{"params": lin.parameters(), "lr": lr} for lin, lr in zip(linears, cfg.transfer_lr_decoder, strict=True)]
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.transfer_decay)
    run.fit(f2, opt, lambda idx: run.predictor_loss(f2, idx), cfg.transfer_epochs, "transfer f2", sched)
    return f2


# ----------------------------------------------------------------------------- the whole run


def route(cfg: TrainConfig, data: Dataset) -> str:
    """Which route step 4 takes: 'transfer', 'aml' or 'structure-only'."""
    if cfg.transfer_from:
        return "transfer"
    if cfg.aml and data.trajs is not None:
        return "aml"
    if cfg.aml:
        log.warning("no trajectory embeddings for this data set: training the STRUCTURE-ONLY predictor "
                    "(no auxiliary-modality learning; set train.transfer_from to transfer from an AML model)")
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


def fit_ensemble(data: Dataset, split: np.ndarray, cfg: TrainConfig,
                 embedding_meta: dict[str, Any] | None = None) -> TrainResult:
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
    source = load_transfer_source(cfg.transfer_from, cfg.poly_expansion, cfg.hidden_dim, cfg.decoder_widths,
                                  embedding_meta) if how == "transfer" else None
    device = resolve_device(cfg.device)
    t = make_tensors(data, train_idx, cfg.poly_expansion, source[2] if source else None).to(device)
    if source is not None and t.x.shape[1] != source[0][0].encoder_x.in_features:
        raise ValueError(f"features have {t.x.shape[1]} columns; the transferred encoder expects {source[0][0].encoder_x.in_features}")

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
        metrics += metric_rows(data, split, t.predictions(trainers, lambda g: g(t.x, t.p, t.seg, n)[0]), target,
                               "g (with trajectories)")
    meta = ModelMeta(
        skill=model_skill(data, split, per_seed.mean(axis=0), model_name, cfg.seeds[0]),
        target_column=cfg.target, target=target, route=how, poly_expansion=cfg.poly_expansion,
        architecture={"in_dim": int(t.x.shape[1]), "hidden_dim": cfg.hidden_dim, "decoder_widths": list(cfg.decoder_widths)},
        y_mean=t.y_mean, y_std=t.y_std,
        training_elements=sorted(set().union(*(data.elements[i] for i in train_idx))),
        temperature_range_K=[float(data.temperatures[train_idx].min()), float(data.temperatures[train_idx].max())],
        training_materials=sorted(set(data.material_ids[i] for i in train_idx)),
        far_threshold=far_threshold(hidden, train_idx, val_idx, cfg.far_quantile),
        config=asdict(cfg), embedding=embedding_meta or {},
        trajectory_embedder=data.trajectory_embedder if how == "aml" else None, device=device, history=history,
        train_seconds=time.perf_counter() - t_start, version=__version__)
    log.info("trained %d members (%s, %s) in %.1f s", len(members), how, device, meta.train_seconds)
    return TrainResult(members, trainers, meta, t, hidden[train_idx], data, split, pd.DataFrame(metrics), per_seed)


def write_model(res: TrainResult, model_dir: str | Path | None, metrics_out: str | Path | None = None,
                predictions_out: str | Path | None = None) -> None:
    """The checkpoint directory (``model.pt``, ``model.json``, ``trainer.pt`` for AML), the
    metrics table and the training predictions table."""
    t, meta = res.tensors, res.meta
    if model_dir is not None:
        save_checkpoint(model_dir, res.members, x_mean=t.x_mean, x_std=t.x_std, train_hidden=res.train_hidden, meta=meta)
        if res.trainers:
            arch = {**meta.architecture, "traj_dim": int(t.p.shape[1])}
            save_trainers(model_dir, res.trainers, x_mean=t.x_mean, x_std=t.x_std, meta=replace(meta, architecture=arch))
    if metrics_out:
        schema.write_table(res.metrics, metrics_out, "metrics", config=meta.config, route=meta.route)
    if predictions_out:
        schema.write_table(training_predictions(res.data, res.split, res.per_seed), predictions_out,
                           "training_predictions", target=meta.target)


def train(labels: pd.DataFrame, embeddings: pd.DataFrame, structures: pd.DataFrame, cfg: TrainConfig,
          model_dir: str | Path | None, metrics_out: str | Path | None = None,
          predictions_out: str | Path | None = None, *, trajectories: pd.DataFrame | None = None,
          embedding_meta: dict[str, Any] | None = None, split: np.ndarray | None = None,
          data: Dataset | None = None) -> TrainResult:
    """Workflow entry: tables -> ``Dataset`` -> split -> ``fit_ensemble`` -> ``write_model``.
    ``split`` (one of train/validation/test per sample of ``data``) overrides the default split
    (cross-validation uses it)."""
    if data is None:
        data = load_dataset(labels, embeddings, structures, cfg.target,
                            trajectories if cfg.aml and not cfg.transfer_from else None, censored=cfg.censored)
    if split is None:
        split = default_split(data, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    res = fit_ensemble(data, split, cfg, embedding_meta)
    write_model(res, model_dir, metrics_out, predictions_out)
    return res
