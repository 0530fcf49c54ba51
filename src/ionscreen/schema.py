"""The one way to write and read the pipeline's Parquet tables (declared in ``ionscreen.tables``).

Column names carry their units (``_A`` angstrom, ``_eV``, ``_K``, ``_ps``, ``_cm2_s``, ``_S_cm``).
Writes are atomic and keep the umask (``ionscreen.atomic``). Every file carries provenance in the
Parquet key-value metadata under the key ``ionscreen``: package version, table name, schema
version, model and parameters (``read_provenance``); pandas, polars and DuckDB see plain columns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ionscreen import __version__
from ionscreen.atomic import atomic_output, publish, temp_path
from ionscreen.columns import Table, TableSchemaError
from ionscreen.tables import TABLES

SCHEMA_VERSION = "2"
METADATA_KEY = b"ionscreen"


def spec(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError as exc:
        raise KeyError(f"unknown table {name!r}; known: {sorted(TABLES)}") from exc


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def with_added_columns(tbl: pa.Table, table: Table) -> pa.Table:
    """A table file written before some of its columns were declared (``Column.added``) with
    those columns as nulls, in the declared place."""
    missing = [c for c in table.columns if c.added and c.name not in tbl.schema.names]
    for col in missing:
        tbl = tbl.append_column(pa.field(col.name, col.type), pa.nulls(tbl.num_rows, col.type))
    if missing:
        known = [c for c in table.column_names if c in tbl.schema.names]
        tbl = tbl.select(known + [n for n in tbl.schema.names if n not in known])
    return tbl


def _to_arrow(data: pd.DataFrame | pa.Table | Iterable[Mapping[str, Any]], table: Table) -> pa.Table:
    if isinstance(data, pa.Table):
        tbl = with_added_columns(data, table)
    else:
        df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data))
        unknown = [c for c in df.columns if c not in table.column_names]
        if unknown:
            raise TableSchemaError(f"table {table.name!r}: columns {unknown} are not declared in ionscreen.schema")
        arrays = []
        for col in table.columns:
            if col.name in df.columns:
                values = df[col.name].tolist()
                if not pa.types.is_floating(col.type):
                    # pandas marks a value missing from some rows with NaN: that is a null here.
                    values = [None if _is_missing(v) else v for v in values]
                if pa.types.is_list(col.type):
                    values = [None if v is None else list(np.asarray(v).ravel()) for v in values]
            else:
                values = [None] * len(df)
            try:
                arrays.append(pa.array(values, type=col.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise TableSchemaError(
                    f"table {table.name!r}, column {col.name!r}: cannot store as {col.type}: {exc}"
                ) from exc
        tbl = pa.Table.from_arrays(arrays, schema=table.schema)
    validate(tbl, table)
    return tbl


def validate(tbl: pa.Table, table: Table | str, *, allow_extra: bool = False) -> None:
    """Raise TableSchemaError unless ``tbl`` has exactly the declared columns and types."""
    table = spec(table) if isinstance(table, str) else table
    names = tbl.schema.names
    missing = [c for c in table.column_names if c not in names]
    if missing:
        raise TableSchemaError(f"table {table.name!r}: missing columns {missing}")
    extra = [n for n in names if n not in table.column_names]
    if extra and not allow_extra:
        raise TableSchemaError(f"table {table.name!r}: undeclared columns {extra}")
    for col in table.columns:
        got = tbl.schema.field(col.name).type
        if got != col.type:
            raise TableSchemaError(f"table {table.name!r}, column {col.name!r}: type {got}, declared {col.type}")
        if not col.nullable and tbl.column(col.name).null_count:
            raise TableSchemaError(f"table {table.name!r}, column {col.name!r}: has nulls")


def provenance(table: str, **extra: Any) -> dict[str, Any]:
    """The metadata block stored with every table."""
    return {
        "package": "ionscreen",
        "version": __version__,
        "schema_version": SCHEMA_VERSION,
        "table": table,
        **extra,
    }


def _with_metadata(schema: pa.Schema, meta: Mapping[str, Any]) -> pa.Schema:
    return schema.with_metadata({METADATA_KEY: json.dumps(meta, default=_json_default).encode()})


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_table(
    data: pd.DataFrame | pa.Table | Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    table: str,
    **meta: Any,
) -> Path:
    """Validate ``data`` against the declared table and write it atomically with provenance.

    ``meta`` goes into the provenance block (model, parameters, ...).
    """
    spec_ = spec(table)
    tbl = _to_arrow(data, spec_)
    tbl = pa.Table.from_arrays([tbl.column(c) for c in spec_.column_names], schema=spec_.schema)  # field docs, units
    tbl = tbl.replace_schema_metadata(_with_metadata(tbl.schema, provenance(table, **meta)).metadata)
    with atomic_output(path) as tmp:
        pq.write_table(tbl, tmp, compression="zstd")
    return Path(path)


class TableWriter:
    """Chunked atomic writer for long tables (trajectories, gathers): rows go to a temporary file
    in row groups; ``close()`` renames it into place, ``abort()`` (or an exception in a ``with``
    block) removes it."""

    def __init__(self, path: str | os.PathLike[str], table: str, **meta: Any) -> None:
        self.path = Path(path)
        self.spec = spec(table)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_path(self.path)
        schema = _with_metadata(self.spec.schema, provenance(table, **meta))
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")
        self.rows = 0

    def write(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> None:
        tbl = _to_arrow(rows, self.spec)
        if tbl.num_rows:
            self._writer.write_table(tbl)
            self.rows += tbl.num_rows

    def close(self) -> Path:
        self._writer.close()
        publish(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_table(path: str | os.PathLike[str], table: str | None = None) -> pd.DataFrame:
    """Read a table into pandas; with ``table`` given, check it against its declaration."""
    tbl = pq.read_table(path)
    if table is not None:
        tbl = with_added_columns(tbl, spec(table))
        validate(tbl, table, allow_extra=True)
    return tbl.to_pandas()


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``ionscreen`` metadata block of a table file ({} if absent)."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def concat_tables(paths: Iterable[str | os.PathLike[str]], table: str) -> pd.DataFrame:
    """Concatenate files of one declared table (empty frame with the right columns if none)."""
    frames = [read_table(p, table) for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in spec(table).column_names})
    return pd.concat(frames, ignore_index=True)


def concat_files(paths: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str], table: str, **meta: Any) -> int:
    """Gather files of one declared table into ``out``, one file in memory at a time (10,000
    per-material files make a large table; its size never has to fit twice). Returns rows."""
    with TableWriter(out, table, **meta) as w:
        for p in paths:
            w.write(pq.read_table(p).replace_schema_metadata(None))  # validated against the declaration
        return w.rows
