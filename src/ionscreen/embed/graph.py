"""What a structure embedding is made of: the variants (``invariant``, ``full``) and frames
(``given``, ``standard``: ``ionscreen.sevennet.graph``), the engines (``firstblock``, ``fasttp``,
``e3nn``) and which one runs (``default_engine``). ``ionscreen.embed.structure`` runs them."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class EmbedError(ValueError):
    pass


VARIANTS = ("invariant", "full")


DEFAULT_VARIANT, DEFAULT_FRAME = "invariant", "given"


def orientation_invariant(variant: str, frame: str = DEFAULT_FRAME) -> bool:
    """Whether embeddings of this variant in this frame are the same for a rigidly rotated copy
    of a cell: the ``invariant`` variant always, ``full`` only in the ``standard`` frame."""
    return variant == "invariant" or frame == "standard"


def default_batch_atoms(device: str) -> int:
    """Atoms per forward pass. On CPU, batches beyond a few hundred atoms run slower (OBELiX
    CIFs, 2 cores, best of 3: 39.7 structures/s at 256 atoms, 42.8 one at a time, 18.3 at
    1000), and 256 still groups tiny cells, whose per-call overhead dominates. Large on GPU."""
    return 256 if device == "cpu" else 8192


ENGINES = ("firstblock", "fasttp", "e3nn")


def embedding_dim(variant: str = DEFAULT_VARIANT) -> int:
    return {"full": 977, "invariant": 456}[variant]


def default_engine(model: str, layer: int, device: str) -> str:
    """The engine ``SevenNetEmbedder(engine=None)`` takes on ``device`` ('cpu', 'cuda'): the
    same test the embedder makes, configuration and weights, so callers that size their work by
    the engine (``screener.Screener``) agree with it."""
    from ionscreen.sevennet.firstblock import load_first_block

    if device != "cpu":
        return "e3nn"
    return "fasttp" if isinstance(load_first_block(model, layer), str) else "firstblock"
