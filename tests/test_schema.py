"""The table contract: declared columns and types, atomic writes, provenance."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from ionscreen import __version__, atomic, schema


def _rejected_rows():
    return [{"material_id": "a", "source": "x.cif", "stage": "fetch", "reason": "file is empty"}]


def test_contract_columns_are_declared():
    # The column lists of docs/tables.md: a change here is a change of the outside contract.
    contract = {
        "trajectory": ["frame", "time_ps", "temperature_K", "potential_energy_eV", "positions_A"],
        "labels": [
            "material_id",
            "temperature_K",
            "msd_final_A2",
            "msd_per_time_A2_ps",
            "D_cm2_s",
            "D_std_cm2_s",
            "D_ci95_low_cm2_s",
            "D_ci95_high_cm2_s",
            "start_dt_ps",
            "diffusive",
            "sigma_S_cm",
        ],
        "embeddings": ["material_id", "atom_index", "species", "embedding"],
        "predictions": ["material_id", "temperature_K", "target", "prediction", "prediction_std", "rank", "flags"],
    }
    for table, cols in contract.items():
        missing = set(cols) - set(schema.spec(table).column_names)
        assert not missing, f"{table} lacks {missing}"
    assert schema.spec("embeddings").schema.field("embedding").type == pa.list_(pa.float32())
    assert schema.spec("predictions").schema.field("flags").type == pa.list_(pa.string())


def test_roundtrip_with_provenance_readable_by_pandas_polars_duckdb(tmp_path):
    path = tmp_path / "emb.parquet"
    vec = np.arange(977, dtype=np.float32) / 7
    schema.write_table(
        [
            {
                "material_id": "m",
                "atom_index": 3,
                "species": "Li",
                "embedding": vec,
                "model": "7net-0",
                "layer": 10,
                "variant": "full",
            }
        ],
        path,
        "embeddings",
        model="7net-0",
    )
    df = schema.read_table(path, "embeddings")
    np.testing.assert_array_equal(np.asarray(df["embedding"][0], dtype=np.float32), vec)
    prov = schema.read_provenance(path)
    assert prov["version"] == __version__ and prov["table"] == "embeddings" and prov["model"] == "7net-0"
    assert pl.read_parquet(path)["atom_index"].to_list() == [3]
    assert duckdb.sql(f"select len(embedding) from '{path}'").fetchall() == [(977,)]


def test_undeclared_column_is_refused(tmp_path):
    with pytest.raises(schema.TableSchemaError, match="not declared"):
        schema.write_table([{**_rejected_rows()[0], "extra": 1}], tmp_path / "r.parquet", "rejected")
    assert not list(tmp_path.iterdir())


def test_wrong_type_and_missing_required_value_are_refused(tmp_path):
    with pytest.raises(schema.TableSchemaError, match="atom_index"):
        schema.write_table([{"material_id": "m", "atom_index": "three"}], tmp_path / "e.parquet", "embeddings")
    with pytest.raises(schema.TableSchemaError, match="reason"):
        schema.write_table([{"material_id": "m", "reason": None}], tmp_path / "r.parquet", "rejected")


def test_validate_catches_a_foreign_table(tmp_path):
    path = tmp_path / "x.parquet"
    pd.DataFrame({"material_id": ["a"], "temperature_K": ["hot"]}).to_parquet(path)
    with pytest.raises(schema.TableSchemaError):
        schema.read_table(path, "labels")


def test_chunked_writer_is_atomic(tmp_path):
    path = tmp_path / "traj.parquet"
    row = {
        "frame": 0,
        "step": 0,
        "time_ps": 0.0,
        "temperature_K": 300.0,
        "potential_energy_eV": -1.0,
        "positions_A": np.zeros(6, np.float32),
    }
    with pytest.raises(RuntimeError):
        with schema.TableWriter(path, "trajectory") as w:
            w.write([row])
            assert not path.exists()  # nothing visible while writing
            raise RuntimeError("killed")
    assert not path.exists() and not list(tmp_path.iterdir())  # aborted: no partial file left
    with schema.TableWriter(path, "trajectory", seed=3) as w:
        w.write([row, {**row, "frame": 1}])
    assert len(schema.read_table(path, "trajectory")) == 2
    assert schema.read_provenance(path)["seed"] == 3


def test_empty_table_keeps_its_schema(tmp_path):
    path = schema.write_table([], tmp_path / "r.parquet", "rejected")
    assert schema.read_table(path, "rejected").columns.tolist() == schema.spec("rejected").column_names


def test_rows_with_missing_fields_become_nulls(tmp_path):
    # A failed label row lacks most fields; mixed with a full row, pandas fills them with NaN.
    rows = [
        {"material_id": "a", "temperature_K": 800.0, "status": "ok", "n_li": 4, "diffusive": True},
        {"material_id": "b", "temperature_K": 800.0, "status": "failed", "reason": "too few frames"},
    ]
    df = schema.read_table(schema.write_table(rows, tmp_path / "l.parquet", "labels"), "labels")
    assert df["n_li"].tolist()[0] == 4 and pd.isna(df["n_li"].tolist()[1])
    assert pd.isna(df["diffusive"].tolist()[1])


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_umask_permissions(tmp_path, umask, mode):
    import os
    import stat

    old = os.umask(umask)
    try:
        row = {"material_id": "m", "source": "s", "stage": "fetch", "code": "x", "reason": "r"}
        table = schema.write_table([row], tmp_path / "t.parquet", "rejected")
        text = atomic.write_text_atomic(tmp_path / "r.html", "<html></html>")
        with schema.TableWriter(tmp_path / "traj.parquet", "trajectory") as w:
            w.write([{"frame": 0, "positions_A": [0.0, 0.0, 0.0]}])
        gathered = tmp_path / "all.parquet"
        assert schema.concat_files([table, table], gathered, "rejected") == 2
    finally:
        os.umask(old)
    for p in (table, text, tmp_path / "traj.parquet", gathered):
        assert stat.S_IMODE(p.stat().st_mode) == mode, (p.name, oct(p.stat().st_mode))


def test_concat_files_refuses_a_foreign_table(tmp_path):
    good = schema.write_table([{"material_id": "m", "reason": "r"}], tmp_path / "a.parquet", "rejected")
    bad = schema.write_table([{"material_id": "m", "temperature_K": 300.0}], tmp_path / "b.parquet", "md_runs")
    with pytest.raises(schema.TableSchemaError):
        schema.concat_files([good, bad], tmp_path / "out.parquet", "rejected")
    assert not (tmp_path / "out.parquet").exists()


def test_a_file_written_before_a_column_was_added_still_reads(tmp_path):
    """md_runs gained 'accelerator' (declared added=True): an older file without it reads, and
    gathers, with the column as nulls; a missing column that was not added later is refused."""
    import pyarrow.parquet as pq

    from ionscreen.columns import TableSchemaError

    row = {"material_id": "m", "temperature_K": 800.0, "status": "ok", "wall_s": 1.0}
    schema.write_table([row], tmp_path / "new.parquet", "md_runs")
    old = pq.read_table(tmp_path / "new.parquet").drop(["accelerator"])
    pq.write_table(old, tmp_path / "old.parquet")
    back = schema.read_table(tmp_path / "old.parquet", "md_runs")
    assert back["accelerator"].isna().all() and back["wall_s"].tolist() == [1.0]
    n = schema.concat_files([tmp_path / "old.parquet", tmp_path / "new.parquet"], tmp_path / "all.parquet", "md_runs")
    assert (
        n == 2
        and list(schema.read_table(tmp_path / "all.parquet", "md_runs").columns) == schema.spec("md_runs").column_names
    )
    pq.write_table(old.drop(["wall_s"]), tmp_path / "broken.parquet")
    with pytest.raises(TableSchemaError, match="missing columns \\['wall_s'\\]"):
        schema.read_table(tmp_path / "broken.parquet", "md_runs")
