"""The MLIP registry: what a SevenNet checkpoint says about itself, read without sevenn's loader."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_checkpoint_config_read_directly_equals_sevenns():
    from ionscreen.mlip import _sevennet_checkpoint, cutoff_A, sevennet_config

    for name in ("7net-0", "7net-0_22may2024"):
        direct, ref = sevennet_config(name), _sevennet_checkpoint(name).config
        assert direct["chemical_species"] == ref["chemical_species"]
        assert direct["cutoff"] == ref["cutoff"]
    assert cutoff_A("7net-0") == 5.0
    assert sevennet_config("7net-0") is not sevennet_config("7net-0_22may2024")


def test_the_checkpoint_configuration_is_read_without_torch_and_equals_torch_load():
    """``checkpoint_config`` reads the pickle with torch's objects left out; every key but the
    device object equals what ``torch.load`` gives, and the bundled files are found where
    ``sevenn._const`` says, all without importing torch (a fresh interpreter checks)."""
    import subprocess
    import sys

    import sevenn._const as const
    import torch

    from ionscreen.mlip import SEVENNET_BUNDLED, checkpoint_config, sevennet_checkpoint_file

    for name, attr in SEVENNET_BUNDLED.items():
        assert sevennet_checkpoint_file(name) == Path(getattr(const, attr)), name
    for name in ("7net-0", "7net-0_22may2024", "7net-l3i5"):
        path = sevennet_checkpoint_file(name)
        ref = torch.load(path, map_location="cpu", weights_only=False)["config"]
        got = checkpoint_config(path)
        assert set(got) == set(ref)
        assert {k for k in ref if str(got[k]) != str(ref[k])} <= {"device"}, name
    code = (
        "import sys; from ionscreen import mlip; "
        "print(mlip.cutoff_A('7net-0'), len(mlip.known_elements('7net-0')), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["5.0", "89", "False"]


def test_a_file_that_is_not_a_checkpoint_has_no_configuration(tmp_path):
    from ionscreen.mlip import checkpoint_config

    (tmp_path / "x.pth").write_text("not a zip")
    assert checkpoint_config(tmp_path / "x.pth") is None


def test_unknown_sevennet_name_is_a_clear_error():
    from ionscreen.mlip import MLIPError, known_elements

    with pytest.raises(MLIPError, match="only the models bundled"):
        known_elements("7net-does-not-exist")


def test_the_accelerator_is_none_on_a_cpu_and_the_installed_one_on_cuda(monkeypatch):
    from ionscreen import mlip

    assert mlip.resolve_accelerator("auto", "cpu") == "none"
    assert mlip.resolve_accelerator("None", "cpu") == "none"
    with pytest.raises(mlip.MLIPError, match="cueq needs CUDA, and this job runs on the CPU"):
        mlip.resolve_accelerator("cueq", "cpu")
    with pytest.raises(mlip.MLIPError, match="unknown mlip.accelerator 'tensorrt'"):
        mlip.resolve_accelerator("tensorrt", "cuda")
    # On CUDA: auto takes the first installed of cueq, flash, oeq.
    installed = {"flash", "oeq"}
    monkeypatch.setattr(mlip, "accelerator_available", lambda name: name in installed)
    assert mlip.resolve_accelerator("auto", "cuda") == "flash"
    assert mlip.resolve_accelerator("oeq", "cuda") == "oeq"
    with pytest.raises(mlip.MLIPError, match="cueq is not available here: pip install cuequivariance"):
        mlip.resolve_accelerator("cueq", "cuda")
    installed.clear()
    assert mlip.resolve_accelerator("auto", "cuda") == "none"
    assert mlip.accelerator_flags("flash") == {"enable_cueq": False, "enable_flash": True, "enable_oeq": False}
    assert mlip.accelerator_flags("none") == {"enable_cueq": False, "enable_flash": False, "enable_oeq": False}


def test_no_accelerator_is_available_without_a_gpu():
    """This machine has no GPU: sevenn's own checks say no for all three (what auto relies on)."""
    import torch

    from ionscreen import mlip

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert not any(mlip.accelerator_available(n) for n in ("cueq", "flash", "oeq"))


def test_sevenns_accelerator_warning_is_not_silenced():
    """ionscreen's logging setup leaves sevenn's 'no tensor product accelerator' warning alone
    (on CUDA it says the MD may run much slower; the CPU path has no accelerator to offer)."""
    import warnings

    from ionscreen import logs

    logs.setup()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        logs.setup()
        from sevenn.util import warn_no_tp_accelerator

        warn_no_tp_accelerator("test")
    assert any("tensor product accelerator" in str(w.message) for w in caught)
