"""Training obelix-rt: cross-validation, calibration, the final fit and the files of the model folder."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ionscreen.roomtemp.card import model_card
from ionscreen.roomtemp.descriptors import (
    NAME,
    ROOM_TEMPERATURE_K,
    TARGET,
    descriptor_names,
    obelix_descriptors,
)
from ionscreen.roomtemp.figures import (
    _defined,
    held_out_figures,
    over_2_decades,
    replicate_measurements,
    summarise_replicates,
)
from ionscreen.roomtemp.fit import (
    RoomTempConfig,
    RoomTempMeta,
    Standardiser,
    cross_validate,
    fit_trees,
    summarise_cv,
    training_table,
)
from ionscreen.roomtemp.trees import TreeEnsemble


def train_room_temperature(
    folder: str | Path, out_dir: str | Path, cfg: RoomTempConfig | None = None
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
    meta = RoomTempMeta(
        name=NAME,
        target=TARGET,
        temperature_K=ROOM_TEMPERATURE_K,
        descriptor_names=descriptor_names(),
        training_elements=elements,
        n_train=len(y),
        std_scale=std_scale,
        far_threshold=far,
        target_transform=cfg.target_transform,
        cv={
            "n_folds": cfg.n_folds,
            "fold_seeds": list(cfg.fold_seeds),
            "mae": {m: {"mean": r["mae_mean"], "std": r["mae_std"]} for m, r in summary.iterrows()},
            "coverage_1std": float(np.mean(ratio <= std_scale)),
            "median_abs_error": float(np.median(abs_err)),
            "share_over_2_decades": float(np.mean(abs_err > 2.0)),
            "over_2_decades": over_2_decades(oof),
            "n_train_below_1e-10": int((y < -10.0).sum()),
            "replicates": _defined(summarise_replicates(replicate_measurements(table))),
            **held_out_figures(oof),
        },
        config=asdict(cfg),
    )
    meta.to_json(out / "model.json")
    cv.to_csv(out / "cross_validation.csv", index=False)
    (out / "MODEL_CARD.md").write_text(model_card(meta, summary))
    return meta, summary
