"""Using a trained room-temperature model: the shipped ones by name, loading a folder, predicting
log10 sigma (S/cm) at 300 K with a calibrated std and flags, and the sigma_rt_* columns."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen.flags import IN_TRAINING_DATA, applicability_flags
from ionscreen.roomtemp.descriptors import (
    SHIPPED,
    ensemble_prediction,
    spacegroup_flags,
    spacegroup_from_symbol,
    spacegroup_number,
    structure_descriptors,
)
from ionscreen.roomtemp.fit import RoomTempMeta, Standardiser, nearest_distance
from ionscreen.roomtemp.trees import TreeEnsemble


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
            raise FileNotFoundError(
                f"{model} is neither a shipped model ({', '.join(SHIPPED)}) nor a room-temperature model directory"
            )
        return cls(directory)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(log10 sigma, prediction_std, nearest standardised training distance) per descriptor row."""
        mean, spread = ensemble_prediction(self.trees.tree_predictions(X), self.meta.target_transform)
        return mean, self.meta.std_scale * spread, nearest_distance(self.standardise(X), self.reference)

    def rows(
        self,
        ids: Sequence[str],
        formulas: Sequence[str],
        X: np.ndarray,
        extra_flags: Sequence[Sequence[str]] | None = None,
    ) -> pd.DataFrame:
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
            flags += applicability_flags(
                {el.symbol for el in Composition(f).elements}, known, float(dist[k]), self.meta.far_threshold
            )
            if std[k] < 1e-9:
                flags.append(IN_TRAINING_DATA)
            out.append(
                {
                    "material_id": str(m),
                    "temperature_K": self.meta.temperature_K,
                    "target": self.meta.target,
                    "prediction": float(mean[k]),
                    "prediction_std": float(std[k]),
                    "flags": flags,
                    "formula": str(f),
                    "nearest_training_distance": float(dist[k]),
                }
            )
        return pd.DataFrame(out, columns=schema.spec("predictions").column_names)

    def file_rows(self, paths: Sequence[str | Path]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """(``rows`` of the structure files as given: partial occupancies count as fractional
        atoms, nothing is ordered or relaxed; rejected rows: unreadable, no Li)."""
        from ionscreen.structures.prepare import StructureError, read_structure
        from ionscreen.structures.sources import files_by_id

        ids, structs, bad = [], [], []
        for mid, p in files_by_id(paths).items():
            try:
                s = read_structure(p)
                if s.composition["Li"] == 0:
                    raise StructureError(f"{p.name} has no Li", "no_li")
            except StructureError as exc:
                bad.append(
                    {"material_id": mid, "source": str(p), "stage": "screen", "code": exc.code, "reason": str(exc)}
                )
                continue
            ids.append(mid)
            structs.append(s)
        if not structs:
            from ionscreen import schema

            return pd.DataFrame(columns=schema.spec("predictions").column_names), bad
        sgs = [spacegroup_number(s) for s in structs]
        return self.rows(
            ids,
            [s.composition.reduced_formula for s in structs],
            structure_descriptors(structs, sgs),
            spacegroup_flags(sgs),
        ), bad

    def file_columns(self, paths: Sequence[str | Path]) -> pd.DataFrame:
        """Per material of the structure files, ``RT_COLUMNS`` (what ``ionscreen predict`` with a
        workflow model adds beside its predictions, as the workflow's rule does)."""
        return rt_columns(self.file_rows(paths)[0])

    def structure_table_columns(self, structures: pd.DataFrame) -> pd.DataFrame:
        """Room-temperature columns for a ``structures`` table (prepared candidates): per material
        ``sigma_rt_log10_S_cm``, ``sigma_rt_std``, ``sigma_rt_flags``. The space group is the input
        structure's (the ``spacegroup`` column), as OBELiX's is that of the published cell."""
        from ionscreen.structures.prepare import structure_from_row

        if not len(structures):
            return pd.DataFrame(columns=["material_id", *RT_COLUMNS])
        structs = [structure_from_row(r) for r in structures.to_dict("records")]
        sgs = [spacegroup_from_symbol(s) for s in structures["spacegroup"]]
        rows = self.rows(
            structures["material_id"].astype(str).tolist(),
            [s.composition.reduced_formula for s in structs],
            structure_descriptors(structs, sgs),
            spacegroup_flags(sgs),
        )
        return rt_columns(rows)


RT_COLUMNS = ("sigma_rt_log10_S_cm", "sigma_rt_std", "sigma_rt_flags")


def rt_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """``material_id`` and ``RT_COLUMNS`` from room-temperature ``rows`` (``RoomTempModel.rows``)."""
    return pd.DataFrame(
        {
            "material_id": rows["material_id"],
            RT_COLUMNS[0]: rows["prediction"],
            RT_COLUMNS[1]: rows["prediction_std"],
            RT_COLUMNS[2]: rows["flags"],
        }
    )
