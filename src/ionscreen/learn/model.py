"""The structure-only predictor, its input features, and its checkpoint format.

This module is all that ``ionscreen predict`` needs: it loads a checkpoint directory without
the training code (``ionscreen.learn.train``).

Features (docs/method.md sections 3-4), per Li atom and temperature T:
  e (977)  ->  [e, e*e, e*e*e] (2931, cubic expansion; optional)  ->  + [1, T/T0, (T/T0)^2, (T/T0)^3]
  with T0 = 5000 K: 2935 values.
Architecture (the AML paper's structure path): bias-free linear encoder to d_h, per-atom
LayerNorm without affine parameters, mean over the material's Li atoms, decoder MLP with ReLU.
Inputs are standardised with training-set statistics and the log10 target is standardised too;
both sets of statistics are stored in the checkpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ionscreen.atomic import atomic_output, write_text_atomic
from ionscreen.learn.meta import CHECKPOINT_FORMAT, TRAINER_FORMAT, ModelMeta, checkpoint_path

T0_K = 5000.0  # temperature scale of the AML code


def expand_features(emb: np.ndarray, temperature_K: float, poly: bool = True) -> np.ndarray:
    """(n_atoms, d) embeddings -> (n_atoms, 3d + 4) structure-temperature features (float32)."""
    e = np.asarray(emb, dtype=np.float64)
    parts = [e, e * e, e * e * e] if poly else [e]
    t = temperature_K / T0_K
    temp = np.broadcast_to(np.array([1.0, t, t * t, t**3]), (len(e), 4))
    return np.concatenate([*parts, temp], axis=1).astype(np.float32)


def segment_mean(h: torch.Tensor, seg: torch.Tensor, n_seg: int) -> torch.Tensor:
    """Mean of rows of ``h`` per segment id (0..n_seg-1)."""
    out = torch.zeros(n_seg, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, seg, h)
    cnt = torch.bincount(seg, minlength=n_seg).clamp(min=1).to(h.dtype)
    return out / cnt[:, None]


def mlp(in_dim: int, widths: Sequence[int], out_dim: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for w in widths:
        layers += [nn.Linear(d, w), nn.ReLU()]
        d = w
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class StructurePredictor(nn.Module):
    """f(x): encoder -> LayerNorm (no affine) -> mean over Li -> decoder."""

    def __init__(self, in_dim: int, hidden_dim: int = 8, decoder_widths: Sequence[int] = (4000, 4000, 4000)):
        super().__init__()
        self.encoder = nn.Linear(in_dim, hidden_dim, bias=False)
        self.norm = nn.LayerNorm(hidden_dim, elementwise_affine=False)
        self.decoder = mlp(hidden_dim, decoder_widths)

    def pooled(self, x: torch.Tensor, seg: torch.Tensor, n_seg: int) -> torch.Tensor:
        """Per-sample hidden representation (mean over Li of the normalised encoding)."""
        return segment_mean(self.norm(self.encoder(x)), seg, n_seg)

    def forward(self, x: torch.Tensor, seg: torch.Tensor, n_seg: int) -> torch.Tensor:
        return self.decoder(self.pooled(x, seg, n_seg)).squeeze(-1)


class DualModalTrainer(nn.Module):
    """g(x, p): the AML trainer, which also sees trajectory embeddings p (training only).

    Per Li atom the hidden state is ``h = E_x x + E_p p`` (two bias-free linear maps to d_h);
    LayerNorm without affine parameters, mean over the material's Li atoms, decoder MLP. The
    forward pass returns both predictions the loss needs: the combined one, and the structure-only
    one through the same decoder (the alpha term that keeps ``E_x`` informative on its own).
    """

    def __init__(
        self, in_dim: int, traj_dim: int, hidden_dim: int = 8, decoder_widths: Sequence[int] = (4000, 4000, 4000)
    ):
        super().__init__()
        self.encoder_x = nn.Linear(in_dim, hidden_dim, bias=False)
        self.encoder_p = nn.Linear(traj_dim, hidden_dim, bias=False)
        self.norm = nn.LayerNorm(hidden_dim, elementwise_affine=False)
        self.decoder = mlp(hidden_dim, decoder_widths)

    def hidden(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Per-atom combined hidden state before the norm (the closed form's regression target)."""
        return self.encoder_x(x) + self.encoder_p(p)

    def forward(
        self, x: torch.Tensor, p: torch.Tensor, seg: torch.Tensor, n_seg: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        combined = self.decoder(segment_mean(self.norm(self.hidden(x, p)), seg, n_seg)).squeeze(-1)
        structure = self.decoder(segment_mean(self.norm(self.encoder_x(x)), seg, n_seg)).squeeze(-1)
        return combined, structure


@dataclass
class Batch:
    """Samples (material x temperature) as concatenated Li-atom rows with segment ids."""

    x: np.ndarray  # (n_rows, n_features) float32
    seg: np.ndarray  # (n_rows,) int64, sample index of each row
    n: int

    @staticmethod
    def build(embs: Sequence[np.ndarray], temperatures: Sequence[float], poly: bool = True) -> Batch:
        xs = [expand_features(e, t, poly) for e, t in zip(embs, temperatures, strict=True)]
        seg = (
            np.concatenate([np.full(len(x), i, dtype=np.int64) for i, x in enumerate(xs)])
            if xs
            else np.zeros(0, np.int64)
        )
        x = np.concatenate(xs) if xs else np.zeros((0, 0), np.float32)
        return Batch(x, seg, len(xs))


class Predictor:
    """A loaded checkpoint: an ensemble of StructurePredictors plus normalisation and metadata."""

    def __init__(self, ckpt: dict[str, Any]):
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not an ionscreen predictor checkpoint (format {ckpt.get('format')!r})")
        self.meta = ModelMeta.from_dict(ckpt["meta"])
        arch = self.meta.architecture
        self.members: list[StructurePredictor] = []
        for state in ckpt["members"]:
            m = StructurePredictor(arch["in_dim"], arch["hidden_dim"], arch["decoder_widths"])
            m.load_state_dict(state)
            m.eval()
            self.members.append(m)
        self.x_mean = ckpt["x_mean"].numpy()
        self.x_std = ckpt["x_std"].numpy()
        self.y_mean, self.y_std = float(self.meta.y_mean), float(self.meta.y_std)
        self.train_hidden: np.ndarray = ckpt["train_hidden"].numpy()

    @property
    def target(self) -> str:
        return self.meta.target_column

    def _tensors(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        x = (batch.x - self.x_mean) / self.x_std
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(batch.seg)

    @torch.no_grad()
    def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, std over members, hidden (n, members*d_h)) in log10 target units."""
        x, seg = self._tensors(batch)
        preds, hid = [], []
        for m in self.members:
            preds.append(m(x, seg, batch.n).numpy() * self.y_std + self.y_mean)
            hid.append(m.pooled(x, seg, batch.n).numpy())
        p = np.stack(preds)
        std = p.std(axis=0, ddof=1) if len(p) > 1 else np.zeros(batch.n)
        return p.mean(axis=0), std, np.concatenate(hid, axis=1)

    @torch.no_grad()
    def predict_materials(
        self, embs: Sequence[np.ndarray], temperatures_K: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every material at every temperature, with the structure work done once per material.

        The encoder is linear in the standardised features [e, e^2, e^3, 1, t, t^2, t^3], so each
        Li atom's encoding splits into a structure part (computed once, one matrix product for all
        atoms and members) plus a temperature part (one vector per temperature and member). The
        per-atom LayerNorm, the mean over Li and the decoder then run once over all (material, T)
        rows. Equal to ``predict`` on ``Batch.build`` of the same samples (to float rounding).
        Returns (mean, std) of shape (materials, temperatures), log10 target units, and the hidden
        vectors (materials x temperatures, members x d_h), rows material-major.
        """
        n_mat, temps = len(embs), [float(t) for t in temperatures_K]
        n_t, members = len(temps), self.members
        d_h = members[0].encoder.out_features
        if n_mat == 0:
            return np.zeros((0, n_t)), np.zeros((0, n_t)), np.zeros((0, len(members) * d_h))
        poly = bool(self.meta.poly_expansion)
        mean64, std64 = self.x_mean.astype(np.float64), self.x_std.astype(np.float64)
        W = np.concatenate([m.encoder.weight.double().numpy() for m in members])  # (members*d_h, F)
        W = W / std64[None, :]
        bias = -W @ mean64
        n_struct = W.shape[1] - 4
        dim = embs[0].shape[1]
        if dim * (3 if poly else 1) != n_struct:
            raise ValueError(
                f"embeddings give {dim * (3 if poly else 1)} structure features, the model expects {n_struct}"
            )
        # [e, e^2, e^3] W^T as one product per power, in blocks of atoms: the (atoms x 2931)
        # feature matrix is never built (0.47 GB of float64 for 20,000 Li atoms, plus its temporaries).
        powers = [W[:, p * dim : (p + 1) * dim].T.copy() for p in range(3 if poly else 1)]
        e_all = np.concatenate(embs)
        h_np = np.empty((len(e_all), W.shape[0]))
        for a in range(0, len(e_all), 2048):
            e = e_all[a : a + 2048].astype(np.float64)
            ep, acc = e, e @ powers[0]
            for wp in powers[1:]:
                ep = ep * e
                acc += ep @ wp
            h_np[a : a + 2048] = acc + bias
        h_struct = torch.from_numpy(h_np)  # (atoms, members*d_h), float64
        seg = torch.from_numpy(np.repeat(np.arange(n_mat), [len(x) for x in embs]))
        preds = np.empty((len(members), n_mat, n_t))
        hidden = np.empty((n_mat, n_t, len(members) * d_h), dtype=np.float32)
        for k, t in enumerate(temps):
            tt = t / T0_K
            h = h_struct + torch.from_numpy(W[:, n_struct:] @ np.array([1.0, tt, tt * tt, tt**3]))
            h = nn.functional.layer_norm(h.view(len(h), len(members), d_h), (d_h,), eps=members[0].norm.eps)
            pooled = segment_mean(h.reshape(len(h), -1), seg, n_mat).view(n_mat, len(members), d_h)
            hidden[:, k] = pooled.reshape(n_mat, -1).numpy()
            for j, m in enumerate(members):
                preds[j, :, k] = m.decoder(pooled[:, j].float()).squeeze(-1).numpy() * self.y_std + self.y_mean
        std = preds.std(axis=0, ddof=1) if len(members) > 1 else np.zeros((n_mat, n_t))
        return preds.mean(axis=0), std, hidden.reshape(n_mat * n_t, -1)

    def nearest_training_distance(self, hidden: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Euclidean distance of each hidden vector to its nearest training sample (in chunks of
        ``chunk`` rows, so 100,000 candidates never need a candidates x training matrix at once)."""
        if len(hidden) == 0 or len(self.train_hidden) == 0:
            return np.full(len(hidden), np.nan)
        ref = self.train_hidden.astype(np.float64)
        out = np.empty(len(hidden))
        for a in range(0, len(hidden), chunk):
            h = hidden[a : a + chunk].astype(np.float64)
            d2 = (h * h).sum(1)[:, None] + (ref * ref).sum(1)[None, :] - 2.0 * h @ ref.T
            out[a : a + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
        return out


def save_checkpoint(
    model_dir: str | Path,
    members: Sequence[StructurePredictor],
    *,
    x_mean: np.ndarray,
    x_std: np.ndarray,
    train_hidden: np.ndarray,
    meta: ModelMeta,
) -> Path:
    """Write ``model.pt`` (tensors + metadata) and a readable ``model.json`` (metadata only)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "meta": meta.to_dict(),
        "members": [{k: v.detach().cpu() for k, v in m.state_dict().items()} for m in members],
        "x_mean": torch.from_numpy(np.asarray(x_mean, np.float32)),
        "x_std": torch.from_numpy(np.asarray(x_std, np.float32)),
        "train_hidden": torch.from_numpy(np.asarray(train_hidden, np.float32)),
    }
    with atomic_output(model_dir / "model.pt") as tmp:
        torch.save(ckpt, tmp)
    write_text_atomic(model_dir / "model.json", json.dumps(meta.to_dict(), indent=2, default=str))
    return model_dir


def load_predictor(model_dir: str | Path) -> Predictor:
    """Load a checkpoint directory written by ``ionscreen.learn.train`` (no training code needed)."""
    return Predictor(torch.load(checkpoint_path(model_dir), map_location="cpu", weights_only=True))


def save_trainers(
    model_dir: str | Path,
    trainers: Sequence[DualModalTrainer],
    *,
    x_mean: np.ndarray,
    x_std: np.ndarray,
    meta: ModelMeta,
) -> Path:
    """Write ``trainer.pt``: the dual-modal trainers g (one per seed) that data-level transfer
    starts from, with the input normalisation their structure encoders were trained on."""
    ckpt = {
        "format": TRAINER_FORMAT,
        "meta": meta.to_dict(),
        "members": [{k: v.detach().cpu() for k, v in g.state_dict().items()} for g in trainers],
        "x_mean": torch.from_numpy(np.asarray(x_mean, np.float32)),
        "x_std": torch.from_numpy(np.asarray(x_std, np.float32)),
    }
    path = Path(model_dir) / "trainer.pt"
    with atomic_output(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def load_trainers(model_dir: str | Path) -> tuple[list[DualModalTrainer], ModelMeta, np.ndarray, np.ndarray]:
    """(trainers g, their metadata, x_mean, x_std) from ``trainer.pt`` of an AML model directory."""
    path = Path(model_dir) / "trainer.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no trainer.pt in {model_dir}: transfer needs a model trained with trajectories (train.aml: true)"
        )
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != TRAINER_FORMAT:
        raise ValueError(f"{path} is not an ionscreen trainer checkpoint (format {ckpt.get('format')!r})")
    arch = ckpt["meta"]["architecture"]
    trainers = []
    for state in ckpt["members"]:
        g = DualModalTrainer(arch["in_dim"], arch["traj_dim"], arch["hidden_dim"], arch["decoder_widths"])
        g.load_state_dict(state)
        g.eval()
        trainers.append(g)
    return trainers, ModelMeta.from_dict(ckpt["meta"]), ckpt["x_mean"].numpy(), ckpt["x_std"].numpy()


def load_transfer_source(
    model_dir: str | Path,
    poly_expansion: bool,
    hidden_dim: int,
    decoder_widths: Sequence[int],
    embedding: dict[str, Any] | None,
) -> tuple[list[DualModalTrainer], list[StructurePredictor], tuple[np.ndarray, np.ndarray]]:
    """(trainers g, predictors f1, their input normalisation) of an AML model directory that
    data-level transfer starts from, checked against the architecture asked for and the data
    set's embeddings (model, layer, variant)."""
    trainers, tmeta, x_mean, x_std = load_trainers(model_dir)
    arch = tmeta.architecture
    if (
        tmeta.poly_expansion != poly_expansion
        or arch["hidden_dim"] != hidden_dim
        or list(arch["decoder_widths"]) != list(decoder_widths)
    ):
        raise ValueError(
            f"transfer_from {model_dir}: its architecture {arch} (poly_expansion "
            f"{tmeta.poly_expansion}) differs from this config's"
        )
    if embedding and tmeta.embedding and tmeta.embedding != embedding:
        raise ValueError(
            f"transfer_from {model_dir} was trained on embeddings {tmeta.embedding}, this data set has {embedding}"
        )
    return trainers, load_predictor(model_dir).members, (x_mean, x_std)


def far_threshold(hidden: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray, quantile: float) -> float:
    """The far_from_training distance: ``quantile`` of the hidden-space distances of validation
    samples (else training samples, leave-one-out) to their nearest training sample."""
    train_h = hidden[train_idx]
    if len(val_idx):
        ref = np.linalg.norm(hidden[val_idx][:, None] - train_h[None], axis=-1).min(axis=1)
    else:
        d = np.linalg.norm(train_h[:, None] - train_h[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        ref = d.min(axis=1)
    return float(np.quantile(ref[np.isfinite(ref)], quantile)) if np.isfinite(ref).any() else math.inf


def ridge_closed_form(x: torch.Tensor, h: torch.Tensor, lam: float, chunk: int = 8192) -> torch.Tensor:
    """W = (X^T X + lam * mean(diag(X^T X)) I)^-1 X^T H in float64 by Cholesky; (F, d_h).

    X^T X and X^T H are accumulated in chunks of rows, so memory is O(F^2), not O(rows * F)."""
    f = x.shape[1]
    xtx = torch.zeros(f, f, dtype=torch.float64, device=x.device)
    xth = torch.zeros(f, h.shape[1], dtype=torch.float64, device=x.device)
    for s in range(0, len(x), chunk):
        xc, hc = x[s : s + chunk].double(), h[s : s + chunk].double()
        xtx += xc.T @ xc
        xth += xc.T @ hc
    reg = lam * float(torch.diagonal(xtx).mean())
    xtx += reg * torch.eye(f, dtype=torch.float64, device=x.device)
    chol = torch.linalg.cholesky(xtx)
    return torch.cholesky_solve(xth, chol)


def censored_l1(pred: torch.Tensor, y: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Mean absolute error where y is a value; where y is an upper bound only the excess of the
    prediction above it (a censored L1, zero for any prediction at or below the bound)."""
    err = pred - y
    return torch.where(upper, torch.relu(err), err.abs()).mean()
