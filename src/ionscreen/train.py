"""Two-level auxiliary-modality learning (stage ``train``; METHOD.md section 4).

Reads top to bottom:

1. ``TrainConfig``: every knob, with the paper's value and why.
2. Data: labels + structure embeddings (+ trajectory embeddings) -> ``Dataset`` -> ``Tensors``
   (features standardised with training statistics; log10 target standardised).
3. A composition-grouped train / validation / test split (seeded; test is never used for a choice).
4. Per seed, one ensemble member, by one of three routes:
   - **AML** (trajectory embeddings available, ``aml: true``): dual-modal trainer g ->
     closed-form (ridge) initialisation of the structure-only predictor f1 (or gradient
     distillation, an ablation) -> fine-tuning of f1 without trajectories.
   - **no AML** (``aml: false``, or no trajectories): f1 from scratch on structures only.
   - **data-level transfer** (``transfer_from: MODEL_DIR``): f2 with g's structure encoder and
     f1's decoder, per-layer learning rates and exponential decay, for a data set without
     trajectories (e.g. OBELiX's experimental conductivities).
   Every route runs through ``fit``: one visible epoch loop with early stopping on validation.
5. The checkpoint directory (``model.pt`` loads with ``ionscreen.model`` alone; ``trainer.pt``
   keeps g for later transfer) and the metrics table (per split, temperature and seed).

``ablations`` reruns step 4 with the paper's switches on the same split; ``cross_validate`` gives
k-fold composition-grouped CV next to a random forest on composition features.
"""

from __future__ import annotations

import copy
import logging
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from ionscreen import __version__, schema
from ionscreen.model import (
    Batch,
    DualModalTrainer,
    StructurePredictor,
    load_predictor,
    load_trainers,
    save_checkpoint,
    save_trainers,
)

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


# ----------------------------------------------------------------------------- data


@dataclass
class Dataset:
    """Samples (material x temperature) with their per-Li-atom inputs."""

    material_ids: list[str]
    groups: list[str]  # reduced composition per sample (splits group by it)
    temperatures: np.ndarray  # K
    y: np.ndarray  # log10 target
    embs: list[np.ndarray]  # per sample (n_li, d) structure embeddings
    elements: list[set[str]]
    trajs: list[np.ndarray] | None = None  # per sample (n_li, 512) trajectory embeddings, same atom order
    trajectory_embedder: str | None = None
    given_split: np.ndarray | None = None  # 'train'/'test' from the data set itself (e.g. LiFlow's CSVs)
    upper: np.ndarray | None = None  # per sample: True = y is an upper bound (censored), not a value

    @property
    def exact(self) -> np.ndarray:
        """True where y is a measured or computed value (not an upper bound)."""
        return np.ones(len(self.y), bool) if self.upper is None else ~self.upper

    def subset(self, idx: np.ndarray) -> Dataset:
        pick = [int(i) for i in idx]
        return Dataset([self.material_ids[i] for i in pick], [self.groups[i] for i in pick],
                       self.temperatures[pick], self.y[pick], [self.embs[i] for i in pick],
                       [self.elements[i] for i in pick],
                       None if self.trajs is None else [self.trajs[i] for i in pick], self.trajectory_embedder,
                       None if self.given_split is None else self.given_split[pick],
                       None if self.upper is None else self.upper[pick])


def _by_atom(grp: pd.DataFrame) -> tuple[tuple[int, ...], np.ndarray]:
    grp = grp.sort_values("atom_index")
    return tuple(int(a) for a in grp["atom_index"]), np.stack([np.asarray(v, np.float32) for v in grp["embedding"]])


# The upper-bound column of each target that has one (labels.py: non-diffusive runs; OBELiX bounds).
UPPER_BOUND_COLUMN = {"D_cm2_s": "D_upper_cm2_s", "sigma_S_cm": "sigma_upper_S_cm"}


def load_dataset(labels: pd.DataFrame, embeddings: pd.DataFrame, structures: pd.DataFrame, target: str,
                 trajectories: pd.DataFrame | None = None, *, censored: bool = False) -> Dataset:
    """Join labels with embeddings (and trajectory embeddings, atom by atom); keep rows with a
    finite, positive target and, with ``censored``, rows whose target has only a finite, positive
    upper bound (``UPPER_BOUND_COLUMN``; ``Dataset.upper`` marks them). A ``group`` (trainset) or
    ``formula`` column in ``labels`` (e.g. OBELiX's nominal reduced composition) takes precedence
    over the structure's formula for grouping."""
    from pymatgen.core import Composition

    if target not in labels.columns:
        raise ValueError(f"target {target!r} is not a labels column; choose one of {list(labels.columns)}")
    structure_rows = {m: _by_atom(g) for m, g in embeddings.groupby("material_id", sort=False)}
    formula = dict(zip(structures["material_id"], structures["reduced_formula"], strict=True))
    value = pd.to_numeric(labels[target], errors="coerce")
    exact = (labels["status"] == "ok") & np.isfinite(value) & (value > 0)
    bound_col = UPPER_BOUND_COLUMN.get(target)
    bound = pd.to_numeric(labels[bound_col], errors="coerce") if censored and bound_col in labels.columns else None
    is_bound = (labels["status"].isin(["ok", "bound"]) & ~exact & np.isfinite(bound) & (bound > 0)) \
        if bound is not None else pd.Series(False, index=labels.index)
    labels = labels.assign(**{target: value.where(exact, bound if bound is not None else np.nan)}, _upper=is_bound)
    ok = labels[exact | is_bound]
    ok = ok[ok["material_id"].isin(structure_rows) & ok["material_id"].isin(formula)]
    traj_rows: dict[tuple[str, float], tuple[tuple[int, ...], np.ndarray]] = {}
    embedder = None
    if trajectories is not None and len(trajectories):
        embedder = ",".join(sorted(set(trajectories["embedder"])))
        traj_rows = {(str(m), float(t)): _by_atom(g) for (m, t), g in trajectories.groupby(["material_id", "temperature_K"], sort=False)}
        has = [(m, float(t)) in traj_rows for m, t in zip(ok["material_id"], ok["temperature_K"], strict=True)]
        if not all(has):
            log.warning("%d label rows lack trajectory embeddings and are left out of AML training", len(has) - sum(has))
        ok = ok[has]
    if len(ok) < len(labels):
        log.info("training uses %d of %d label rows (others failed, skipped, non-positive %s or lack embeddings)",
                 len(ok), len(labels), target)
    if "group" in ok.columns and ok["group"].notna().all():  # trainset labels say what to group by
        groups = list(ok["group"].astype(str))
    elif "formula" in ok.columns:
        groups = list(ok["formula"])
    else:
        groups = [formula[m] for m in ok["material_id"]]
    trajs = None
    if traj_rows:
        trajs = []
        for m, t in zip(ok["material_id"], ok["temperature_K"], strict=True):
            atoms_p, p = traj_rows[(m, float(t))]
            if atoms_p != structure_rows[m][0]:
                raise ValueError(f"{m} at {t} K: trajectory embeddings cover Li atoms {atoms_p[:5]}..., structure "
                                 f"embeddings {structure_rows[m][0][:5]}...: they must come from the same cell")
            trajs.append(p)
    return Dataset(
        material_ids=list(ok["material_id"]),
        groups=groups,
        temperatures=ok["temperature_K"].to_numpy(float),
        y=np.log10(ok[target].to_numpy(float)),
        embs=[structure_rows[m][1] for m in ok["material_id"]],
        elements=[{el.symbol for el in Composition(formula[m]).elements} for m in ok["material_id"]],
        trajs=trajs,
        trajectory_embedder=embedder,
        given_split=ok["split"].to_numpy(str) if "split" in ok.columns and ok["split"].notna().all() else None,
        upper=ok["_upper"].to_numpy(bool) if ok["_upper"].any() else None,
    )


class TrainingTables(NamedTuple):
    labels: pd.DataFrame
    embeddings: pd.DataFrame
    structures: pd.DataFrame
    trajectories: pd.DataFrame | None


def read_training_tables(paths: Any) -> TrainingTables:
    """The trainset tables (``paths``: snakemake's ``input`` or a mapping with labels, structures,
    embeddings and trajectory_embeddings, see ionscreen.trainset); trajectories None when empty."""
    from ionscreen.trainset import read_trainset

    return TrainingTables(*read_trainset(paths))


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


def given_split_with_validation(data: Dataset, cfg: TrainConfig) -> np.ndarray:
    """The data set's train/test split, with validation compositions drawn from its train part.
    A composition in both parts stays whole on the test side of the validation draw."""
    given = np.asarray(data.given_split)
    if not set(given) <= {"train", "test"}:
        raise ValueError(f"the labels' split column must hold train/test, found {sorted(set(given))}")
    split = given.astype(object)
    tr = np.flatnonzero(given == "train")
    split[tr] = grouped_split([data.groups[i] for i in tr], cfg.val_fraction, 0.0, cfg.split_seed)
    return split.astype(str)


@dataclass
class Tensors:
    """Standardised model inputs, with the row ranges of every sample."""

    x: torch.Tensor  # (rows, F) structure-temperature features
    p: torch.Tensor | None  # (rows, 512) trajectory embeddings
    y: torch.Tensor  # (samples,) standardised log10 target
    seg: torch.Tensor  # (rows,) sample index of every row
    rows_of: list[np.ndarray]
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float
    y_std: float
    upper: torch.Tensor  # (samples,) bool: the target is an upper bound

    def gather(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, int]:
        """(x, p, seg, n) for samples ``idx``, renumbered 0..n-1."""
        rows = np.concatenate([self.rows_of[i] for i in idx])
        seg = np.concatenate([np.full(len(self.rows_of[i]), k) for k, i in enumerate(idx)])
        r = torch.from_numpy(rows).to(self.x.device)
        return self.x[r], None if self.p is None else self.p[r], torch.from_numpy(seg).to(self.x.device), len(idx)

    def to(self, device: str) -> Tensors:
        self.x, self.y, self.seg = self.x.to(device), self.y.to(device), self.seg.to(device)
        self.upper = self.upper.to(device)
        self.p = None if self.p is None else self.p.to(device)
        return self


def _standardise(a: np.ndarray, train_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = a[train_rows].mean(axis=0), a[train_rows].std(axis=0)
    # Constant columns pass through unchanged. The temperature term's 1 is the bias-free encoder's
    # only bias: centred to 0, LayerNorm(W x) would be blind to the scale of x.
    const = std < 1e-8
    mean[const], std[const] = 0.0, 1.0
    return mean, std


def make_tensors(data: Dataset, train_idx: np.ndarray, poly: bool,
                 x_norm: tuple[np.ndarray, np.ndarray] | None = None) -> Tensors:
    """Features (cubic expansion + temperature terms), standardised on the training samples
    (or with ``x_norm`` from a model being transferred)."""
    batch = Batch.build(data.embs, data.temperatures, poly)
    rows_of = [np.flatnonzero(batch.seg == i) for i in range(batch.n)]
    train_rows = np.concatenate([rows_of[i] for i in train_idx])
    x_mean, x_std = x_norm if x_norm is not None else _standardise(batch.x, train_rows)
    p = None
    if data.trajs is not None:
        praw = np.concatenate(data.trajs).astype(np.float32)
        p_mean, p_std = _standardise(praw, train_rows)
        p = torch.from_numpy(((praw - p_mean) / p_std).astype(np.float32))
    exact_train = train_idx[data.exact[train_idx]]  # bounds do not set the target's scale
    y_mean, y_std = float(data.y[exact_train].mean()), float(data.y[exact_train].std() or 1.0)
    return Tensors(
        x=torch.from_numpy(((batch.x - x_mean) / x_std).astype(np.float32)),
        p=p,
        y=torch.from_numpy(((data.y - y_mean) / y_std).astype(np.float32)),
        seg=torch.from_numpy(batch.seg), rows_of=rows_of, x_mean=x_mean, x_std=x_std, y_mean=y_mean, y_std=y_std,
        upper=torch.from_numpy(~data.exact),
    )


# ----------------------------------------------------------------------------- metrics


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from scipy.stats import spearmanr

    n = len(y)
    mae = float(np.mean(np.abs(y - p))) if n else math.nan
    ss = float(np.sum((y - y.mean()) ** 2)) if n else 0.0
    r2 = 1.0 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else math.nan
    rho = float(spearmanr(y, p).statistic) if n > 2 and np.ptp(y) > 0 and np.ptp(p) > 0 else math.nan
    return {"n": n, "mae": mae, "spearman": rho, "r2": r2}


# ----------------------------------------------------------------------------- the pieces


def ridge_closed_form(x: torch.Tensor, h: torch.Tensor, lam: float, chunk: int = 8192) -> torch.Tensor:
    """W = (X^T X + lam * mean(diag(X^T X)) I)^-1 X^T H in float64 by Cholesky; (F, d_h).

    X^T X and X^T H are accumulated in chunks of rows, so memory is O(F^2), not O(rows * F)."""
    f = x.shape[1]
    xtx = torch.zeros(f, f, dtype=torch.float64, device=x.device)
    xth = torch.zeros(f, h.shape[1], dtype=torch.float64, device=x.device)
    for s in range(0, len(x), chunk):
        xc, hc = x[s:s + chunk].double(), h[s:s + chunk].double()
        xtx += xc.T @ xc
        xth += xc.T @ hc
    reg = lam * float(torch.diagonal(xtx).mean())
    xtx += reg * torch.eye(f, dtype=torch.float64, device=x.device)
    chol = torch.linalg.cholesky(xtx)
    return torch.cholesky_solve(xth, chol)


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
            loss = step_loss(idx)
            loss.backward()
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


def censored_l1(pred: torch.Tensor, y: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Mean absolute error where y is a value; where y is an upper bound only the excess of the
    prediction above it (a censored L1, zero for any prediction at or below the bound)."""
    err = pred - y
    return torch.where(upper, torch.relu(err), err.abs()).mean()


class _Run:
    """What one seed's training needs: tensors, parts of the split, batching and scores."""

    def __init__(self, t: Tensors, data: Dataset, train_idx: np.ndarray, select_idx: np.ndarray,
                 cfg: TrainConfig, seed: int):
        self.t, self.cfg, self.train_idx, self.select_idx = t, cfg, train_idx, select_idx
        self.seed = seed
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


def train_trainer(run: _Run, seed: int) -> DualModalTrainer:
    """Step 4a: the dual-modal trainer g on structures and trajectories."""
    cfg, t = run.cfg, run.t
    assert t.p is not None
    torch.manual_seed(seed)
    g = DualModalTrainer(t.x.shape[1], t.p.shape[1], cfg.hidden_dim, cfg.decoder_widths).to(t.x.device)
    opt = torch.optim.Adam(g.parameters(), lr=cfg.trainer_lr)
    def loss(idx: np.ndarray) -> torch.Tensor:
        return run.trainer_loss(g, idx)
    result = fit(g, opt, loss, lambda: run.score(loss), run.batches, epochs=cfg.trainer_epochs, patience=cfg.patience,
        name=f"seed {seed} trainer g")
    run.history.append({"seed": seed, "loop": "trainer g", **result})
    return g


def init_from_trainer(run: _Run, g: DualModalTrainer, seed: int) -> StructurePredictor:
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


def finetune(run: _Run, f1: StructurePredictor, seed: int) -> StructurePredictor:
    """Step 4c: fine-tune f1 on the trajectory data set without trajectories (L1, small lr)."""
    def loss(idx: np.ndarray) -> torch.Tensor:
        return run.predictor_loss(f1, idx)
    opt = torch.optim.Adam(f1.parameters(), lr=run.cfg.finetune_lr)
    result = fit(f1, opt, loss, lambda: run.score(loss), run.batches, epochs=run.cfg.finetune_epochs,
        patience=run.cfg.patience, name=f"seed {seed} fine-tune f1")
    run.history.append({"seed": seed, "loop": "fine-tune f1", **result})
    return f1


def from_scratch(run: _Run, seed: int) -> StructurePredictor:
    """No AML: the structure-only predictor trained directly on the labels."""
    torch.manual_seed(seed)
    f = StructurePredictor(run.t.x.shape[1], run.cfg.hidden_dim, run.cfg.decoder_widths).to(run.t.x.device)
    opt = torch.optim.Adam(f.parameters(), lr=run.cfg.lr, weight_decay=run.cfg.weight_decay)
    def loss(idx: np.ndarray) -> torch.Tensor:
        return run.predictor_loss(f, idx)
    result = fit(f, opt, loss, lambda: run.score(loss), run.batches, epochs=run.cfg.epochs, patience=run.cfg.patience,
        name=f"seed {seed} structure-only f")
    run.history.append({"seed": seed, "loop": "structure-only f", **result})
    return f


def transfer(run: _Run, g: DualModalTrainer, f1: StructurePredictor, seed: int) -> StructurePredictor:
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
    def loss(idx: np.ndarray) -> torch.Tensor:
        return run.predictor_loss(f2, idx)
    result = fit(f2, opt, loss, lambda: run.score(loss), run.batches, epochs=cfg.transfer_epochs, patience=cfg.patience,
        scheduler=sched, name=f"seed {seed} transfer f2")
    run.history.append({"seed": seed, "loop": "transfer f2", **result})
    return f2


# ----------------------------------------------------------------------------- the whole run


def _predict(members: Sequence[nn.Module], t: Tensors, forward: Callable[[nn.Module], torch.Tensor]) -> np.ndarray:
    """(members, samples) predictions on every sample, in log10 target units."""
    with torch.no_grad():
        return np.stack([forward(m).cpu().numpy() * t.y_std + t.y_mean for m in members])


def _metric_rows(data: Dataset, split: np.ndarray, per_seed: np.ndarray, target: str, model: str) -> list[dict[str, Any]]:
    """Ensemble rows (seed null, with the seeds' MAE mean and std) and one row per seed, per split
    and temperature (NaN = all temperatures); exact labels only (an upper bound has no error)."""
    rows = []
    ens = per_seed.mean(axis=0)
    for part in ("train", "validation", "test"):
        sel = (split == part) & data.exact
        if not sel.any():
            continue
        for temp in [math.nan, *sorted(set(data.temperatures[sel]))]:
            s = sel & (np.isnan(temp) | (data.temperatures == temp))
            seed_maes = [regression_metrics(data.y[s], p[s])["mae"] for p in per_seed]
            base = {"split": part, "temperature_K": temp, "target": target, "model": model}
            rows.append({**base, "seed": None, **regression_metrics(data.y[s], ens[s]),
                         "mae_seed_mean": float(np.mean(seed_maes)),
                         "mae_seed_std": float(np.std(seed_maes, ddof=1)) if len(seed_maes) > 1 else 0.0})
            rows += [{**base, "seed": k, **regression_metrics(data.y[s], p[s])} for k, p in enumerate(per_seed)]
    return rows


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
) -> dict[str, Any]:
    """Train the seed ensemble; write the checkpoint directory, metrics and predictions.

    ``split`` (one of train/validation/test per sample of ``data``) overrides the grouped split
    (cross-validation uses it). Returns the checkpoint metadata plus ``metrics`` (a DataFrame)
    and ``predictions`` (per seed, log10 units)."""
    t_start = time.perf_counter()
    if data is None:
        data = load_dataset(labels, embeddings, structures, cfg.target,
                            trajectories if cfg.aml and not cfg.transfer_from else None, censored=cfg.censored)
    if data.exact.sum() < 3:
        raise ValueError(f"only {int(data.exact.sum())} usable samples for target {cfg.target!r}: need >= 3")
    if data.upper is not None:
        log.info("%d of %d samples are upper bounds (censored targets)", int(data.upper.sum()), len(data.y))
    if split is None and data.given_split is not None:
        # The data set's own split (LiFlow): its test part stays test; validation compositions for
        # early stopping come from its training part.
        split = given_split_with_validation(data, cfg)
    elif split is None:
        split = grouped_split(data.groups, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    train_idx = np.flatnonzero(split == "train")
    val_idx = np.flatnonzero(split == "validation")
    log.info("samples: %d train, %d validation, %d test", len(train_idx), len(val_idx), int((split == "test").sum()))
    select_idx = val_idx if len(val_idx) else train_idx
    if not len(val_idx):
        log.warning("no validation compositions: early stopping falls back to the training loss")

    how = route(cfg, data)
    source: tuple[list[DualModalTrainer], list[StructurePredictor]] | None = None
    x_norm = None
    if how == "transfer":
        trainers, tmeta, x_mean, x_std = load_trainers(cfg.transfer_from)
        source = (trainers, load_predictor(cfg.transfer_from).members)
        x_norm = (x_mean, x_std)
        arch = tmeta["architecture"]
        if tmeta.get("poly_expansion") != cfg.poly_expansion or arch["hidden_dim"] != cfg.hidden_dim or \
                list(arch["decoder_widths"]) != list(cfg.decoder_widths):
            raise ValueError(f"transfer_from {cfg.transfer_from}: its architecture {arch} (poly_expansion "
                             f"{tmeta.get('poly_expansion')}) differs from this config's")
        if embedding_meta and tmeta.get("embedding") and tmeta["embedding"] != embedding_meta:
            raise ValueError(f"transfer_from {cfg.transfer_from} was trained on embeddings {tmeta['embedding']}, "
                             f"this data set has {embedding_meta}")
    from ionscreen.mlip import resolve_device

    device = resolve_device(cfg.device)
    t = make_tensors(data, train_idx, cfg.poly_expansion, x_norm).to(device)
    if source is not None and t.x.shape[1] != source[0][0].encoder_x.in_features:
        raise ValueError(f"features have {t.x.shape[1]} columns; the transferred encoder expects {source[0][0].encoder_x.in_features}")

    # Step 4: one member per seed.
    members: list[StructurePredictor] = []
    trainers_out: list[DualModalTrainer] = []
    history: list[dict[str, Any]] = []
    for k, seed in enumerate(cfg.seeds):
        run = _Run(t, data, train_idx, select_idx, cfg, seed)
        if how == "aml":
            g = train_trainer(run, seed)
            f = finetune(run, init_from_trainer(run, g, seed), seed)
            trainers_out.append(g)
        elif how == "transfer":
            assert source is not None
            g_src, f_src = source[0][k % len(source[0])].to(device), source[1][k % len(source[1])].to(device)
            f = transfer(run, g_src, f_src, seed)
        else:
            f = from_scratch(run, seed)
        members.append(f)
        history += run.history

    # Ensemble predictions on every sample (log10 target units) and hidden vectors.
    n = len(data.y)
    per_seed = _predict(members, t, lambda m: m(t.x, t.seg, n))
    pred = per_seed.mean(axis=0)
    pred_std = per_seed.std(axis=0, ddof=1) if len(members) > 1 else np.zeros_like(pred)
    with torch.no_grad():
        hidden = np.concatenate([m.pooled(t.x, t.seg, n).cpu().numpy() for m in members], axis=1)

    # far_from_training threshold: distances of held-out (else training, leave-one-out) samples.
    train_h = hidden[train_idx]
    if len(val_idx):
        ref = np.linalg.norm(hidden[val_idx][:, None] - train_h[None], axis=-1).min(axis=1)
    else:
        d = np.linalg.norm(train_h[:, None] - train_h[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        ref = d.min(axis=1)
    far_threshold = float(np.quantile(ref[np.isfinite(ref)], cfg.far_quantile)) if np.isfinite(ref).any() else math.inf

    target = f"log10_{cfg.target}"
    model_name = {"aml": "f1 (AML)", "transfer": "f2 (transfer)", "structure-only": "structure-only"}[how]
    metrics = _metric_rows(data, split, per_seed, target, model_name)
    if trainers_out:  # g with trajectories: what the auxiliary modality makes possible, for comparison
        g_pred = _predict(trainers_out, t, lambda g: g(t.x, t.p, t.seg, n)[0])
        metrics += _metric_rows(data, split, g_pred, target, "g (with trajectories)")
    train_elements = sorted(set().union(*(data.elements[i] for i in train_idx)))
    meta = {
        "version": __version__,
        "target_column": cfg.target,
        "target": target,
        "route": how,
        "trajectory_embedder": data.trajectory_embedder if how == "aml" else None,
        "config": asdict(cfg),
        "architecture": {"in_dim": int(t.x.shape[1]), "hidden_dim": cfg.hidden_dim,
                         "decoder_widths": list(cfg.decoder_widths)},
        "poly_expansion": cfg.poly_expansion,
        "y_mean": t.y_mean, "y_std": t.y_std,
        "training_elements": train_elements,
        "temperature_range_K": [float(data.temperatures[train_idx].min()), float(data.temperatures[train_idx].max())],
        "training_materials": sorted(set(data.material_ids[i] for i in train_idx)),
        "far_threshold": far_threshold,
        "embedding": embedding_meta or {},
        "device": device,
        "history": history,
        "train_seconds": time.perf_counter() - t_start,
    }
    if model_dir is not None:
        save_checkpoint(model_dir, members, x_mean=t.x_mean, x_std=t.x_std, train_hidden=train_h, meta=meta)
        if trainers_out:
            tmeta = {**meta, "architecture": {**meta["architecture"], "traj_dim": int(t.p.shape[1])}}
            save_trainers(model_dir, trainers_out, x_mean=t.x_mean, x_std=t.x_std, meta=tmeta)
    if metrics_out:
        schema.write_table(metrics, metrics_out, "metrics", config=asdict(cfg), route=how)
    if predictions_out:
        schema.write_table(
            pd.DataFrame({"material_id": data.material_ids, "temperature_K": data.temperatures,
                          "split": split, "y_log10": data.y, "prediction": pred,
                          "prediction_std": pred_std, "censored": ~data.exact}),
            predictions_out, "training_predictions", target=target)
    log.info("trained %d members (%s, %s) in %.1f s", len(members), how, device, meta["train_seconds"])
    return {**meta, "metrics": pd.DataFrame(metrics), "predictions": per_seed}


# ----------------------------------------------------------------------------- ablations


ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "full": ("AML: trainer g, closed-form f1, fine-tuning", {}),
    "no_aml": ("f1 from scratch on structures only", {"aml": False}),
    "gradient_distillation": ("f1 encoder by gradient descent on g's hidden states", {"init": "distillation"}),
    "no_polynomial_expansion": ("embedding e only, no [e^2, e^3]", {"poly_expansion": False}),
    "no_alpha": ("trainer loss without the structure-only term", {"alpha": 0.0}),
}


def ablations(labels: pd.DataFrame, embeddings: pd.DataFrame, structures: pd.DataFrame, cfg: TrainConfig,
              out: str | Path, *, trajectories: pd.DataFrame,
              other_trajectories: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """The paper's ablations on one composition-grouped split and the same seeds: one row per
    variant and split with the ensemble's metrics and the seeds' MAE mean +- std.

    ``other_trajectories`` adds full-AML rows with other trajectory embeddings (e.g.
    ``{"fourier_only": table}`` next to MOMENT)."""
    variants = [(name, doc, {**over}, trajectories) for name, (doc, over) in ABLATIONS.items()]
    for name, tbl in (other_trajectories or {}).items():
        variants.append((f"trajectory_{name}", f"full AML with {name} trajectory embeddings", {}, tbl))
    rows = []
    for name, doc, over, traj in variants:
        vcfg = replace(cfg, **over)
        log.info("ablation %s: %s", name, doc)
        res = train(labels, embeddings, structures, vcfg, None, trajectories=traj)
        m = res["metrics"]
        ens = m[m["seed"].isna() & m["temperature_K"].isna() & (m["model"] != "g (with trajectories)")]
        for _, r in ens.iterrows():
            rows.append({"variant": name, "description": doc, "route": res["route"],
                         "trajectory_embedder": res["trajectory_embedder"], "split": r["split"], "n": r["n"],
                         "mae": r["mae"], "mae_seed_mean": r["mae_seed_mean"], "mae_seed_std": r["mae_seed_std"],
                         "spearman": r["spearman"], "r2": r["r2"], "train_seconds": res["train_seconds"]})
    schema.write_table(rows, out, "ablations", config=asdict(cfg))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- cross-validation


def composition_features(formulas: Sequence[str]) -> np.ndarray:
    """Simple composition descriptors for the random-forest baseline: element fractions (Z 1-94)
    plus mean and spread of electronegativity, atomic mass, row and group, and the Li fraction."""
    from pymatgen.core import Composition, Element

    out = []
    for f in formulas:
        comp = Composition(f).fractional_composition
        frac = np.zeros(94)
        props = []
        for el, x in comp.items():
            frac[el.Z - 1] = x
            props.append((x, float(el.X) if el.X == el.X else 0.0, float(el.atomic_mass), el.row, el.group))
        w = np.array([p[0] for p in props])
        vals = np.array([p[1:] for p in props], dtype=float)
        mean = w @ vals
        spread = np.sqrt(w @ (vals - mean) ** 2)
        out.append(np.concatenate([frac, mean, spread, [comp[Element("Li")], len(comp)]]))
    return np.asarray(out)


def grouped_folds(groups: Sequence[str], n_folds: int, seed: int) -> np.ndarray:
    """Fold index per sample; compositions shuffled (seeded) and dealt round-robin to the folds."""
    uniq = sorted(set(groups))
    if len(uniq) < n_folds:
        raise ValueError(f"{len(uniq)} compositions are too few for {n_folds} folds")
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    fold = {g: i % n_folds for i, g in enumerate(uniq)}
    return np.array([fold[g] for g in groups])


def cross_validate(labels: pd.DataFrame, embeddings: pd.DataFrame, structures: pd.DataFrame, cfg: TrainConfig,
                   out: str | Path | None, *, n_folds: int = 5, seed: int = 0, trajectories: pd.DataFrame | None = None,
                   rf_trees: int = 500, fold_of: dict[str, int] | None = None) -> pd.DataFrame:
    """k-fold composition-grouped CV of the configured predictor and of a random forest on
    composition features, on the same samples and folds. Inside each fold, validation
    compositions for early stopping come from the training folds only. ``fold_of`` (composition
    -> fold) imposes folds made on a larger set, so other models can be compared fold by fold."""
    from sklearn.ensemble import RandomForestRegressor

    data = load_dataset(labels, embeddings, structures, cfg.target, trajectories if cfg.aml else None,
                        censored=cfg.censored)
    folds = np.array([fold_of[g] for g in data.groups]) if fold_of else grouped_folds(data.groups, n_folds, seed)
    comp = composition_features(data.groups)
    rows = []
    for k in range(n_folds):
        test = folds == k
        inner = grouped_split([g for g, s in zip(data.groups, test, strict=True) if not s], cfg.val_fraction, 0.0,
                              cfg.split_seed + k)
        split = np.full(len(data.y), "test", dtype=object)
        split[~test] = inner
        with tempfile.TemporaryDirectory() as tmp:
            res = train(labels, embeddings, structures, cfg, Path(tmp) / "model", split=split, data=data)
        p = res["predictions"].mean(axis=0)
        fit_rows, score = ~test & data.exact, test & data.exact  # the forest cannot use bounds; scores on values
        rf = RandomForestRegressor(n_estimators=rf_trees, random_state=seed, n_jobs=-1).fit(comp[fit_rows], data.y[fit_rows])
        for name, pr in ((f"predictor ({res['route']})", p[score]), ("random forest (composition)", rf.predict(comp[score]))):
            rows.append({"model": name, "fold": k, "n_train": int((~test).sum()), "n_test": int(score.sum()),
                         **{k2: v for k2, v in regression_metrics(data.y[score], pr).items() if k2 != "n"},
                         "train_seconds": res["train_seconds"] if name.startswith("predictor") else math.nan})
        log.info("fold %d: predictor MAE %.3f, random forest MAE %.3f", k, rows[-2]["mae"], rows[-1]["mae"])
    df = pd.DataFrame(rows)
    summary = df.groupby("model")["mae"].agg(["mean", "std"])
    for name, r in summary.iterrows():
        log.info("%d-fold grouped CV MAE (log10 %s) %s: %.3f +- %.3f", n_folds, cfg.target, name, r["mean"], r["std"])
    if out is not None:
        schema.write_table(df, out, "cross_validation", config=asdict(cfg), n_folds=n_folds, seed=seed)
    return df
