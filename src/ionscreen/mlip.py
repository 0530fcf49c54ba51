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

import functools
import os
import warnings
from pathlib import Path
from typing import Any

# Models bundled in the sevenn wheel: name -> the ``sevenn._const`` attribute holding its checkpoint path.
SEVENNET_BUNDLED = {
    "7net-0": "SEVENNET_0_11Jul2024",
    "7net-0_11jul2024": "SEVENNET_0_11Jul2024",
    "sevennet-0": "SEVENNET_0_11Jul2024",
    "7net-0_22may2024": "SEVENNET_0_22May2024",
    "7net-l3i5": "SEVENNET_l3i5",
}
# Where ``sevenn._const`` puts each of those files, under the sevenn package folder. Importing
# ``sevenn._const`` imports torch (1.1 s), so the path is looked up here first (a test checks it
# against sevenn's), and ``sevenn._const`` answers where this does not find the file.
SEVENNET_BUNDLED_FILES = {
    "SEVENNET_0_11Jul2024": "pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
    "SEVENNET_0_22May2024": "pretrained_potentials/SevenNet_0__22May2024/checkpoint_sevennet_0.pth",
    "SEVENNET_l3i5": "pretrained_potentials/SevenNet_l3i5/checkpoint_l3i5.pth",
}
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


def is_sevennet(name: str) -> bool:
    return name.lower() in SEVENNET_BUNDLED or name.lower().startswith("7net")


@functools.lru_cache(maxsize=4)
def _sevennet_checkpoint(name: str) -> Any:
    require("sevenn")
    from sevenn.util import load_checkpoint

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return load_checkpoint(name)
        except Exception as exc:  # sevenn raises plain errors for unknown/undownloadable names
            raise MLIPError(
                f"cannot load SevenNet model {name!r} ({type(exc).__name__}: {exc}); "
                f"offline, only the models bundled in the sevenn wheel work: {tuple(SEVENNET_BUNDLED)}"
            ) from exc


def sevennet_checkpoint_file(name: str) -> Path | None:
    """The checkpoint file of a SevenNet model: ``name`` itself when it is a file, the file in
    the sevenn wheel for a bundled name, None otherwise (names sevenn's loader resolves)."""
    import importlib.util

    path = Path(name)
    if path.is_file():
        return path
    require("sevenn")
    bundled = SEVENNET_BUNDLED.get(name.lower())
    if not bundled:
        return None
    spec = importlib.util.find_spec("sevenn")  # finds the package folder without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / SEVENNET_BUNDLED_FILES[bundled]
        if path.is_file():
            return path
    import sevenn._const as const

    path = Path(getattr(const, bundled, ""))
    return path if path.is_file() else None


@functools.lru_cache(maxsize=4)
def checkpoint_config(path: str | Path) -> dict[str, Any] | None:
    """The ``config`` dict of a SevenNet checkpoint file, read without torch (70 ms, against
    torch's import of 1.1 s before ``torch.load``): the pickle is read with every torch object
    (tensors, devices) left as None, which the configuration's species, cutoff and sizes do not
    use. ``ionscreen predict`` starts its readers with it before torch loads. None when the file
    is not a torch zip archive holding a dict with a ``config`` dict."""
    import pickle
    import zipfile

    class _Reader(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module.split(".")[0] == "torch":
                return _none
            return super().find_class(module, name)

        def persistent_load(self, pid: Any) -> None:  # tensor storages live in other archive members
            return None

    try:
        with zipfile.ZipFile(path) as archive:
            member = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
            if member is None:
                return None
            with archive.open(member) as f:
                cp = _Reader(f).load()
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, AttributeError, ImportError):
        return None
    config = cp.get("config") if isinstance(cp, dict) else None
    return config if isinstance(config, dict) else None


def _none(*args: Any, **kwargs: Any) -> None:
    return None


@functools.lru_cache(maxsize=2)
def sevennet_checkpoint_dict(name: str) -> dict[str, Any] | None:
    """The checkpoint as stored (``config``, ``model_state_dict``, ...), read with ``torch.load``
    alone (0.1 s; sevenn's own loader first imports about 1.5 s of modules), or None where there
    is no file to read (``sevennet_checkpoint_file``)."""
    import torch

    path = sevennet_checkpoint_file(name)
    if path is None:
        return None
    cp = torch.load(path, map_location="cpu", weights_only=False)
    return cp if isinstance(cp, dict) and isinstance(cp.get("config"), dict) else None


def sevennet_config(name: str) -> dict[str, Any]:
    """The configuration stored in a SevenNet checkpoint (species, cutoff, ...), from the file
    without torch where there is one (``checkpoint_config``), otherwise through sevenn's loader."""
    path = sevennet_checkpoint_file(name)
    config = checkpoint_config(path) if path is not None else None
    return config if config is not None else _sevennet_checkpoint(name).config


def known_elements(name: str) -> frozenset[str] | None:
    """Elements the potential was trained on (None = any, e.g. Lennard-Jones)."""
    if name == LJ_NAME:
        return None
    if is_sevennet(name):
        return frozenset(sevennet_config(name)["chemical_species"])
    if name.endswith(".model"):
        return None  # MACE models carry their own z-table; checked when the calculator is built
    raise MLIPError(f"unknown MLIP {name!r}: use a SevenNet name, a MACE .model file or 'lj'")


def cutoff_A(name: str) -> float:
    if is_sevennet(name):
        return float(sevennet_config(name)["cutoff"])
    return 5.0


def get_calculator(name: str = "7net-0", device: str = "auto", **kwargs: Any) -> Any:
    """An ASE calculator for ``name`` (see module docstring); ``accelerator=`` (SevenNet only:
    ``resolve_accelerator``) and sevenn's own keywords go to SevenNet's calculator."""
    device = resolve_device(device)
    if name == LJ_NAME:
        from ase.calculators.lj import LennardJones

        return LennardJones(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)
    if is_sevennet(name):
        require("sevenn")
        from sevenn.calculator import SevenNetCalculator

        _sevennet_checkpoint(name)  # clear error for unknown names
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
