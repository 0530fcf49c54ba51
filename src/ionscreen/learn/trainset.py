"""The training-set contract: whatever the source of training data, the same four tables.

A source is this workflow's MD (labels from ``labels/diffusion.py``), an ingested LiFlow archive
(``ingest.py``) or measured conductivities (OBELiX, ``obelix.py``). ``build_trainset`` turns any of
them into ``trainset/``:

- ``labels.parquet`` (table ``trainset_labels``): the ``labels`` columns plus ``group`` (the
  composition that grouped splits keep together: OBELiX's nominal reduced composition where
  given, else the prepared structure's reduced formula) and ``source``. Measured upper bounds
  (OBELiX "<1E-10") are rows with status ``bound`` and the bound in ``reason``.
- ``structures.parquet``, ``embeddings.parquet``: the prepared structures and their SevenNet
  embeddings.
- ``trajectory_embeddings.parquet``: per Li atom and temperature; empty when the source has no
  trajectories (OBELiX) or the model does not use them.

Training, ablations, cross-validation and the report read only these tables.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from ionscreen import atomic, schema

log = logging.getLogger(__name__)

TRAINSET_FILES = ("labels", "structures", "embeddings", "trajectory_embeddings")


def trainset_labels(labels: pd.DataFrame, structures: pd.DataFrame, source: str) -> pd.DataFrame:
    """A labels or external_labels table as ``trainset_labels`` rows."""
    df = labels.copy()
    formula = dict(zip(structures["material_id"], structures["reduced_formula"], strict=True))
    if "sigma_bound" in df.columns:  # external_labels: measured values, bounds kept as rows
        bound = [b if isinstance(b, str) and b.strip() else None for b in df["sigma_bound"]]
        df["reason"] = [f"measured bound {b}" if b else "" for b in bound]
        # "<1E-10": an upper bound, a censored target for sigma (">x" would be a lower bound: kept, unused).
        df["sigma_upper_S_cm"] = [float(b[1:]) if b and b.strip().startswith("<") else float("nan") for b in bound]
        df = df.drop(columns=["sigma_bound", "source"], errors="ignore")
    if "formula" in df.columns and df["formula"].notna().all():
        df["group"] = df["formula"].astype(str)
    else:
        df["group"] = df["material_id"].map(formula)
    df = df.drop(columns=["formula"], errors="ignore")
    df["source"] = source
    cols = schema.spec("trainset_labels").column_names
    return df[[c for c in df.columns if c in cols]]


def _copy(src: str | Path, dst: str | Path, table: str) -> None:
    schema.validate(pq.read_schema(src).empty_table(), table)
    with atomic.atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def build_trainset(inputs: Mapping[str, Any], outputs: Mapping[str, Any], source: str) -> dict[str, int]:
    """Write the trainset tables from a source's tables.

    ``inputs``: labels (labels or external_labels table), structures, embeddings and optionally
    trajectories (trajectory_embeddings). ``outputs``: a path for each of ``TRAINSET_FILES``.
    Returns row counts; logs how many label rows can train (status ok, structure and embedding
    present).
    """
    structures = schema.read_table(inputs["structures"], "structures")
    labels = trainset_labels(schema.read_table(inputs["labels"]), structures, source)
    schema.write_table(labels, outputs["labels"], "trainset_labels", source=source)
    _copy(inputs["structures"], outputs["structures"], "structures")
    _copy(inputs["embeddings"], outputs["embeddings"], "embeddings")
    traj = inputs.get("trajectories")
    if traj:
        _copy(traj, outputs["trajectory_embeddings"], "trajectory_embeddings")
    else:
        schema.write_table([], outputs["trajectory_embeddings"], "trajectory_embeddings", source=source)
    embedded = set(pd.read_parquet(inputs["embeddings"], columns=["material_id"])["material_id"])
    usable = (labels["status"] == "ok") & labels["material_id"].isin(embedded)
    counts = {
        "label_rows": len(labels),
        "usable_rows": int(usable.sum()),
        "bounds": int((labels["status"] == "bound").sum()),
        "structures": len(structures),
        "embedded_materials": len(embedded),
    }
    log.info("trainset from %s: %s", source, counts)
    return counts


def read_trainset(paths: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(labels, embeddings, structures, trajectory embeddings or None when empty)."""
    traj = schema.read_table(paths["trajectory_embeddings"], "trajectory_embeddings")
    return (
        schema.read_table(paths["labels"], "trainset_labels"),
        schema.read_table(paths["embeddings"], "embeddings"),
        schema.read_table(paths["structures"], "structures"),
        traj if len(traj) else None,
    )
