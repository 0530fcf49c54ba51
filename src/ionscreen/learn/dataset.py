"""Training data (stage ``train``): the trainset tables joined into a ``Dataset`` of samples
(material x temperature) with their per-Li-atom embeddings, the composition-grouped splits and
folds that keep a composition on one side, and the standardised ``Tensors`` a model trains on.

Units: temperatures in K; targets as log10 of the label column's unit (e.g. log10 D in cm^2/s,
log10 sigma in S/cm); embeddings as SevenNet gives them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from ionscreen.learn.folds import grouped_split
from ionscreen.learn.model import Batch

log = logging.getLogger(__name__)


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
    lattice: np.ndarray | None = (
        None  # per sample: a, b, c (A), angles (deg), volume per atom (A^3) (skill.lattice_features)
    )

    @property
    def exact(self) -> np.ndarray:
        """True where y is a measured or computed value (not an upper bound)."""
        return np.ones(len(self.y), bool) if self.upper is None else ~self.upper

    def subset(self, idx: np.ndarray) -> Dataset:
        pick = [int(i) for i in idx]
        return Dataset(
            [self.material_ids[i] for i in pick],
            [self.groups[i] for i in pick],
            self.temperatures[pick],
            self.y[pick],
            [self.embs[i] for i in pick],
            [self.elements[i] for i in pick],
            None if self.trajs is None else [self.trajs[i] for i in pick],
            self.trajectory_embedder,
            None if self.given_split is None else self.given_split[pick],
            None if self.upper is None else self.upper[pick],
            None if self.lattice is None else self.lattice[pick],
        )


def _by_atom(grp: pd.DataFrame) -> tuple[tuple[int, ...], np.ndarray]:
    grp = grp.sort_values("atom_index")
    return tuple(int(a) for a in grp["atom_index"]), np.stack([np.asarray(v, np.float32) for v in grp["embedding"]])


# The upper-bound column of each target that has one (labels/diffusion.py: non-diffusive runs; OBELiX bounds).
UPPER_BOUND_COLUMN = {"D_cm2_s": "D_upper_cm2_s", "sigma_S_cm": "sigma_upper_S_cm"}


def load_dataset(
    labels: pd.DataFrame,
    embeddings: pd.DataFrame,
    structures: pd.DataFrame,
    target: str,
    trajectories: pd.DataFrame | None = None,
    *,
    censored: bool = False,
) -> Dataset:
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
    is_bound = (
        (labels["status"].isin(["ok", "bound"]) & ~exact & np.isfinite(bound) & (bound > 0))
        if bound is not None
        else pd.Series(False, index=labels.index)
    )
    labels = labels.assign(**{target: value.where(exact, bound if bound is not None else np.nan)}, _upper=is_bound)
    ok = labels[exact | is_bound]
    ok = ok[ok["material_id"].isin(structure_rows) & ok["material_id"].isin(formula)]
    traj_rows: dict[tuple[str, float], tuple[tuple[int, ...], np.ndarray]] = {}
    embedder = None
    if trajectories is not None and len(trajectories):
        embedder = ",".join(sorted(set(trajectories["embedder"])))
        traj_rows = {
            (str(m), float(t)): _by_atom(g)
            for (m, t), g in trajectories.groupby(["material_id", "temperature_K"], sort=False)
        }
        has = [(m, float(t)) in traj_rows for m, t in zip(ok["material_id"], ok["temperature_K"], strict=True)]
        if not all(has):
            log.warning(
                "%d label rows lack trajectory embeddings and are left out of AML training", len(has) - sum(has)
            )
        ok = ok[has]
    if len(ok) < len(labels):
        log.info(
            "training uses %d of %d label rows (others failed, skipped, non-positive %s or lack embeddings)",
            len(ok),
            len(labels),
            target,
        )
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
                raise ValueError(
                    f"{m} at {t} K: trajectory embeddings cover Li atoms {atoms_p[:5]}..., structure "
                    f"embeddings {structure_rows[m][0][:5]}...: they must come from the same cell"
                )
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
        lattice=_lattice_rows(list(ok["material_id"]), structures),
    )


def _lattice_rows(material_ids: list[str], structures: pd.DataFrame) -> np.ndarray | None:
    """Per sample, the lattice features of its material's structure (``skill.lattice_features``;
    None without structure JSON holding a lattice)."""
    from ionscreen.learn.skill import lattice_features

    if "structure_json" not in structures.columns:
        return None
    js = dict(zip(structures["material_id"], structures["structure_json"], strict=True))
    try:
        per = {m: lattice_features(js[m]) for m in dict.fromkeys(material_ids)}
    except (KeyError, TypeError, ValueError):
        return None
    return np.array([per[m] for m in material_ids]).reshape(len(material_ids), 7)


class TrainingTables(NamedTuple):
    labels: pd.DataFrame
    embeddings: pd.DataFrame
    structures: pd.DataFrame
    trajectories: pd.DataFrame | None


def read_training_tables(paths: Any) -> TrainingTables:
    """The trainset tables (``paths``: snakemake's ``input`` or a mapping with labels, structures,
    embeddings and trajectory_embeddings, see ionscreen.learn.trainset); trajectories None when empty."""
    from ionscreen.learn.trainset import read_trainset

    return TrainingTables(*read_trainset(paths))


def given_split_with_validation(data: Dataset, val_fraction: float, seed: int) -> np.ndarray:
    """The data set's train/test split, with validation compositions (``val_fraction`` of its
    train part's, drawn with ``seed``) from its train part. A composition in both parts stays
    whole on the test side of the validation draw."""
    given = np.asarray(data.given_split)
    if not set(given) <= {"train", "test"}:
        raise ValueError(f"the labels' split column must hold train/test, found {sorted(set(given))}")
    split = given.astype(object)
    tr = np.flatnonzero(given == "train")
    split[tr] = grouped_split([data.groups[i] for i in tr], val_fraction, 0.0, seed)
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

    def predictions(self, members: Sequence[torch.nn.Module], forward: Callable[[Any], torch.Tensor]) -> np.ndarray:
        """(members, samples) predictions, ``forward(member)`` back in log10 target units."""
        with torch.no_grad():
            return np.stack([forward(m).cpu().numpy() * self.y_std + self.y_mean for m in members])

    def to(self, device: str) -> Tensors:
        self.x, self.y, self.seg = self.x.to(device), self.y.to(device), self.seg.to(device)
        self.upper = self.upper.to(device)
        self.p = None if self.p is None else self.p.to(device)
        return self


# Training spread below which a feature column counts as constant (its values' units). Embeddings
# are float32 sums of O(1) terms: a component that vanishes by symmetry (an l > 0 irrep at a
# centrosymmetric Li site) comes out as rounding noise of 1e-8 to 1e-6. Scaled to unit variance,
# that noise became a feature: a model trained so moved by 0.03 log10 units under 1e-6 noise in
# its inputs (another batch composition, another BLAS). 1e-5 is 10x the largest such noise.
CONSTANT_STD = 1e-5


def _standardise(a: np.ndarray, train_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = a[train_rows].mean(axis=0), a[train_rows].std(axis=0)
    # Constant columns pass through unchanged. The temperature term's 1 is the bias-free encoder's
    # only bias: centred to 0, LayerNorm(W x) would be blind to the scale of x.
    const = std < CONSTANT_STD
    mean[const], std[const] = 0.0, 1.0
    return mean, std


def make_tensors(
    data: Dataset, train_idx: np.ndarray, poly: bool, x_norm: tuple[np.ndarray, np.ndarray] | None = None
) -> Tensors:
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
        seg=torch.from_numpy(batch.seg),
        rows_of=rows_of,
        x_mean=x_mean,
        x_std=x_std,
        y_mean=y_mean,
        y_std=y_std,
        upper=torch.from_numpy(~data.exact),
    )


def default_split(data: Dataset, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """The data set's own split (LiFlow: its test part stays test, validation compositions come
    from its training part), else a composition-grouped train/validation/test split."""
    if data.given_split is not None:
        return given_split_with_validation(data, val_fraction, seed)
    return grouped_split(data.groups, val_fraction, test_fraction, seed)
