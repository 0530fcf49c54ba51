"""Structure sources and the frozen candidate shards."""

from __future__ import annotations

import json

import pytest

from ionscreen.structures.sources import SourceError, assign_shards, material_files
from tests.conftest import REPO


def test_directory_source_ids_are_file_stems():
    files = material_files([{"type": "directory", "path": "resources/structures/candidates"}], REPO)
    assert "LiBr" in files and files["LiBr"].name == "LiBr.json" and len(files) == 10


def test_shards_grow_without_touching_finished_ones(tmp_path):
    record = tmp_path / "shards.json"
    first = assign_shards([f"m{i}" for i in range(5)], 2, record)
    assert first == {"00000": ["m0", "m1"], "00001": ["m2", "m3"], "00002": ["m4"]}
    # New ids, one of which sorts first: the old shards keep their members, new ones come after.
    grown = assign_shards(["a", *[f"m{i}" for i in range(5)], "z1", "z2"], 2, record)
    assert {k: grown[k] for k in first} == first
    assert grown["00003"] == ["a", "z1"] and grown["00004"] == ["z2"]
    # A submitted job reads the record and never adds to it.
    assert assign_shards(["a", "new"], 2, record, update=False) == {"00003": ["a"]}
    assert "new" not in record.read_text()
    # An id that leaves, leaves its shard; coming back, it returns to the same one.
    assert assign_shards(["m0", "m1", "m2"], 2, record)["00001"] == ["m2"]
    assert assign_shards(["m0", "m1", "m2", "m3"], 2, record)["00001"] == ["m2", "m3"]
    assert json.loads(record.read_text())["shard_size"] == 2


def test_changed_shard_size_starts_over(tmp_path):
    record = tmp_path / "shards.json"
    assign_shards(["a", "b", "c"], 2, record)
    assert assign_shards(["a", "b", "c"], 3, record) == {"00000": ["a", "b", "c"]}
    with pytest.raises(SourceError, match=">= 1"):
        assign_shards(["a"], 0, record)


def test_a_poscar_takes_its_folder_name_as_id(tmp_path):
    """One rule for ids from paths (``sources.material_id``): sources, the CLI and predict agree."""
    from ionscreen.structures.sources import material_id

    (tmp_path / "Li3N").mkdir()
    poscar = tmp_path / "Li3N" / "POSCAR"
    poscar.write_text("x")
    ids = material_files([{"type": "files", "paths": [str(poscar), str(REPO / "resources/structures/train/LiF.json")]}])
    assert list(ids) == ["Li3N", "LiF"] and material_id(poscar) == "Li3N"
