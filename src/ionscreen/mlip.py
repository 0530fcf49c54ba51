"""Machine-learned interatomic potentials: one place that turns a name into an ASE calculator.

Names:
- SevenNet models bundled in the sevenn wheel: ``7net-0`` (SevenNet-0, the default),
  ``7net-0_22may2024``, ``7net-l3i5`` (and ``7net-mf-0``, which needs a modal).
- A path ending in ``.model``: a MACE model file (mace-torch must be installed; it cannot share an
  environment with sevenn, see ``envs/mace.yaml``).
- ``lj``: ASE's Lennard-Jones (sigma 2.0 A, epsilon 0.01 eV, cutoff 5 A), an element-agnostic
  stand-in for testing plumbing. Never a physical model; its outputs are labelled ``lj``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ionscreen.sevennet import checkpoint

LJ_NAME = "lj"
MACE_DTYPE = "float32"  # MD in float32, as SevenNet runs (MACE's own default for MD)


class MLIPError(RuntimeError):
    """The potential cannot be loaded or does not cover the input."""


# What to install for each MLIP stack (package extras, pyproject.toml).
EXTRAS = {
    "sevenn": ("SevenNet", "pip install 'ionscreen[sevenn]' (what `make venv` installs)"),
    "mace": (
        "MACE",
        "pip install 'ionscreen[mace]' in an environment without sevenn (envs/mace.yaml; `make test-mace` builds one)",
    ),
}


class MissingExtra(MLIPError):
    """A stage needs an MLIP stack this environment lacks: the message names the extra."""


def require(extra: str) -> None:
    """Raise ``MissingExtra`` (one line naming the extra to install) unless the package of the
    MLIP stack ``extra`` ('sevenn' or 'mace') can be imported here. Imports nothing."""
    import importlib.util

    if importlib.util.find_spec(extra) is None:
        what, how = EXTRAS[extra]
        raise MissingExtra(f"{what} needs the '{extra}' extra, which this environment lacks: {how}")


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads to ``threads`` capped by the CPUs this process may use.

    Oversubscribing a small machine makes SevenNet 4-20x slower, so the cap matters.
    Returns the number set.
    """
    import torch

    n = max(1, min(int(threads or 1), available_cpus()))
    torch.set_num_threads(n)
    return n


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# SevenNet's tensor-product accelerators (sevenn 0.13 ``build_model(enable_cueq=, enable_flash=,
# enable_oeq=)``), all CUDA-only; 'auto' takes the first installed one in this order.
ACCELERATORS = ("auto", "none", "cueq", "flash", "oeq")
_ACCELERATOR_CHECKS = {
    "cueq": (
        "sevenn.nn.cue_helper",
        "is_cue_available",
        "pip install cuequivariance-torch cuequivariance-ops-torch-cu12",
    ),
    "flash": ("sevenn.nn.flash_helper", "is_flash_available", "install FlashTP (see SevenNet's accelerator docs)"),
    "oeq": ("sevenn.nn.oeq_helper", "is_oeq_available", "pip install openequivariance"),
}


def accelerator_available(name: str) -> bool:
    """Whether sevenn can use this accelerator here (its package installed and a GPU visible)."""
    import importlib

    module, check, _ = _ACCELERATOR_CHECKS[name]
    try:
        return bool(getattr(importlib.import_module(module), check)())
    except Exception:  # noqa: BLE001 - an accelerator whose import fails is not available
        return False


def resolve_accelerator(accelerator: str, device: str) -> str:
    """The accelerator a SevenNet model is built with (``mlip.accelerator``): 'none' on a CPU
    ('auto'; a named one there is an error: all three need CUDA); on CUDA 'auto' takes the first
    installed of cueq, flash, oeq, or 'none' (sevenn then warns that it may run much slower); a
    named one that is not installed is an error that says what to install."""
    a = str(accelerator).strip().lower()
    if a not in ACCELERATORS:
        raise MLIPError(f"unknown mlip.accelerator {accelerator!r}; use one of {ACCELERATORS}")
    if device == "cpu":
        if a not in ("auto", "none"):
            raise MLIPError(f"mlip.accelerator {a} needs CUDA, and this job runs on the CPU: use auto or none")
        return "none"
    if a == "auto":
        return next((n for n in ("cueq", "flash", "oeq") if accelerator_available(n)), "none")
    if a != "none" and not accelerator_available(a):
        raise MLIPError(f"mlip.accelerator {a} is not available here: {_ACCELERATOR_CHECKS[a][2]}, or use auto")
    return a


def accelerator_flags(accelerator: str) -> dict[str, bool]:
    """sevenn's ``build_model`` keywords for a resolved accelerator."""
    return {f"enable_{n}": accelerator == n for n in ("cueq", "flash", "oeq")}


def sevennet_config(name: str) -> dict[str, Any]:
    """The configuration stored in a SevenNet checkpoint (species, cutoff, ...), from the file
    without torch where there is one (``sevennet.checkpoint.checkpoint_config``), otherwise through
    sevenn's loader (``sevennet_model``)."""
    require("sevenn")
    path = checkpoint.checkpoint_file(name)
    config = checkpoint.checkpoint_config(path) if path is not None else None
    return config if config is not None else sevennet_model(name).config


def sevennet_model(name: str) -> Any:
    """sevenn's checkpoint object of a SevenNet name or file (``sevennet.checkpoint.load_checkpoint``),
    with the MLIP errors of this module: ``MissingExtra`` without sevenn, ``MLIPError`` for a name
    that does not load."""
    require("sevenn")
    try:
        return checkpoint.load_checkpoint(name)
    except checkpoint.CheckpointError as exc:
        raise MLIPError(str(exc)) from exc


def known_elements(name: str) -> frozenset[str] | None:
    """Elements the potential was trained on (None = any, e.g. Lennard-Jones)."""
    if name == LJ_NAME:
        return None
    if checkpoint.is_sevennet(name):
        return frozenset(sevennet_config(name)["chemical_species"])
    if name.endswith(".model"):
        return None  # MACE models carry their own z-table; checked when the calculator is built
    raise MLIPError(f"unknown MLIP {name!r}: use a SevenNet name, a MACE .model file or 'lj'")


def cutoff_A(name: str) -> float:
    if checkpoint.is_sevennet(name):
        return float(sevennet_config(name)["cutoff"])
    return 5.0


def get_calculator(name: str = "7net-0", device: str = "auto", **kwargs: Any) -> Any:
    """An ASE calculator for ``name`` (see module docstring); ``accelerator=`` (SevenNet only:
    ``resolve_accelerator``) and sevenn's own keywords go to SevenNet's calculator."""
    device = resolve_device(device)
    if name == LJ_NAME:
        from ase.calculators.lj import LennardJones

        return LennardJones(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)
    if checkpoint.is_sevennet(name):
        require("sevenn")
        from sevenn.calculator import SevenNetCalculator

        sevennet_model(name)  # clear error for unknown names
        accelerator = resolve_accelerator(kwargs.pop("accelerator", "auto"), device)
        with warnings.catch_warnings():
            if device == "cpu":  # no accelerator exists for a CPU: sevenn's advice cannot be followed
                warnings.filterwarnings("ignore", message=".*tensor product accelerator.*")
            return SevenNetCalculator(name, device=device, **accelerator_flags(accelerator), **kwargs)
    if name.endswith(".model"):
        path = Path(name)
        if not path.is_file():
            raise MLIPError(f"MACE model file {path} does not exist")
        require("mace")
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=str(path), device=device, default_dtype=MACE_DTYPE)
    raise MLIPError(f"unknown MLIP {name!r}: use a SevenNet name, a MACE .model file or 'lj'")
