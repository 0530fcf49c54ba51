"""SevenNet checkpoints: which file a model name means, its configuration read without torch,
the stored dict, sevenn's checkpoint object, and the model built up to a layer.

Names: the models bundled in the sevenn wheel (``BUNDLED``) or a checkpoint file path."""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A SevenNet checkpoint that cannot be loaded (an unknown name, no network for a download)."""


# Models bundled in the sevenn wheel: name -> the ``sevenn._const`` attribute holding its checkpoint path.
BUNDLED = {
    "7net-0": "SEVENNET_0_11Jul2024",
    "7net-0_11jul2024": "SEVENNET_0_11Jul2024",
    "sevennet-0": "SEVENNET_0_11Jul2024",
    "7net-0_22may2024": "SEVENNET_0_22May2024",
    "7net-l3i5": "SEVENNET_l3i5",
}
# Where ``sevenn._const`` puts each of those files, under the sevenn package folder. Importing
# ``sevenn._const`` imports torch (1.1 s), so the path is looked up here first (a test checks it
# against sevenn's), and ``sevenn._const`` answers where this does not find the file.
BUNDLED_FILES = {
    "SEVENNET_0_11Jul2024": "pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
    "SEVENNET_0_22May2024": "pretrained_potentials/SevenNet_0__22May2024/checkpoint_sevennet_0.pth",
    "SEVENNET_l3i5": "pretrained_potentials/SevenNet_l3i5/checkpoint_l3i5.pth",
}


def is_sevennet(name: str) -> bool:
    return name.lower() in BUNDLED or name.lower().startswith("7net")


def checkpoint_file(name: str) -> Path | None:
    """The checkpoint file of a SevenNet model: ``name`` itself when it is a file, the file in
    the sevenn wheel for a bundled name, None otherwise (names sevenn's loader resolves, or no
    sevenn installed)."""
    import importlib.util

    path = Path(name)
    if path.is_file():
        return path
    bundled = BUNDLED.get(name.lower())
    if not bundled:
        return None
    spec = importlib.util.find_spec("sevenn")  # finds the package folder without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / BUNDLED_FILES[bundled]
        if path.is_file():
            return path
    if spec is None:
        return None
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
def checkpoint_dict(name: str) -> dict[str, Any] | None:
    """The checkpoint as stored (``config``, ``model_state_dict``, ...), read with ``torch.load``
    alone (0.1 s; sevenn's own loader first imports about 1.5 s of modules), or None where there
    is no file to read (``checkpoint_file``)."""
    import torch

    path = checkpoint_file(name)
    if path is None:
        return None
    cp = torch.load(path, map_location="cpu", weights_only=False)
    return cp if isinstance(cp, dict) and isinstance(cp.get("config"), dict) else None


@functools.lru_cache(maxsize=4)
def load_checkpoint(name: str) -> Any:
    """sevenn's checkpoint object (``config``, ``build_model``) of a SevenNet name or file, through
    sevenn's own loader (imports sevenn and torch: about 1.5 s), once per name per process;
    ``CheckpointError`` saying which names work offline when it cannot."""
    from sevenn.util import load_checkpoint as sevenn_load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return sevenn_load(name)
        except Exception as exc:  # sevenn raises plain errors for unknown/undownloadable names
            raise CheckpointError(
                f"cannot load SevenNet model {name!r} ({type(exc).__name__}: {exc}); "
                f"offline, only the models bundled in the sevenn wheel work: {tuple(BUNDLED)}"
            ) from exc


def build_model_through(cp: Any, layer: int) -> Any:
    """SevenNet's model from a checkpoint with only the modules up to index ``layer`` (what an
    embedding at that layer runs), loaded with the checkpoint's weights. Only the interaction
    blocks it needs are built: for 7net-0 at layer 10, 2 of 5, which is 0.8 s instead of 2.2 s
    (e3nn generates code for every tensor product it builds). The modules after ``layer`` are
    removed, so the truncated model cannot be run past it by mistake. Where the checkpoint does
    not fit this shape (no per-layer irreps, another module layout, a layer past the last block),
    the whole model is built as sevenn builds it. ``tests/embed/test_structure.py`` checks the embeddings
    equal to the whole model's."""
    import copy

    import sevenn._keys as KEY
    from sevenn.model_build import build_E3_equivariant_model

    cfg = cp.config
    blocks = max(1, (layer - 3) // 6 + 1)  # sevenn's layout: 3 input modules, then 6 per interaction block
    manual = cfg.get(KEY.IRREPS_MANUAL)
    if blocks < int(cfg.get(KEY.NUM_CONVOLUTION, 0)) and isinstance(manual, list):
        small = copy.deepcopy(cfg)
        small[KEY.NUM_CONVOLUTION] = blocks
        small[KEY.IRREPS_MANUAL] = manual[: blocks + 1]
        if isinstance(small.get(KEY.CONV_DENOMINATOR), list):
            small[KEY.CONV_DENOMINATOR] = small[KEY.CONV_DENOMINATOR][:blocks]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = build_E3_equivariant_model(small)
            for name in list(model._modules)[layer + 1 :]:
                del model._modules[name]
            own, state = model.state_dict(), cp.model_state_dict
            if len(model._modules) == layer + 1 and all(
                k in state and state[k].shape == v.shape for k, v in own.items()
            ):
                model.load_state_dict({k: state[k] for k in own}, strict=True)
                return model
        except Exception as exc:  # noqa: BLE001 - any surprise: build the whole model instead
            log.debug("truncated SevenNet build failed (%s); building the whole model", exc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cp.build_model()
