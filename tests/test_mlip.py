"""The MLIP registry: what a SevenNet checkpoint says about itself, read without sevenn's loader."""

from __future__ import annotations

import pytest


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
