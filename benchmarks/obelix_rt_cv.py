"""OBELiX room-temperature model: grouped 5-fold CV on the training split, every model on the same
folds (groups: OBELiX's reduced composition, normalised: ``obelix.normalised_formula``):

- ``obelix-rt``, the shipped model (``ionscreen.roomtemp.fit``), on all measured entries;
- the baseline a user would write: a random forest on composition + lattice + space group;
- the training mean;
- where both models' held-out error lies by measured conductivity, and how well they rank;
- how far OBELiX's own repeated measurements of one phase disagree (the scatter no model can learn),
  next to both models' held-out errors on those entries;
- the structure-only AML-route predictor (the workflow's model, trained as ``config/obelix.yaml``
  says) on the entries with a CIF, next to the other two on exactly those entries.

    python benchmarks/obelix_rt_cv.py [--fold-seeds 0 1 2] [--aml-fold-seeds 0] [--widths 4000 4000 4000]
    python benchmarks/obelix_rt_cv.py --learning-curve [--plot results/obelix-rt-learning-curve.png]

``--learning-curve`` trains both tree models on 25 / 50 / 75 / 100 % of each training fold's
compositions (three draws each) and prints how their MAE, and the ratio of the two, fall with the
amount of data (``roomtemp.fit.learning_curve``; 5 min on 2 cores).

The AML route needs SevenNet embeddings of the CIF entries: they are prepared and embedded in this
process as the workflow's obelix config does (no supercell, disorder ordered within 400 atoms, no
relaxation) and cached under ``--cache`` (default results/obelix-cv-cache/).
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ionscreen.roomtemp.fit import RoomTempConfig

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.85  # the project's aim: obelix-rt's MAE at most this share of the forest's


def obelix_trainset(
    cache: Path, variant: str = "invariant", frame: str = "given"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(trainset labels, structures, embeddings) of the OBELiX CIF entries. The prepared structures
    and their embeddings (one file per embedding variant and frame) are cached; the labels are cheap
    and always made by the current code, so a change in grouping or label columns applies."""
    import yaml

    from ionscreen import mlip, schema
    from ionscreen.embed.graph import embedding_dim, orientation_invariant
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.learn.trainset import trainset_labels
    from ionscreen.structures.obelix import cif_files, training_labels
    from ionscreen.structures.prepare import PrepareSettings, prepare_item, structure_from_row

    folder = REPO / "resources/obelix"
    structures_path, emb_path = cache / "structures.parquet", cache / f"embeddings-{variant}-{frame}.parquet"
    if not structures_path.exists():
        settings = PrepareSettings(device="cpu", **yaml.safe_load((REPO / "config/obelix.yaml").read_text())["prepare"])
        known = mlip.known_elements(settings.mlip)
        rows = []
        for mid, p in cif_files(folder).items():
            row, _ = prepare_item(mid, "obelix", p, settings, None, known)
            if row is not None:
                rows.append(row)
        cache.mkdir(parents=True, exist_ok=True)
        schema.write_table(pd.DataFrame(rows), structures_path, "structures")
    structures = schema.read_table(structures_path, "structures")
    if not emb_path.exists():
        emb = SevenNetEmbedder(variant=variant, frame=frame, device="cpu")(
            [(r["material_id"], structure_from_row(r)) for r in structures.to_dict("records")], progress=False
        )
        schema.write_table(
            emb,
            emb_path,
            "embeddings",
            model="7net-0",
            layer=10,
            variant=variant,
            frame=frame,
            dim=embedding_dim(variant),
            rotation_invariant=orientation_invariant(variant, frame),
        )
    labels = trainset_labels(training_labels(folder), structures, "obelix")
    return labels, structures, schema.read_table(emb_path, "embeddings")


def learning_curve_table(table: pd.DataFrame, X: np.ndarray, cfg: RoomTempConfig, plot: Path) -> None:
    """Print ``roomtemp.fit.learning_curve``'s summary and draw MAE against training-set size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ionscreen.roomtemp.descriptors import FOREST, NAME
    from ionscreen.roomtemp.fit import learning_curve, summarise_learning_curve

    t0 = time.perf_counter()
    s = summarise_learning_curve(learning_curve(table, X, cfg))
    print(
        f"learning curve: {time.perf_counter() - t0:.0f} s; MAE of log10 sigma on the held-out folds "
        "(mean +- std over folds and draws)"
    )
    print(f"  {'share':>5s} {'n_train':>7s} {NAME:>15s} {'forest':>15s} {'ratio':>6s}")
    for frac, r in s.iterrows():
        print(
            f"  {frac:5.2f} {r['n_train']:7.0f} {r['mae_mean']:7.3f} +- {r['mae_std']:.3f}"
            f" {r['forest_mae_mean']:7.3f} +- {r['forest_mae_std']:.3f} {r['ratio']:6.3f}"
        )
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.6))
    ax.errorbar(s["n_train"], s["mae_mean"], s["mae_std"], marker="o", capsize=3, label=NAME)
    ax.errorbar(s["n_train"], s["forest_mae_mean"], s["forest_mae_std"], marker="s", capsize=3, label=FOREST)
    ax.set(xlabel="training entries per fold", ylabel="held-out MAE of log10 sigma (S/cm)")
    ax.legend(fontsize=7)
    bx.plot(s["n_train"], s["ratio"], marker="o")
    bx.axhline(TARGET_RATIO, ls="--", c="grey", label=f"target {TARGET_RATIO}")
    bx.set(xlabel="training entries per fold", ylabel=f"MAE ratio {NAME} / forest")
    bx.legend(fontsize=7)
    fig.tight_layout()
    plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(plot, dpi=120)
    print(f"  figure: {plot}")


def held_out_mae(oof: pd.DataFrame, col: str, by: str) -> pd.Series:
    """MAE of the out-of-fold predictions in column ``col`` (log10 S/cm) per value of ``by``."""
    return (oof[col] - oof["y"]).abs().groupby(oof[by]).mean()


def reproducibility(table: pd.DataFrame, oof: pd.DataFrame) -> None:
    """Print how far OBELiX's repeated measurements of one phase disagree, next to both models'
    held-out errors on those entries (``roomtemp.figures.replicate_measurements``)."""
    from ionscreen.roomtemp.descriptors import NAME
    from ionscreen.roomtemp.figures import replicate_measurements, summarise_replicates

    rep = replicate_measurements(table)
    s = summarise_replicates(rep)
    print(
        f"Measured more than once (same normalised reduced composition and space group): {s['n_entries']} entries of "
        f"{s['n_materials']} materials"
    )
    print(
        f"  a measurement vs the mean of the material's others: {s['mae_vs_others']:.3f} decades "
        f"(median {s['median_vs_others']:.3f})"
    )
    print(
        f"  even each material's own median measurement is {s['mae_vs_material_median']:.3f} off (a floor for "
        "one prediction per material)"
    )
    print(
        f"  the {s['n_pairs']} materials measured twice: {s['pair_difference']:.3f} apart, i.e. "
        f"{s['scatter_per_measurement']:.3f} per measurement if both err independently and alike"
    )
    repeated = oof["ID"].isin(rep["ID"])
    for rows, what in ((repeated, "these entries"), (~repeated, "the entries measured once")):
        o = oof[rows]
        maes = [held_out_mae(o, c, "fold_seed").mean() for c in ("prediction", "forest")]
        print(f"  held-out MAE on {what} ({o['ID'].nunique()}): {NAME} {maes[0]:.3f}, forest {maes[1]:.3f}")
    print()


def by_measured_range(oof: pd.DataFrame) -> None:
    """Print where both models' held-out error lies and how well they order the held-out entries:
    the model card's section (``roomtemp.card.accuracy_section``) for this run's out-of-fold predictions."""
    from ionscreen.roomtemp.card import accuracy_section
    from ionscreen.roomtemp.figures import held_out_figures

    print("\n".join(accuracy_section(held_out_figures(oof))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--aml-fold-seeds", type=int, nargs="*", default=[0], help="fold seeds for the AML route (slow)")
    ap.add_argument(
        "--widths", type=int, nargs="+", default=None, help="AML decoder widths (default: config/obelix.yaml)"
    )
    ap.add_argument("--cache", type=Path, default=REPO / "results/obelix-cv-cache")
    ap.add_argument("--variant", default="invariant", choices=["invariant", "full"], help="embedding of the AML route")
    ap.add_argument("--frame", default="given", choices=["given", "standard"], help="embedding frame of the AML route")
    ap.add_argument("--learning-curve", action="store_true", help="MAE against training-set size instead")
    ap.add_argument(
        "--plot",
        type=Path,
        default=REPO / "results/obelix-rt-learning-curve.png",
        help="where --learning-curve draws its figure",
    )
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import yaml

    from ionscreen import mlip
    from ionscreen.learn.config import TrainConfig
    from ionscreen.learn.evaluate import cross_validate as aml_cv
    from ionscreen.learn.folds import grouped_folds
    from ionscreen.roomtemp.descriptors import FOREST, NAME, obelix_descriptors
    from ionscreen.roomtemp.fit import RoomTempConfig, cross_validate, training_table

    mlip.set_threads(2)
    table = training_table(REPO / "resources/obelix")
    cfg = RoomTempConfig(fold_seeds=tuple(a.fold_seeds))
    t0 = time.perf_counter()
    X = obelix_descriptors(table)
    if a.learning_curve:
        learning_curve_table(table, X, cfg, a.plot)
        return
    cv, oof = cross_validate(table, X, cfg)
    print(f"descriptors + {NAME} / forest CV: {time.perf_counter() - t0:.1f} s, {len(table)} entries\n")
    print("All measured entries (MAE of log10 sigma, mean +- std over folds; per fold seed):")
    for model, grp in cv.groupby("model", sort=False):
        per_seed = grp.groupby("fold_seed")["mae"].mean()
        print(
            f"  {model:55s} {grp['mae'].mean():.3f} +- {grp['mae'].std():.3f}   "
            + " ".join(f"s{s}={v:.3f}" for s, v in per_seed.items())
        )
    forest = cv[cv["model"] == FOREST]["mae"].mean()
    print(f"  ratio {NAME} / forest: {cv[cv['model'] == NAME]['mae'].mean() / forest:.3f} (target <= {TARGET_RATIO})\n")
    by_measured_range(oof)
    reproducibility(table, oof)
    if not a.aml_fold_seeds:
        return

    labels, structures, embeddings = obelix_trainset(a.cache, a.variant, a.frame)
    train_cfg = yaml.safe_load((REPO / "config/obelix.yaml").read_text())["train"]
    train_cfg = {k: v for k, v in train_cfg.items() if k not in ("labels",)}
    if a.widths:
        train_cfg["decoder_widths"] = a.widths
    tcfg = TrainConfig(**{**train_cfg, "device": "cpu"})
    groups = list(table["formula"])
    for fs in a.aml_fold_seeds:
        folds = grouped_folds(groups, cfg.n_folds, fs)
        fold_of = dict(zip(groups, folds.tolist(), strict=True))
        labels_fs = labels[labels["group"].isin(fold_of)]
        t0 = time.perf_counter()
        res = aml_cv(labels_fs, embeddings, structures, tcfg, None, n_folds=cfg.n_folds, fold_of=fold_of)
        sub_ids = set(labels_fs.loc[labels_fs["status"] == "ok", "material_id"]) & set(embeddings["material_id"])
        o = oof[(oof["fold_seed"] == fs) & oof["ID"].isin(sub_ids)]
        o = o.assign(fold=[fold_of[g] for g in table.set_index("ID").loc[o["ID"], "formula"]])
        print(
            f"Entries with a CIF (fold seed {fs}, {len(o)} entries, AML route {time.perf_counter() - t0:.0f} s, "
            f"decoder {tcfg.decoder_widths}):"
        )
        for name, grp in res.groupby("model", sort=False):
            print(f"  {name:55s} {grp['mae'].mean():.3f} +- {grp['mae'].std():.3f}")
        for col, name in (("prediction", NAME), ("forest", FOREST)):
            maes = held_out_mae(o, col, "fold")
            print(f"  {name:55s} {maes.mean():.3f} +- {maes.std():.3f}")


if __name__ == "__main__":
    main()
