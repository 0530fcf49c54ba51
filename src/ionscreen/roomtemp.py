"""The room-temperature conductivity model ``obelix-rt``: log10 sigma (S/cm) at 300 K from
composition and cell, trained on OBELiX's measured conductivities and shipped with the package.

Why a separate model: the workflow's own predictor learns MD transport at 600-1200 K from a few
dozen simulated cells; OBELiX holds 449 measured room-temperature conductivities, half of them
without a CIF. A model that needs only a composition, a cell volume and a space group can learn
from all of them, and gives every screened candidate a figure grounded in experiment.

Descriptors (``DESCRIPTOR_NAMES``, 270 columns), all from matminer's maintained featurisers:
Magpie element-property statistics (132), stoichiometry norms (6), valence-orbital fractions (8),
ionic character (3), element fractions (118), plus the cell: volume per atom (A^3), Li atoms per
A^3 and the space-group number. Partial occupancies count as fractional amounts, so a doped or
Li-disordered composition (non-integer Li, a strong sign of fast conduction) is seen as such.

Model: an extremely randomised tree ensemble (``RoomTempConfig``), exported to plain arrays
(``TreeEnsemble``): the checkpoint is an ``.npz`` that loads with numpy alone and predicts equal
to scikit-learn. The trees fit ln(-log10 sigma) (``TARGET_TRANSFORMS``), so the few very poor
conductors (sigma < 1e-10 S/cm, often extrapolated from high-temperature data) pull the splits
less; the prediction is -exp of the mean over trees. Uncertainty is the spread over trees (in
log10 sigma) times a factor calibrated on cross-validated errors so that 68 % of held-out entries
fall within one ``prediction_std``.

Upper bounds ("<1E-10") are not trained on: trees cannot take censored targets, and adding them as
values (at the bound, or one or two decades below it; a fold never trains on a bound whose
composition it tests) made the grouped CV error worse: 0.718-0.727 against 0.714.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen.trees import TreeEnsemble

log = logging.getLogger(__name__)

NAME = "obelix-rt"
ROOM_TEMPERATURE_K = 300.0
TARGET = "log10_sigma_S_cm"
FOREST = "random forest (composition + lattice + space group)"  # the baseline of every CV table
CELL_NAMES = ("volume_per_atom_A3", "li_per_A3", "spacegroup_number")


# ----------------------------------------------------------------------------- descriptors


def _featurisers() -> list[Any]:
    from matminer.featurizers.composition import (
        ElementFraction,
        ElementProperty,
        IonProperty,
        Stoichiometry,
        ValenceOrbital,
    )

    return [ElementProperty.from_preset("magpie"), Stoichiometry(), ValenceOrbital(), IonProperty(fast=True),
            ElementFraction()]


def descriptor_names() -> list[str]:
    """Column names of ``descriptors``: matminer's feature labels, then ``CELL_NAMES``."""
    return [n for f in _featurisers() for n in f.feature_labels()] + list(CELL_NAMES)


def descriptors(compositions: Sequence[Any], volumes_A3: Sequence[float], spacegroups: Sequence[int]) -> np.ndarray:
    """[n, 270] descriptors of cells with the given (unreduced: atoms per cell) compositions,
    cell volumes (A^3) and space-group numbers. A featuriser that fails on a composition gives NaN
    for its columns (the trees route NaN as scikit-learn does)."""
    from pymatgen.core import Composition

    feats = _featurisers()
    rows = []
    for comp, vol, sg in zip(compositions, volumes_A3, spacegroups, strict=True):
        comp = Composition(comp)
        row: list[float] = []
        for f in feats:
            try:
                row.extend(float(v) for v in f.featurize(comp))
            except (ValueError, KeyError, TypeError, ZeroDivisionError):
                row.extend([math.nan] * len(f.feature_labels()))
        n = comp.num_atoms
        row.extend([float(vol) / n, comp["Li"] / float(vol), float(sg)])
        rows.append(row)
    return np.asarray(rows, dtype=float).reshape(len(rows), -1)


def obelix_descriptors(table: pd.DataFrame) -> np.ndarray:
    """Descriptors of OBELiX rows from the CSV alone (no CIF needed): ``True Composition`` is the
    composition of the cell whose parameters a, b, c, alpha, beta, gamma (A, degrees) are given."""
    from pymatgen.core import Lattice

    vols = [Lattice.from_parameters(r.a, r.b, r.c, r.alpha, r.beta, r.gamma).volume
            for r in table[["a", "b", "c", "alpha", "beta", "gamma"]].itertuples()]
    return descriptors(list(table["True Composition"]), vols, list(table["Space group #"].astype(int)))


SPACEGROUP_UNKNOWN = "spacegroup_unknown"  # flag: the symmetry search failed, P1 (1) was used


def spacegroup_number(structure: Any, symprec: float = 0.1) -> int | None:
    """International space-group number of a (possibly disordered) structure; None if the search fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return int(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number())
    except Exception:  # spglib gives up on some cells
        return None


def spacegroup_from_symbol(symbol: str) -> int | None:
    """Number of a space-group symbol as the ``structures`` table stores it (e.g. 'Fm-3m'); None when unknown."""
    from pymatgen.symmetry.groups import SpaceGroup

    try:
        return int(SpaceGroup(str(symbol)).int_number)
    except Exception:
        return None


def structure_descriptors(structures: Sequence[Any], spacegroups: Sequence[int | None] | None = None) -> np.ndarray:
    """Descriptors of pymatgen structures (partial occupancies count as fractional atoms); the
    space group is searched when not given, and an unknown one counts as P1 (1): see
    ``spacegroup_flags`` for the flag that says so."""
    sgs = list(spacegroups) if spacegroups is not None else [spacegroup_number(s) for s in structures]
    return descriptors([s.composition for s in structures], [s.volume for s in structures],
                       [1 if sg is None else sg for sg in sgs])


def spacegroup_flags(spacegroups: Sequence[int | None]) -> list[list[str]]:
    """Per structure, ``[SPACEGROUP_UNKNOWN]`` where its space group is unknown (P1 was used), else []."""
    return [[SPACEGROUP_UNKNOWN] if sg is None else [] for sg in spacegroups]


# ----------------------------------------------------------------------------- training

# What the trees fit, as a function of y = log10 sigma (S/cm), and back. "ln_neg" needs y < 0
# (sigma < 1 S/cm: every OBELiX entry; the best is 10^-1.6).
_TRANSFORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "identity": (lambda y: y, lambda z: z),
    "ln_neg": (lambda y: np.log(-y), lambda z: -np.exp(z)),
}
TARGET_TRANSFORMS = tuple(_TRANSFORMS)


def _transform(name: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """(forward, inverse) of a target transform; ValueError naming the known ones otherwise."""
    if name not in _TRANSFORMS:
        raise ValueError(f"unknown target transform {name!r}; known: {', '.join(TARGET_TRANSFORMS)}")
    return _TRANSFORMS[name]


def to_tree_target(y: np.ndarray, transform: str) -> np.ndarray:
    """Training target of the trees for log10 sigma ``y`` (S/cm) under ``transform``."""
    forward, _ = _transform(transform)
    y = np.asarray(y, dtype=float)
    if transform == "ln_neg" and np.any(y >= 0):
        raise ValueError(f"target transform ln_neg needs log10 sigma < 0 (sigma < 1 S/cm); got {y.max():.3g}")
    return forward(y)


def from_tree_target(z: np.ndarray, transform: str) -> np.ndarray:
    """log10 sigma (S/cm) for tree outputs ``z`` (the inverse of ``to_tree_target``)."""
    return _transform(transform)[1](np.asarray(z, dtype=float))


def ensemble_prediction(per_tree: np.ndarray, transform: str) -> tuple[np.ndarray, np.ndarray]:
    """(log10 sigma, spread over trees in log10 sigma) from per-tree outputs [n_trees, n]: the
    mean is taken where the trees were fitted (then mapped back), the spread after mapping back."""
    return from_tree_target(per_tree.mean(0), transform), from_tree_target(per_tree, transform).std(0)


@dataclass
class RoomTempConfig:
    """How ``obelix-rt`` is trained and judged. Chosen by grouped 5-fold CV on the training split
    (folds seeded 0, 1, 2); the official test split was never read."""

    n_trees: int = 200  # 500 trees moved the CV MAE by < 0.005; 200 keep the shipped file small
    max_features: float = 0.5  # 0.5 of 270 descriptors per split: 0.726 vs 0.730 (0.3) and 0.736 (0.15)
    seed: int = 0
    # ln(-log10 sigma): 0.714 vs 0.728 (identity) on fold seeds 0-2; on fold seeds 3-10, never used
    # to choose, 0.706 vs 0.717 and better in 29 of 40 folds. Box-Cox powers 0.5 / -0.5 / -1: 0.712-0.730
    target_transform: str = "ln_neg"
    n_folds: int = 5
    fold_seeds: tuple[int, ...] = (0, 1, 2)  # the CV is repeated over three fold assignments
    rf_trees: int = 500  # the baseline forest, as train.cross_validate builds it
    coverage: float = 0.6827  # prediction_std covers this share of held-out errors (one sigma)
    far_quantile: float = 0.95  # far_from_training above this quantile of held-out nearest distances


def fit_trees(X: np.ndarray, y: np.ndarray, cfg: RoomTempConfig, seed: int | None = None) -> Any:
    """The scikit-learn ensemble fitted to log10 sigma ``y`` (S/cm) through ``cfg.target_transform``."""
    from sklearn.ensemble import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=cfg.n_trees, max_features=cfg.max_features,
                               random_state=cfg.seed if seed is None else seed,
                               n_jobs=-1).fit(X, to_tree_target(y, cfg.target_transform))


def training_table(folder: str | Path) -> pd.DataFrame:
    """OBELiX training rows with a measured conductivity (bounds and zeros left out)."""
    from ionscreen.obelix import read_table

    df = read_table(Path(folder) / "train.csv")
    return df[df["sigma_S_cm"].notna() & (df["sigma_S_cm"] > 0)].reset_index(drop=True)


@dataclass
class Standardiser:
    """Column scaling for descriptor-space distances (NaN -> the training mean)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardiser:
        sd = np.nanstd(X, axis=0)
        return cls(np.nanmean(X, axis=0), np.where(sd > 0, sd, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(X), 0.0, (X - self.mean) / self.scale)


def nearest_distance(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each standardised query row to its nearest reference row."""
    d2 = (query ** 2).sum(1)[:, None] - 2 * query @ reference.T + (reference ** 2).sum(1)[None, :]
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def forest_features(table: pd.DataFrame) -> np.ndarray:
    """The baseline forest's inputs for OBELiX rows: the project's composition features of the
    reduced composition (``skill.composition_features``), a, b, c (A), alpha, beta, gamma
    (degrees) and the space-group number."""
    from ionscreen.skill import composition_features

    lattice = table[["a", "b", "c", "alpha", "beta", "gamma", "Space group #"]].to_numpy(float)
    return np.hstack([composition_features(list(table["Reduced Composition"].astype(str))), lattice])


def fit_forest(X: np.ndarray, y: np.ndarray, cfg: RoomTempConfig) -> Any:
    """The baseline: a scikit-learn random forest (``cfg.rf_trees`` trees) fitted to log10 sigma."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=cfg.rf_trees, random_state=cfg.seed, n_jobs=-1).fit(X, y)


def held_out_predictions(X: np.ndarray, base: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                         cfg: RoomTempConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train the ensemble on descriptors ``X`` and the baseline forest on ``base`` (its
    ``forest_features``), both on the rows ``train`` (boolean mask) of log10 sigma ``y``; return the
    ensemble's prediction and spread over trees, and the forest's prediction, for the rows ``test``."""
    trees = TreeEnsemble.from_sklearn(fit_trees(X[train], y[train], cfg))
    pred, spread = ensemble_prediction(trees.tree_predictions(X[test]), cfg.target_transform)
    forest = fit_forest(base[train], y[train], cfg).predict(base[test])
    return pred, spread, forest


def cross_validate(table: pd.DataFrame, X: np.ndarray, cfg: RoomTempConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grouped k-fold CV (groups: OBELiX's reduced composition, normalised: ``obelix.read_table``'s
    ``formula``; ``dataset.grouped_folds``), per fold
    seed: the tree ensemble, a random forest on composition + lattice + space group (the project's
    baseline features) and the training mean, on the same folds. Returns the per-fold MAE rows
    and the out-of-fold predictions of the ensemble (for calibration)."""
    from ionscreen.dataset import grouped_folds

    y = table["log10_sigma_S_cm"].to_numpy(float)
    groups = list(table["formula"].astype(str))
    base = forest_features(table)
    rows, oof = [], []
    for fs in cfg.fold_seeds:
        folds = grouped_folds(groups, cfg.n_folds, fs)
        for k in range(cfg.n_folds):
            te = folds == k
            pred, spread, forest = held_out_predictions(X, base, y, ~te, te, cfg)
            std = Standardiser.fit(X[~te])
            dist = nearest_distance(std(X[te]), std(X[~te]))
            preds = {NAME: pred, FOREST: forest, "training mean": np.full(te.sum(), y[~te].mean())}
            for name, p in preds.items():
                rows.append({"model": name, "fold_seed": fs, "fold": k, "n_train": int((~te).sum()),
                             "n_test": int(te.sum()), "mae": float(np.abs(p - y[te]).mean())})
            oof.append(pd.DataFrame({"fold_seed": fs, "ID": table["ID"][te].to_numpy(), "y": y[te],
                                     "prediction": pred, "tree_std": spread, "forest": forest,
                                     "nearest_distance": dist}))
            log.info("fold seed %d, fold %d: %s MAE %.3f, forest %.3f", fs, k, NAME, rows[-3]["mae"], rows[-2]["mae"])
    return pd.DataFrame(rows), pd.concat(oof, ignore_index=True)


def learning_curve(table: pd.DataFrame, X: np.ndarray, cfg: RoomTempConfig,
                   fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0), repeats: int = 3) -> pd.DataFrame:
    """How the CV error falls with the amount of training data: on ``cross_validate``'s folds, the
    ensemble and the baseline forest are trained on a random share of each training fold's
    compositions (whole groups, so the split stays grouped) and judged on the whole held-out fold.
    A share below 1 is drawn ``repeats`` times (seeds ``cfg.seed + repeat``); a share of 1 is the
    plain CV. One row per (fold seed, fold, fraction, repeat) with ``n_train`` and both MAEs
    (log10 S/cm)."""
    from ionscreen.dataset import grouped_folds

    y = table["log10_sigma_S_cm"].to_numpy(float)
    groups = np.asarray(table["formula"].astype(str))
    base = forest_features(table)
    rows = []
    for fs in cfg.fold_seeds:
        folds = grouped_folds(list(groups), cfg.n_folds, fs)
        for k in range(cfg.n_folds):
            te = folds == k
            train_groups = np.unique(groups[~te])
            for frac in fractions:
                for rep in range(repeats if frac < 1 else 1):
                    tr = ~te
                    if frac < 1:
                        n_groups = max(1, int(round(frac * len(train_groups))))
                        keep = np.random.default_rng(cfg.seed + rep).choice(train_groups, n_groups, replace=False)
                        tr = tr & np.isin(groups, keep)
                    pred, _, forest = held_out_predictions(X, base, y, tr, te, cfg)
                    rows.append({"fold_seed": fs, "fold": k, "fraction": float(frac), "repeat": rep,
                                 "n_train": int(tr.sum()), "mae": float(np.abs(pred - y[te]).mean()),
                                 "forest_mae": float(np.abs(forest - y[te]).mean())})
            log.info("learning curve: fold seed %d, fold %d done", fs, k)
    return pd.DataFrame(rows)


def summarise_learning_curve(lc: pd.DataFrame) -> pd.DataFrame:
    """Per training fraction: mean training-set size, both MAEs (mean +- std over folds and
    repeats, log10 S/cm) and the ratio of the means (ensemble / forest)."""
    out = lc.groupby("fraction").agg(n_train=("n_train", "mean"), mae_mean=("mae", "mean"),
                                     mae_std=("mae", "std"), forest_mae_mean=("forest_mae", "mean"),
                                     forest_mae_std=("forest_mae", "std"))
    out["ratio"] = out["mae_mean"] / out["forest_mae_mean"]
    return out


def replicate_measurements(table: pd.DataFrame) -> pd.DataFrame:
    """OBELiX's repeated measurements of one phase: the rows of ``table`` (``training_table``) whose
    normalised reduced composition (``formula``) and space group another row shares (the same material measured in another
    paper or sample). Their descriptors differ at most by the stoichiometry and cell each paper
    reports, so how far they disagree is scatter that a model of composition and cell can hardly
    learn: it bounds such a model's error from below.

    Columns: ``ID``, ``material`` ("composition | space group"), ``n_measurements``,
    ``log10_sigma_S_cm``, ``others_mean`` (mean log10 sigma of the material's other measurements) and
    ``disagreement`` = |log10 sigma - others_mean| (decades)."""
    key = table["formula"].astype(str) + " | " + table["Space group #"].astype(int).astype(str)
    y = table[TARGET].astype(float)
    n = y.groupby(key).transform("count")
    others = (y.groupby(key).transform("sum") - y) / (n - 1).where(n > 1)
    out = pd.DataFrame({"ID": table["ID"], "material": key, "n_measurements": n, TARGET: y,
                        "others_mean": others, "disagreement": (y - others).abs()})
    return out[n > 1].reset_index(drop=True)


def summarise_replicates(rep: pd.DataFrame) -> dict[str, float]:
    """Figures of ``replicate_measurements`` (decades of log10 sigma): how many entries and
    materials, the mean and median disagreement with the other measurements, the MAE of each
    material's median measurement (the least any predictor that gives a material one value can
    reach on these entries, judged on the entries it was taken from), the mean difference
    within materials measured exactly twice, and that difference / sqrt(2): the scatter of one
    measurement if the two err independently and alike (an estimate, not a measurement). Figures
    of no entries (no repeats, no pairs) are NaN."""
    pairs = rep[rep["n_measurements"] == 2]["disagreement"]
    y = rep[TARGET]
    return {"n_entries": len(rep), "n_materials": int(rep["material"].nunique()),
            "mae_vs_others": float(rep["disagreement"].mean()),
            "median_vs_others": float(rep["disagreement"].median()),
            "mae_vs_material_median": float((y - y.groupby(rep["material"]).transform("median")).abs().mean()),
            "n_pairs": len(pairs) // 2, "pair_difference": float(pairs.mean()),
            "scatter_per_measurement": float(pairs.mean() / math.sqrt(2))}


# "Fast conductor": sigma >= 1e-4 S/cm, where a solid electrolyte starts to be worth making; the
# edge of the top band and the class the ranking figure's ROC AUC tells apart.
FAST_LOG10_S_CM = -4.0
# Bands of measured log10 sigma (S/cm) the held-out error is broken down by; 1e-8 S/cm starts the
# tail of poor (often extrapolated) values.
MEASURED_BANDS = ((-math.inf, -8.0, "sigma < 1e-8"), (-8.0, FAST_LOG10_S_CM, f"1e-8 <= sigma < 1e{FAST_LOG10_S_CM:g}"),
                  (FAST_LOG10_S_CM, math.inf, f"sigma >= 1e{FAST_LOG10_S_CM:g}"))
_OOF_MODELS = {NAME: "prediction", FOREST: "forest"}  # cross_validate's out-of-fold columns


def accuracy_by_measured_range(oof: pd.DataFrame) -> pd.DataFrame:
    """Where the held-out error lies: for ``cross_validate``'s out-of-fold table, per band of the
    measured log10 sigma (``MEASURED_BANDS``, then "all") and model (obelix-rt, the forest): the
    entries per fold seed, the MAE and the bias (mean of prediction - measurement), decades of
    log10 S/cm, each the mean over fold seeds. A band without entries is left out."""
    bands = [*MEASURED_BANDS, (-math.inf, math.inf, "all")]
    rows = []
    for lo, hi, band in bands:
        sel = oof[(oof["y"] >= lo) & (oof["y"] < hi)]
        if not len(sel):
            continue
        seed = sel["fold_seed"]
        n_entries = float(seed.value_counts().mean())
        for model, col in _OOF_MODELS.items():
            err = sel[col] - sel["y"]
            rows.append({"band": band, "model": model, "n_entries": n_entries,
                         "mae": float(err.abs().groupby(seed).mean().mean()), "bias": float(err.groupby(seed).mean().mean())})
    return pd.DataFrame(rows)


def ranking_scores(oof: pd.DataFrame, fast_log10: float = FAST_LOG10_S_CM) -> dict[str, dict[str, float]]:
    """How well each model orders the held-out entries (``cross_validate``'s out-of-fold table), the
    use a screen makes of it: per model, the Spearman rank correlation of prediction and measurement,
    and the ROC AUC of the prediction for telling measured log10 sigma >= ``fast_log10`` (S/cm)
    from below it (NaN when one side is empty); each the mean over fold seeds."""
    from sklearn.metrics import roc_auc_score

    from ionscreen.metrics import regression_metrics

    out = {}
    for model, col in _OOF_MODELS.items():
        rho, auc = [], []
        for _, o in oof.groupby("fold_seed"):
            y, p = o["y"].to_numpy(float), o[col].to_numpy(float)
            fast = y >= fast_log10
            rho.append(regression_metrics(y, p)["spearman"])
            auc.append(float(roc_auc_score(fast, p)) if 0 < fast.sum() < len(fast) else math.nan)
        out[model] = {"spearman": float(np.mean(rho)), "roc_auc_fast": float(np.mean(auc))}
    return out


def over_2_decades(oof: pd.DataFrame) -> dict[str, int]:
    """Who the held-out predictions off by more than 2 decades are (``cross_validate``'s out-of-fold
    table, pooled over fold seeds): how many (``n``), and how many of them were measured below
    1e-10 and below 1e-8 S/cm; the card's figures on the tail."""
    big = oof[(oof["prediction"] - oof["y"]).abs() > 2.0]
    return {"n": len(big), "n_fold_seeds": int(oof["fold_seed"].nunique()),
            "below_1e-10": int((big["y"] < -10.0).sum()), "below_1e-8": int((big["y"] < -8.0).sum())}


def _defined(figures: dict[str, float]) -> dict[str, float]:
    """``figures`` without the undefined (NaN) ones, for ``model.json``: JSON has no NaN."""
    return {k: v for k, v in figures.items() if not math.isnan(v)}


def held_out_figures(oof: pd.DataFrame) -> dict[str, Any]:
    """``model.json``'s figures of where the held-out error lies and how well the held-out entries
    are ranked (``accuracy_by_measured_range``, ``ranking_scores``; undefined scores left out, as
    JSON has no NaN): the input of ``accuracy_section``."""
    return {"by_measured_range": accuracy_by_measured_range(oof).to_dict("records"),
            "fast_log10_S_cm": FAST_LOG10_S_CM,
            "ranking": {m: _defined(r) for m, r in ranking_scores(oof).items()}}


def summarise_cv(cv: pd.DataFrame) -> pd.DataFrame:
    """Per model: MAE mean +- std over every (fold seed, fold), and the mean over fold seeds of the
    per-seed mean (the figure quoted in the model card)."""
    per_seed = cv.groupby(["model", "fold_seed"])["mae"].mean().unstack()
    out = cv.groupby("model")["mae"].agg(mae_mean="mean", mae_std="std")
    for fs in per_seed.columns:
        out[f"mae_fold_seed_{fs}"] = per_seed[fs]
    return out.sort_values("mae_mean")


@dataclass
class RoomTempMeta:
    """``model.json`` of a room-temperature model: what it predicts, what it was trained on and
    how well it did in CV."""

    name: str
    target: str
    temperature_K: float
    descriptor_names: list[str]
    training_elements: list[str]
    n_train: int
    std_scale: float  # prediction_std = std_scale x spread over trees
    far_threshold: float  # standardised descriptor distance above which a candidate is far from training
    target_transform: str = "identity"  # what the trees fit (TARGET_TRANSFORMS); models before it fit log10 sigma
    cv: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    data: str = "OBELiX training split (CC BY 4.0)"

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> RoomTempMeta:
        return cls(**json.loads(Path(path).read_text()))


def train_room_temperature(folder: str | Path, out_dir: str | Path, cfg: RoomTempConfig | None = None
                           ) -> tuple[RoomTempMeta, pd.DataFrame]:
    """Cross-validate, calibrate and fit ``obelix-rt`` on every measured OBELiX training entry;
    writes ``trees.npz``, ``reference.npz`` (standardised training descriptors for distances),
    ``model.json``, ``cross_validation.csv`` and ``MODEL_CARD.md`` into ``out_dir``."""
    from pymatgen.core import Composition

    cfg = cfg or RoomTempConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = training_table(folder)
    X = obelix_descriptors(table)
    y = table["log10_sigma_S_cm"].to_numpy(float)
    cv, oof = cross_validate(table, X, cfg)
    abs_err = np.abs(oof["y"] - oof["prediction"])  # held-out |error|, decades of log10 S/cm
    ratio = abs_err / np.maximum(oof["tree_std"], 1e-6)
    std_scale = float(np.quantile(ratio, cfg.coverage))
    far = float(np.quantile(oof["nearest_distance"], cfg.far_quantile))
    trees = TreeEnsemble.from_sklearn(fit_trees(X, y, cfg))
    trees.save(out / "trees.npz")
    std = Standardiser.fit(X)
    np.savez_compressed(out / "reference.npz", mean=std.mean, scale=std.scale, X=std(X).astype(np.float32))
    summary = summarise_cv(cv)
    elements = sorted({el.symbol for c in table["True Composition"] for el in Composition(c).elements})
    meta = RoomTempMeta(name=NAME, target=TARGET, temperature_K=ROOM_TEMPERATURE_K,
                        descriptor_names=descriptor_names(), training_elements=elements, n_train=len(y),
                        std_scale=std_scale, far_threshold=far, target_transform=cfg.target_transform,
                        cv={"n_folds": cfg.n_folds, "fold_seeds": list(cfg.fold_seeds),
                            "mae": {m: {"mean": r["mae_mean"], "std": r["mae_std"]} for m, r in summary.iterrows()},
                            "coverage_1std": float(np.mean(ratio <= std_scale)),
                            "median_abs_error": float(np.median(abs_err)),
                            "share_over_2_decades": float(np.mean(abs_err > 2.0)),
                            "over_2_decades": over_2_decades(oof),
                            "n_train_below_1e-10": int((y < -10.0).sum()),
                            "replicates": _defined(summarise_replicates(replicate_measurements(table))),
                            **held_out_figures(oof)},
                        config=asdict(cfg))
    meta.to_json(out / "model.json")
    cv.to_csv(out / "cross_validation.csv", index=False)
    (out / "MODEL_CARD.md").write_text(model_card(meta, summary))
    return meta, summary


def model_card(meta: RoomTempMeta, summary: pd.DataFrame) -> str:
    """The model card (Markdown): data, CV figures, limits, licence and attribution."""
    forest = summary.loc[FOREST, "mae_mean"]
    lines = [f"# Model card: `{meta.name}`", "",
             f"Predicts **log10 of the room-temperature ({meta.temperature_K:g} K) ionic conductivity (S/cm)** of a",
             "Li-containing solid from its composition, cell volume and space group.", "",
             "## Data", "",
             f"OBELiX training split: {meta.n_train} entries with a measured conductivity (upper bounds such as",
             "\"<1E-10\" and entries without a value are not trained on). Each entry's composition, cell and space",
             "group come from the OBELiX table, so entries without a CIF count too. The official test split was",
             "not used for training or for choosing anything.", "",
             "## Model", "",
             f"Extremely randomised trees ({meta.config.get('n_trees')} trees, {meta.config.get('max_features')} of the "
             f"{len(meta.descriptor_names)} descriptors per split)",
             "on matminer composition descriptors (Magpie, stoichiometry, valence orbitals, ionic character,",
             "element fractions), volume per atom, Li atoms per A^3 and the space-group number. "
             + ("The trees fit ln(-log10 sigma) and the prediction is -exp of their mean, so the"
                f" {meta.cv.get('n_train_below_1e-10', 'few')} very poor conductors (below 1e-10 S/cm) weigh less"
                " in the splits."
                if meta.target_transform == "ln_neg" else "The trees fit log10 sigma."), "",
             "## Cross-validated accuracy", "",
             f"Grouped {meta.cv['n_folds']}-fold CV on the training split (groups: reduced composition, normalised by",
             "pymatgen so that one composition written two ways is one group), repeated over",
             f"fold seeds {meta.cv['fold_seeds']}; every model on the same folds. MAE of log10 sigma:", "",
             "| model | MAE mean | MAE std (over folds) | " + " | ".join(f"seed {s}" for s in meta.cv["fold_seeds"]) + " |",
             "|---|---|---|" + "---|" * len(meta.cv["fold_seeds"])]
    for name, r in summary.iterrows():
        seeds = " | ".join(f"{r[f'mae_fold_seed_{s}']:.3f}" for s in meta.cv["fold_seeds"])
        lines.append(f"| {name} | {r['mae_mean']:.3f} | {r['mae_std']:.3f} | {seeds} |")
    lines += ["", f"Ratio to the random forest: {summary.loc[meta.name, 'mae_mean'] / forest:.2f}.",
              f"`prediction_std` is the spread over trees x {meta.std_scale:.2f}, calibrated so that "
              f"{100 * meta.cv['coverage_1std']:.0f} % of held-out errors lie within one std.", "",
              *accuracy_section(meta.cv),
              "## Do not use it for", "",
              "- Temperatures other than room temperature (it refuses them).",
              "- Ranking polymorphs of one composition finely: the structure enters only through volume, Li",
              "  density and space group.",
              "- Chemistries far from solid Li-ion conductors (flag `far_from_training`) or with elements OBELiX",
              "  lacks (flag `elements_unseen_in_training`).",
              "- Judging its error on OBELiX's own training entries (flag `in_training_data`): it returns the",
              "  measurement, with a spread of 0.",
              f"- A replacement for measurement: the median held-out error is {meta.cv['median_abs_error']:.2f} decades "
              f"(a factor of {10 ** meta.cv['median_abs_error']:.1f}),",
              f"  and {100 * meta.cv['share_over_2_decades']:.0f} % of held-out entries are off by more than 2 decades"
              + _over_2_decades_words(meta.cv.get("over_2_decades")), *_tail_lines(meta.cv),
              *_replicate_lines(meta.cv.get("replicates")), "",
              "## Licence and attribution", "",
              "Trained on OBELiX (Therrien et al., \"OBELiX: A Curated Dataset of Crystal Structures and",
              "Experimentally Measured Ionic Conductivities for Lithium Solid-State Electrolytes\", 2025),",
              "licensed CC BY 4.0; the vendored copy and its licence notice are in `resources/obelix/`.",
              "Descriptors: matminer (Ward et al., Comput. Mater. Sci. 152, 60 (2018)); Magpie element data",
              "(Ward et al., npj Comput. Mater. 2, 16028 (2016)).", ""]
    return "\n".join(lines)


def accuracy_section(cv: dict[str, Any]) -> list[str]:
    """The model card's section (Markdown lines) on where the held-out error lies and how well the
    held-out entries are ranked, from ``cv`` with the keys ``by_measured_range``
    (``accuracy_by_measured_range`` records), ``ranking`` (``ranking_scores``) and
    ``fast_log10_S_cm``; none for models trained before they were measured."""
    if not cv.get("by_measured_range"):
        return []
    t = pd.DataFrame(cv["by_measured_range"]).pivot(index="band", columns="model", values=["mae", "bias", "n_entries"])
    order = [b for *_, b in MEASURED_BANDS if b in t.index] + ["all"]
    lines = ["## Held-out accuracy by measured conductivity", "",
             "The same CV's held-out predictions, by where the measurement lies (decades of log10 sigma;",
             "bias = mean of prediction - measurement; means over the fold seeds; \"all\" pools the entries, where",
             "the table above averages folds):", "",
             f"| measured (S/cm) | entries | {NAME} MAE | {NAME} bias | forest MAE | forest bias | MAE ratio |",
             "|---|---|---|---|---|---|---|"]
    for band in order:
        r = t.loc[band]
        lines.append(f"| {band} | {r[('n_entries', NAME)]:.0f} | {r[('mae', NAME)]:.3f} | {r[('bias', NAME)]:+.2f} | "
                     f"{r[('mae', FOREST)]:.3f} | {r[('bias', FOREST)]:+.2f} | "
                     f"{r[('mae', NAME)] / r[('mae', FOREST)]:.2f} |")
    rank = cv.get("ranking", {})
    if NAME in rank and FOREST in rank:
        own, forest = rank[NAME], rank[FOREST]
        lines += ["", f"Ranking the held-out entries: Spearman rho {own.get('spearman', math.nan):.3f} "
                  f"(forest {forest.get('spearman', math.nan):.3f}); telling",
                  f"sigma >= 1e{cv.get('fast_log10_S_cm', FAST_LOG10_S_CM):g} S/cm from below it: ROC AUC "
                  f"{own.get('roc_auc_fast', math.nan):.3f} (forest {forest.get('roc_auc_fast', math.nan):.3f})."]
    return [*lines, ""]


def _over_2_decades_words(big: dict[str, int] | None) -> str:
    """The end of the card's sentence on errors above 2 decades: who they are (``over_2_decades``);
    a full stop for models trained before it was counted."""
    if not big or not big["n"]:
        return "."
    return (f":\n  of these {big['n']} held-out predictions (over {big['n_fold_seeds']} fold seeds), {big['below_1e-10']} are of"
            f" entries measured below 1e-10 S/cm and {big['below_1e-8']} below 1e-8 S/cm.")


def _tail_lines(cv: dict[str, Any]) -> list[str]:
    """The model card's warning on the poor-conductor tail, from ``accuracy_by_measured_range``."""
    tail = [r for r in cv.get("by_measured_range", []) if r["band"] == MEASURED_BANDS[0][2] and r["model"] == NAME]
    if not tail:
        return []
    bias = tail[0]["bias"]
    return [f"- Saying how poor a poor conductor is: where the measured {tail[0]['band']} S/cm, held-out predictions are "
            f"{abs(bias):.1f} decades",
            f"  too {'high' if bias > 0 else 'low'} on average. A low prediction says a material conducts poorly, "
            "not how poorly."]


def _replicate_lines(rep: dict[str, float] | None) -> list[str]:
    """The model card's words on how far the training data's own repeated measurements disagree
    (``summarise_replicates``); none for models trained before it was measured."""
    if not rep or not rep["n_entries"]:
        return []
    pairs = [] if "pair_difference" not in rep else [
        f"  Phases measured twice differ by {rep['pair_difference']:.2f}: about "
        f"{rep['scatter_per_measurement']:.2f} per measurement if both err independently and alike."]
    return [f"- Telling apart conductivities closer than the data's own scatter: {rep['n_entries']} training entries "
            f"({rep['n_materials']} phases,",
            "  same normalised reduced composition and space group) are measured more than once, and a measurement lies",
            f"  {rep['mae_vs_others']:.2f} decades from the mean of the same phase's other measurements "
            f"(median {rep['median_vs_others']:.2f}).", *pairs,
            "  Much of the held-out error is lab-to-lab scatter that no model of composition and cell can learn."]


# ----------------------------------------------------------------------------- prediction

SHIPPED = {NAME: "models/obelix-rt"}  # models that ship inside the package, by name


def resolve(model: str | Path) -> Path | None:
    """The directory of a room-temperature model given by name (``obelix-rt``) or path; None when
    ``model`` is not one (e.g. a workflow model directory)."""
    if str(model) in SHIPPED:
        return Path(str(resources.files("ionscreen").joinpath(SHIPPED[str(model)])))
    path = Path(model)
    return path if (path / "trees.npz").is_file() and (path / "model.json").is_file() else None


class RoomTempModel:
    """A loaded room-temperature model: ``predict`` gives log10 sigma (S/cm) at 300 K, its
    calibrated std and flags, from descriptors."""

    def __init__(self, directory: str | Path) -> None:
        directory = Path(directory)
        if not (directory / "trees.npz").is_file():
            raise FileNotFoundError(f"no room-temperature model in {directory} (trees.npz missing)")
        self.directory = directory
        self.meta = RoomTempMeta.from_json(directory / "model.json")
        self.trees = TreeEnsemble.load(directory / "trees.npz")
        with np.load(directory / "reference.npz") as z:
            self.standardise = Standardiser(z["mean"], z["scale"])
            self.reference = z["X"].astype(np.float64)

    @classmethod
    def named(cls, model: str | Path) -> RoomTempModel:
        directory = resolve(model)
        if directory is None:
            raise FileNotFoundError(f"{model} is neither a shipped model ({', '.join(SHIPPED)}) nor a "
                                    "room-temperature model directory")
        return cls(directory)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(log10 sigma, prediction_std, nearest standardised training distance) per descriptor row."""
        mean, spread = ensemble_prediction(self.trees.tree_predictions(X), self.meta.target_transform)
        return mean, self.meta.std_scale * spread, nearest_distance(self.standardise(X), self.reference)

    def rows(self, ids: Sequence[str], formulas: Sequence[str], X: np.ndarray,
             extra_flags: Sequence[Sequence[str]] | None = None) -> pd.DataFrame:
        """``predictions`` rows at room temperature (target ``log10_sigma_S_cm``), with flags
        ``elements_unseen_in_training``, ``far_from_training`` and ``in_training_data`` (every
        tree returns the same training entry's measurement: the candidate is that entry, or
        indistinguishable from it, and a spread of 0 says nothing about the error)."""
        from pymatgen.core import Composition

        from ionscreen import schema

        mean, std, dist = self.predict(X) if len(X) else (np.zeros(0), np.zeros(0), np.zeros(0))
        known = set(self.meta.training_elements)
        out = []
        for k, (m, f) in enumerate(zip(ids, formulas, strict=True)):
            flags = list(extra_flags[k]) if extra_flags is not None else []
            if {el.symbol for el in Composition(f).elements} - known:
                flags.append("elements_unseen_in_training")
            if dist[k] > self.meta.far_threshold:
                flags.append("far_from_training")
            if std[k] < 1e-9:
                flags.append("in_training_data")
            out.append({"material_id": str(m), "temperature_K": self.meta.temperature_K, "target": self.meta.target,
                        "prediction": float(mean[k]), "prediction_std": float(std[k]), "flags": flags,
                        "formula": str(f), "nearest_training_distance": float(dist[k])})
        return pd.DataFrame(out, columns=schema.spec("predictions").column_names)

    def file_rows(self, paths: Sequence[str | Path]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """(``rows`` of the structure files as given: partial occupancies count as fractional
        atoms, nothing is ordered or relaxed; rejected rows: unreadable, no Li)."""
        from ionscreen.sources import files_by_id
        from ionscreen.structures import StructureError, read_structure

        ids, structs, bad = [], [], []
        for mid, p in files_by_id(paths).items():
            try:
                s = read_structure(p)
                if s.composition["Li"] == 0:
                    raise StructureError(f"{p.name} has no Li", "no_li")
            except StructureError as exc:
                bad.append({"material_id": mid, "source": str(p), "stage": "screen", "code": exc.code, "reason": str(exc)})
                continue
            ids.append(mid)
            structs.append(s)
        if not structs:
            from ionscreen import schema

            return pd.DataFrame(columns=schema.spec("predictions").column_names), bad
        sgs = [spacegroup_number(s) for s in structs]
        return self.rows(ids, [s.composition.reduced_formula for s in structs], structure_descriptors(structs, sgs),
                         spacegroup_flags(sgs)), bad

    def file_columns(self, paths: Sequence[str | Path]) -> pd.DataFrame:
        """Per material of the structure files, ``RT_COLUMNS`` (what ``ionscreen predict`` with a
        workflow model adds beside its predictions, as the workflow's rule does)."""
        return rt_columns(self.file_rows(paths)[0])

    def structure_table_columns(self, structures: pd.DataFrame) -> pd.DataFrame:
        """Room-temperature columns for a ``structures`` table (prepared candidates): per material
        ``sigma_rt_log10_S_cm``, ``sigma_rt_std``, ``sigma_rt_flags``. The space group is the input
        structure's (the ``spacegroup`` column), as OBELiX's is that of the published cell."""
        from ionscreen.structures import structure_from_row

        if not len(structures):
            return pd.DataFrame(columns=["material_id", *RT_COLUMNS])
        structs = [structure_from_row(r) for r in structures.to_dict("records")]
        sgs = [spacegroup_from_symbol(s) for s in structures["spacegroup"]]
        rows = self.rows(structures["material_id"].astype(str).tolist(),
                         [s.composition.reduced_formula for s in structs], structure_descriptors(structs, sgs),
                         spacegroup_flags(sgs))
        return rt_columns(rows)


RT_COLUMNS = ("sigma_rt_log10_S_cm", "sigma_rt_std", "sigma_rt_flags")


def rt_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """``material_id`` and ``RT_COLUMNS`` from room-temperature ``rows`` (``RoomTempModel.rows``)."""
    return pd.DataFrame({"material_id": rows["material_id"], RT_COLUMNS[0]: rows["prediction"],
                         RT_COLUMNS[1]: rows["prediction_std"], RT_COLUMNS[2]: rows["flags"]})
