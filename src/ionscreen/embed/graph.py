"""What a structure embedding is made of and how it is computed: the variants (``invariant``,
``full``) and frames (``given``, ``standard``; ``standard_rotation``), SevenNet's input graph as numpy
arrays (``graph_arrays``, cutoff in A), the model up to the embedding layer, and the choice of engine
(``firstblock``, ``fasttp``, ``e3nn``). ``ionscreen.embed.structure`` runs them."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from pymatgen.core import Structure

log = logging.getLogger(__name__)


class EmbedError(ValueError):
    pass


VARIANTS = ("invariant", "full")


FRAMES = ("given", "standard")


DEFAULT_VARIANT, DEFAULT_FRAME = "invariant", "given"


def orientation_invariant(variant: str, frame: str = DEFAULT_FRAME) -> bool:
    """Whether embeddings of this variant in this frame are the same for a rigidly rotated copy
    of a cell: the ``invariant`` variant always, ``full`` only in the ``standard`` frame."""
    return variant == "invariant" or frame == "standard"


def standard_rotation(cell: np.ndarray) -> np.ndarray:
    """The orthogonal 3x3 matrix Q with ``cell @ Q`` the cell in its standard orientation (rows
    are lattice vectors, A): the one ``Lattice.from_parameters`` builds from the cell's lengths and
    angles. Rotated copies of one cell share it, so their rotated positions agree to rounding. A
    left-handed cell gets an improper Q (the standard cell is right-handed)."""
    from pymatgen.core import Lattice

    cell = np.asarray(cell, dtype=float)
    std = Lattice.from_parameters(*Lattice(cell).parameters).matrix
    return np.linalg.solve(cell, std)


def default_batch_atoms(device: str) -> int:
    """Atoms per forward pass. On CPU, batches beyond a few hundred atoms run slower (OBELiX
    CIFs, 2 cores, best of 3: 39.7 structures/s at 256 atoms, 42.8 one at a time, 18.3 at
    1000), and 256 still groups tiny cells, whose per-call overhead dominates. Large on GPU."""
    return 256 if device == "cpu" else 8192


ENGINES = ("firstblock", "fasttp", "e3nn")

FIRST_BLOCK_LAYER = 10  # the layer ``firstblock`` computes (the embedding layer of SevenNet-0); torch-free here


# sevenn's graph keys (``sevenn._keys``: tests/embed/test_structure.py checks them), written here so that a
# reader process builds graphs without importing sevenn.
GRAPH_KEYS = {
    "x": "x",
    "atomic_numbers": "atomic_numbers",
    "pos": "pos",
    "edge_index": "edge_index",
    "edge_vec": "edge_vec",
    "cell_volume": "cell_volume",
    "num_atoms": "num_atoms",
    "info": "data_info",
}


def graph_arrays(s: Structure, cutoff_A: float, frame: str = DEFAULT_FRAME) -> dict[str, Any]:
    """SevenNet's graph of an ordered structure as numpy arrays, the dict sevenn's
    ``unlabeled_atoms_to_graph`` builds for a periodic cell (matscipy's neighbour list within
    ``cutoff_A``, int64 edge indices, positions and cell in A, volume in A^3), built here from the
    structure's arrays: no ASE adaptor, and no import of ``sevenn.train`` (about 2 s, which a
    reader process would otherwise spend before its first file). ``tests/embed/test_structure.py`` checks
    it equal, array for array, to sevenn's function. Arrays pickle fast: a reader process builds them.
    ``frame="standard"`` rotates positions and cell to the standard orientation first
    (``standard_rotation``)."""
    from matscipy.neighbours import neighbour_list

    if frame not in FRAMES:
        raise EmbedError(f"frame must be one of {FRAMES}, got {frame!r}")
    k = GRAPH_KEYS
    numbers = np.asarray(s.atomic_numbers, dtype=np.int64)
    pos = np.array(s.cart_coords, dtype=float)
    cell = np.array(s.lattice.matrix, dtype=float)
    if frame == "standard":
        q = standard_rotation(cell)
        pos, cell = pos @ q, cell @ q
    src, dst, vec, _ = neighbour_list("ijDS", pbc=np.ones(3, dtype=bool), cell=cell, positions=pos, cutoff=cutoff_A)
    return {
        k["x"]: numbers,
        k["atomic_numbers"]: numbers,
        k["pos"]: pos,
        k["edge_index"]: np.array([src.astype(np.int64), dst.astype(np.int64)]),
        k["edge_vec"]: vec,
        k["cell_volume"]: np.array(np.abs(np.linalg.det(cell))),
        k["num_atoms"]: np.array(len(numbers)),
        k["info"]: {},
    }


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


def embedding_dim(variant: str = DEFAULT_VARIANT) -> int:
    return {"full": 977, "invariant": 456}[variant]
