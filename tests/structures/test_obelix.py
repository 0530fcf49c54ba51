"""The vendored OBELiX data: conductivities with bounds kept apart, CIFs as a source."""

from __future__ import annotations

import math
import shutil

import pandas as pd

from ionscreen.structures.obelix import normalised_formula, read_table
from ionscreen.structures.sources import material_files
from tests.conftest import REPO

OBELIX = REPO / "resources/obelix"


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


def test_one_composition_written_two_ways_is_one_group_in_every_fold() -> None:
    """OBELiX writes some compositions two ways (a space before a bracket, a trailing space, another
    element order): the normalised formula makes them one group, so no fold splits them."""
    from ionscreen.learn.folds import grouped_folds

    table = read_table(OBELIX / "train.csv")
    assert normalised_formula("Li1.4Al0.4Ti1.6 (PO4)3") == normalised_formula("Li1.4Al0.4Ti1.6(PO4)3 ")
    measured = table[table["sigma_S_cm"] > 0]
    raw, norm = measured["Reduced Composition"].astype(str), measured["formula"]
    assert (raw.nunique(), norm.nunique()) == (374, 365)
    two_ways = norm[raw.groupby(norm).transform("nunique") > 1]
    assert two_ways.nunique() == 9 and len(two_ways) == 25
    for seed in (0, 1, 2):
        folds = pd.Series(grouped_folds(list(norm), 5, seed), index=norm.index)
        assert folds.groupby(norm).nunique().max() == 1
        # grouping by the raw text would put at least one of these compositions on both sides of a fold
        raw_folds = pd.Series(grouped_folds(list(raw), 5, seed), index=raw.index)
        assert raw_folds[two_ways.index].groupby(two_ways).nunique().max() == 2
