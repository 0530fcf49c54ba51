"""The MLIP registry: what a SevenNet checkpoint says about itself, read without sevenn's loader."""

from __future__ import annotations

import pytest


def test_checkpoint_config_read_directly_equals_sevenns():
    from ionscreen.mlip import _sevennet_checkpoint, cutoff_A, sevennet_config

    for name in ("7net-0", "7net-0_22may2024"):
        direct, ref = sevennet_config(name), _sevennet_checkpoint(name).config
        assert direct["chemical_species"] == ref["chemical_species"]
        assert direct["cutoff"] == ref["cutoff"]
    assert cutoff_A("7net-0") == 5.0
    assert sevennet_config("7net-0") is not sevennet_config("7net-0_22may2024")


def test_unknown_sevennet_name_is_a_clear_error():
    from ionscreen.mlip import MLIPError, known_elements

    with pytest.raises(MLIPError, match="only the models bundled"):
        known_elements("7net-does-not-exist")
