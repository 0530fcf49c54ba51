"""config/liflow.yaml end to end on an archive generated in LiFlow's exact layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Structure

from ionscreen import schema
from ionscreen.ingest.liflow import write_example_archive
from ionscreen.learn.evaluate import PUBLISHED
from tests.conftest import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
NAMES = ["Li3N", "Li2O", "LiF", "LiCl", "Li2S", "Li2O2", "LiCoO2", "obelix-qbb"]


@pytest.mark.slow
def test_liflow_config_end_to_end(tmp_path):
    structs = []
    for n in NAMES:
        f = next((REPO / "resources/structures/train").glob(f"{n}.*"))
        structs.append((n, Structure.from_file(f)))
    expected = write_example_archive(
        tmp_path / "archive", structs, temperatures=(600, 800, 1000, 1200), n_frames=101, test_names=["LiF", "Li2S"]
    )
    (tmp_path / "data.yaml").write_text(f"liflow:\n  data_dir: {tmp_path / 'archive'}\n")
    cmd = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path),
        "paper_table",
        "--cores",
        "2",
        "--configfile",
        str(REPO / "config/liflow.yaml"),
        str(REPO / ".test/liflow.yaml"),
        str(tmp_path / "data.yaml"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = tmp_path / "results-liflow"
    labels = schema.read_table(res / "ingest/labels.parquet", "labels")
    assert len(labels) == 8 * 4 and (labels["status"] == "ok").all()
    assert set(labels.loc[labels["split"] == "test", "material_id"]) == {"LiF", "Li2S"}
    m = labels.merge(expected, left_on=["material_id", "temperature_K"], right_on=["name", "temp"])
    np.testing.assert_allclose(m["msd_per_time_A2_ps"], m["msd_t_Li"], rtol=1e-5)
    meta = json.loads((res / "model/model.json").read_text())
    assert meta["route"] == "aml" and meta["target"] == "log10_msd_per_time_A2_ps"
    assert not {"LiF", "Li2S"} & set(meta["training_materials"])  # the test part never trains
    metrics = schema.read_table(res / "train/metrics.parquet", "metrics")
    assert set(metrics["split"]) == {"train", "validation", "test"}
    table = schema.read_table(res / "train/paper_table.parquet", "paper_table")
    ours = table[table["source"].str.startswith("this run")]
    assert sorted(ours["temperature_K"]) == [600.0, 800.0, 1000.0, 1200.0]
    assert (ours["n_test"] == 2).all() and (ours["inference_s"] > 0).all() and np.isfinite(ours["mae"]).all()
    assert set(PUBLISHED) <= set(table["method"])
    md = (res / "train/paper_table.md").read_text()
    assert "AML (full)" in md and "0.344" in md and "(this run)" in md
