"""What a declared table is made of: ``Column`` (name, Arrow type, meaning, unit) and ``Table``, the
units that column names carry (``unit_of``: ``_A`` angstrom, ``_eV``, ``_K``, ``_ps``, ``_cm2_s``,
``_S_cm``, ...) and the error a table that breaks its declaration raises."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


class TableSchemaError(ValueError):
    """A table does not match its declared schema."""


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str
    nullable: bool = True
    unit: str | None = None  # None: from the name's suffix (``unit_of``)
    # Declared after files of its table were first written: such a file, without the column, still
    # reads (the column as nulls), so adding a column never makes finished results unreadable.
    added: bool = False


# Unit suffixes of column names, longest first (the first that matches wins): the unit of the values.
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_eV_atom", "eV/atom"),
    ("_seconds", "s"),
    ("_hours", "h"),
    ("_min", "min"),
    ("_A2_ps", "A^2/ps"),
    ("_cm2_s", "cm^2/s"),
    ("_eV_A", "eV/A"),
    ("_S_cm", "S/cm"),
    ("_per_s", "1/s"),
    ("_A2", "A^2"),
    ("_A3", "A^3"),
    ("_eV", "eV"),
    ("_ps", "ps"),
    ("_fs", "fs"),
    ("_K", "K"),
    ("_A", "A"),
    ("_s", "s"),
)


# Columns whose unit the name cannot carry (contract names, or log10 of another column's unit).
UNITS: dict[str, str] = {
    "prediction": "log10 of the target column's unit (column target, e.g. log10_sigma_S_cm: log10 S/cm)",
    "prediction_std": "decades (same log10 units as prediction)",
    "prediction_300K": "log10 of the target column's unit, at 300 K",
    "sigma_rt_std": "decades (log10 S/cm)",
    "nearest_training_distance": "hidden-space distance (dimensionless, the model's standardised features)",
    "li_density_A3": "1/A^3",
    "log10_D0_cm2_s": "log10 cm^2/s",
    "log10_D0_std_cm2_s": "decades (log10 cm^2/s)",
    "cov_lnD0_Ea": "K (covariance of ln D0 and Ea/k_B)",
    "mae": "decades (log10 of the target's unit)",
    "mae_seed_mean": "decades (log10 of the target's unit)",
    "mae_seed_std": "decades (log10 of the target's unit)",
    "y_log10": "log10 of the target column's unit",
    "embedding": "SevenNet-0 feature units (dimensionless)",
    "positions_A": "A (unwrapped Cartesian, n_atoms x 3 flattened)",
}


def unit_of(col: Column) -> str:
    """The unit of a column's values: declared, from ``UNITS``, from its name's suffix, or '' (none)."""
    if col.unit is not None:
        return col.unit
    if col.name in UNITS:
        return UNITS[col.name]
    if col.name.startswith("log10_sigma") or col.name.endswith("log10_S_cm"):
        return "log10 S/cm"
    for suffix, unit in UNIT_SUFFIXES:
        if col.name.endswith(suffix):
            return unit
    return ""


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema; every field carries its doc and unit as field metadata, so a reader
        (pyarrow, DuckDB, polars) sees what each column means without this package."""
        return pa.schema(
            [
                pa.field(c.name, c.type, nullable=c.nullable, metadata={"doc": c.doc, "unit": unit_of(c)})
                for c in self.columns
            ]
        )

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


F32_LIST = pa.list_(pa.float32())


STR_LIST = pa.list_(pa.string())


def declare(name: str, doc: str, *cols: Column) -> Table:
    """A ``Table`` from its name, meaning and columns (how ``ionscreen.tables`` declares each)."""
    return Table(name, doc, tuple(cols))


C = Column
