"""obelix-rt's model card (Markdown), written from ``model.json`` and the CV table: every sentence
that states a figure takes it from them."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ionscreen.roomtemp.descriptors import FOREST, NAME
from ionscreen.roomtemp.figures import FAST_LOG10_S_CM, MEASURED_BANDS
from ionscreen.roomtemp.fit import RoomTempMeta


def model_card(meta: RoomTempMeta, summary: pd.DataFrame) -> str:
    """The model card (Markdown): data, CV figures, limits, licence and attribution."""
    forest = summary.loc[FOREST, "mae_mean"]
    lines = [
        f"# Model card: `{meta.name}`",
        "",
        f"Predicts **log10 of the room-temperature ({meta.temperature_K:g} K) ionic conductivity (S/cm)** of a",
        "Li-containing solid from its composition, cell volume and space group.",
        "",
        "## Data",
        "",
        f"OBELiX training split: {meta.n_train} entries with a measured conductivity (upper bounds such as",
        '"<1E-10" and entries without a value are not trained on). Each entry\'s composition, cell and space',
        "group come from the OBELiX table, so entries without a CIF count too. The official test split was",
        "not used for training or for choosing anything.",
        "",
        "## Model",
        "",
        f"Extremely randomised trees ({meta.config.get('n_trees')} trees, {meta.config.get('max_features')} of the "
        f"{len(meta.descriptor_names)} descriptors per split)",
        "on matminer composition descriptors (Magpie, stoichiometry, valence orbitals, ionic character,",
        "element fractions), volume per atom, Li atoms per A^3 and the space-group number. "
        + (
            "The trees fit ln(-log10 sigma) and the prediction is -exp of their mean, so the"
            f" {meta.cv.get('n_train_below_1e-10', 'few')} very poor conductors (below 1e-10 S/cm) weigh less"
            " in the splits."
            if meta.target_transform == "ln_neg"
            else "The trees fit log10 sigma."
        ),
        "",
        "## Cross-validated accuracy",
        "",
        f"Grouped {meta.cv['n_folds']}-fold CV on the training split (groups: reduced composition, normalised by",
        "pymatgen so that one composition written two ways is one group), repeated over",
        f"fold seeds {meta.cv['fold_seeds']}; every model on the same folds. MAE of log10 sigma:",
        "",
        "| model | MAE mean | MAE std (over folds) | " + " | ".join(f"seed {s}" for s in meta.cv["fold_seeds"]) + " |",
        "|---|---|---|" + "---|" * len(meta.cv["fold_seeds"]),
    ]
    for name, r in summary.iterrows():
        seeds = " | ".join(f"{r[f'mae_fold_seed_{s}']:.3f}" for s in meta.cv["fold_seeds"])
        lines.append(f"| {name} | {r['mae_mean']:.3f} | {r['mae_std']:.3f} | {seeds} |")
    lines += [
        "",
        f"Ratio to the random forest: {summary.loc[meta.name, 'mae_mean'] / forest:.2f}.",
        f"`prediction_std` is the spread over trees x {meta.std_scale:.2f}, calibrated so that "
        f"{100 * meta.cv['coverage_1std']:.0f} % of held-out errors lie within one std.",
        "",
        *accuracy_section(meta.cv),
        "## Do not use it for",
        "",
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
        + _over_2_decades_words(meta.cv.get("over_2_decades")),
        *_tail_lines(meta.cv),
        *_replicate_lines(meta.cv.get("replicates")),
        "",
        "## Licence and attribution",
        "",
        'Trained on OBELiX (Therrien et al., "OBELiX: A Curated Dataset of Crystal Structures and',
        'Experimentally Measured Ionic Conductivities for Lithium Solid-State Electrolytes", 2025),',
        "licensed CC BY 4.0; the vendored copy and its licence notice are in `resources/obelix/`.",
        "Descriptors: matminer (Ward et al., Comput. Mater. Sci. 152, 60 (2018)); Magpie element data",
        "(Ward et al., npj Comput. Mater. 2, 16028 (2016)).",
        "",
    ]
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
    lines = [
        "## Held-out accuracy by measured conductivity",
        "",
        "The same CV's held-out predictions, by where the measurement lies (decades of log10 sigma;",
        'bias = mean of prediction - measurement; means over the fold seeds; "all" pools the entries, where',
        "the table above averages folds):",
        "",
        f"| measured (S/cm) | entries | {NAME} MAE | {NAME} bias | forest MAE | forest bias | MAE ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for band in order:
        r = t.loc[band]
        lines.append(
            f"| {band} | {r[('n_entries', NAME)]:.0f} | {r[('mae', NAME)]:.3f} | {r[('bias', NAME)]:+.2f} | "
            f"{r[('mae', FOREST)]:.3f} | {r[('bias', FOREST)]:+.2f} | "
            f"{r[('mae', NAME)] / r[('mae', FOREST)]:.2f} |"
        )
    rank = cv.get("ranking", {})
    if NAME in rank and FOREST in rank:
        own, forest = rank[NAME], rank[FOREST]
        lines += [
            "",
            f"Ranking the held-out entries: Spearman rho {own.get('spearman', math.nan):.3f} "
            f"(forest {forest.get('spearman', math.nan):.3f}); telling",
            f"sigma >= 1e{cv.get('fast_log10_S_cm', FAST_LOG10_S_CM):g} S/cm from below it: ROC AUC "
            f"{own.get('roc_auc_fast', math.nan):.3f} (forest {forest.get('roc_auc_fast', math.nan):.3f}).",
        ]
    return [*lines, ""]


def _over_2_decades_words(big: dict[str, int] | None) -> str:
    """The end of the card's sentence on errors above 2 decades: who they are (``over_2_decades``);
    a full stop for models trained before it was counted."""
    if not big or not big["n"]:
        return "."
    return (
        f":\n  of these {big['n']} held-out predictions (over {big['n_fold_seeds']} fold seeds), {big['below_1e-10']} are of"
        f" entries measured below 1e-10 S/cm and {big['below_1e-8']} below 1e-8 S/cm."
    )


def _tail_lines(cv: dict[str, Any]) -> list[str]:
    """The model card's warning on the poor-conductor tail, from ``accuracy_by_measured_range``."""
    tail = [r for r in cv.get("by_measured_range", []) if r["band"] == MEASURED_BANDS[0][2] and r["model"] == NAME]
    if not tail:
        return []
    bias = tail[0]["bias"]
    return [
        f"- Saying how poor a poor conductor is: where the measured {tail[0]['band']} S/cm, held-out predictions are "
        f"{abs(bias):.1f} decades",
        f"  too {'high' if bias > 0 else 'low'} on average. A low prediction says a material conducts poorly, "
        "not how poorly.",
    ]


def _replicate_lines(rep: dict[str, float] | None) -> list[str]:
    """The model card's words on how far the training data's own repeated measurements disagree
    (``summarise_replicates``); none for models trained before it was measured."""
    if not rep or not rep["n_entries"]:
        return []
    pairs = (
        []
        if "pair_difference" not in rep
        else [
            f"  Phases measured twice differ by {rep['pair_difference']:.2f}: about "
            f"{rep['scatter_per_measurement']:.2f} per measurement if both err independently and alike."
        ]
    )
    return [
        f"- Telling apart conductivities closer than the data's own scatter: {rep['n_entries']} training entries "
        f"({rep['n_materials']} phases,",
        "  same normalised reduced composition and space group) are measured more than once, and a measurement lies",
        f"  {rep['mae_vs_others']:.2f} decades from the mean of the same phase's other measurements "
        f"(median {rep['median_vs_others']:.2f}).",
        *pairs,
        "  Much of the held-out error is lab-to-lab scatter that no model of composition and cell can learn.",
    ]
