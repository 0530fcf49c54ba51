"""The pieces of training (step 4 of ``learn.train``): ``fit``, the one visible epoch loop with early
stopping on validation that every route runs through, the data of one run (``Run``), and the
routes' steps: the dual-modal trainer g, the closed-form (ridge) or distilled initialisation of
the structure-only predictor f1, its fine-tuning, f1 from scratch, and the transfer to data
without trajectories (f2)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ionscreen.learn.config import TrainConfig
from ionscreen.learn.dataset import Dataset, Tensors
from ionscreen.learn.model import (
    DualModalTrainer,
    StructurePredictor,
    censored_l1,
    ridge_closed_form,
)

log = logging.getLogger(__name__)


def fit(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    step_loss: Callable[[np.ndarray], torch.Tensor],
    select: Callable[[], float],
    batches: Callable[[], list[np.ndarray]],
    *,
    epochs: int,
    patience: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    name: str = "",
) -> dict[str, Any]:
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

    def __init__(
        self, t: Tensors, data: Dataset, train_idx: np.ndarray, select_idx: np.ndarray, cfg: TrainConfig, seed: int
    ):
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
        return [np.array([i for m in order[s : s + k] for i in self.materials[m]]) for s in range(0, len(order), k)]

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

    def fit(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        loss: Callable[[np.ndarray], torch.Tensor],
        epochs: int,
        loop: str,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    ) -> None:
        """``fit`` with this seed's batches and validation score; the loop goes into the history."""
        result = fit(
            model,
            opt,
            loss,
            lambda: self.score(loss),
            self.batches,
            epochs=epochs,
            patience=self.cfg.patience,
            scheduler=scheduler,
            name=f"seed {self.seed} {loop}",
        )
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
        raise ValueError(
            f"transfer_lr_decoder has {len(cfg.transfer_lr_decoder)} rates; the decoder has {len(linears)} layers"
        )
    groups = [{"params": f2.encoder.parameters(), "lr": cfg.transfer_lr_encoder}]
    groups += [{"params": lin.parameters(), "lr": lr} for lin, lr in zip(linears, cfg.transfer_lr_decoder, strict=True)]
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.transfer_decay)
    run.fit(f2, opt, lambda idx: run.predictor_loss(f2, idx), cfg.transfer_epochs, "transfer f2", sched)
    return f2
