"""The vendored OBELiX data: conductivities with bounds kept apart, CIFs as a source."""

from __future__ import annotations

import math
import shutil

from ionscreen.obelix import read_table
from ionscreen.sources import material_files
from tests.conftest import REPO


def test_table_keeps_upper_bounds_apart():
    df = read_table(REPO / "resources/obelix/train.csv")
    assert len(df) == 478
    bounds = df[df["sigma_bound"].notna()]
    assert len(bounds) == 29 and set(bounds["sigma_bound"]) == {"<1E-10", "<1E-8"}
    assert bounds["sigma_S_cm"].isna().all()  # never parsed as a number
    jqc = df.set_index("ID").loc["jqc"]
    assert jqc["sigma_S_cm"] == 1.58489e-06 and math.isclose(jqc["log10_sigma_S_cm"], math.log10(1.58489e-06))


def test_cifs_as_a_structure_source(tmp_path):
    shutil.copy(REPO / "resources/obelix/train_cifs.tar.gz", tmp_path)
    files = material_files([{"type": "obelix", "path": "."}], tmp_path)
    assert len(files) == 254 and files["jqc"].name == "jqc.cif"
    assert material_files([{"type": "obelix", "path": "."}], tmp_path) == files  # extracted once
