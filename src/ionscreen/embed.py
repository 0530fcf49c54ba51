"""SevenNet structure embeddings (stage ``embed``), docs/method.md section 3.

The forward pass runs SevenNet-0's module sequence up to module index ``layer`` (default 10,
``1_self_interaction_1``: 480 node features = 128x0e+64x1e+32x2e) and stops. With h the node
features and e_ij = [edge_embedding (8 radial Bessel), edge_attr (9 spherical harmonics)] per
directed edge i -> j (i = ``edge_index[0]``), atom i's embedding is the mean over its edges of
concat(h_i, h_j, e_ij) = [h_i, mean_j h_j, mean_j e_ij]: 977 values. This ``full`` variant is the
AML paper's; it is not rotation invariant (l > 0 irreps and harmonics rotate). The ``invariant``
variant keeps the 128 scalars plus one norm per l > 0 channel (224 per atom) and only the radial
edge part: 224 + 224 + 8 = 456 values.

On CPUs the convolution runs as ``ionscreen.fasttp.FastConvolution`` (the same sums regrouped:
equal to e3nn's to float32 rounding, 3-4x faster); ``fast_convolution=False`` keeps e3nn's.

Many structures go through one forward pass as a graph of disjoint graphs (``batch_atoms``
atoms per pass; default 256 on CPU, 8192 on GPU): identical to one-at-a-time results. Batching
pays for tiny cells and on GPUs; on a 2-core CPU it is neutral for 100-atom cells (benchmark).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymatgen.core import Structure

from ionscreen import mlip as mlip_mod
from ionscreen import schema

log = logging.getLogger(__name__)

VARIANTS = ("full", "invariant")


class EmbedError(ValueError):
    pass


def default_batch_atoms(device: str) -> int:
    """Atoms per forward pass. On CPU, batches beyond a few hundred atoms run slower (OBELiX
    CIFs, 2 cores, best of 3: 39.7 structures/s at 256 atoms, 42.8 one at a time, 18.3 at
    1000), and 256 still groups tiny cells, whose per-call overhead dominates. Large on GPU."""
    return 256 if device == "cpu" else 8192


def graph_arrays(s: Structure, cutoff_A: float) -> dict[str, Any]:
    """SevenNet's graph of an ordered structure as numpy arrays, the dict sevenn's
    ``unlabeled_atoms_to_graph`` builds for a periodic cell (matscipy's neighbour list within
    ``cutoff_A``, int64 edge indices, positions and cell in A, volume in A^3), built here from the
    structure's arrays: no ASE adaptor, and no import of ``sevenn.train`` (about 2 s, which a
    reader process would otherwise spend before its first file). ``tests/test_embed.py`` checks
    it equal, array for array, to sevenn's function. Arrays pickle fast: a reader process builds them."""
    import sevenn._keys as KEY
    from matscipy.neighbours import neighbour_list

    numbers = np.asarray(s.atomic_numbers, dtype=np.int64)
    pos = np.array(s.cart_coords, dtype=float)
    cell = np.array(s.lattice.matrix, dtype=float)
    src, dst, vec, _ = neighbour_list("ijDS", pbc=np.ones(3, dtype=bool), cell=cell, positions=pos, cutoff=cutoff_A)
    return {KEY.NODE_FEATURE: numbers, KEY.ATOMIC_NUMBERS: numbers, KEY.POS: pos,
            KEY.EDGE_IDX: np.array([src.astype(np.int64), dst.astype(np.int64)]), KEY.EDGE_VEC: vec,
            KEY.CELL_VOLUME: np.array(np.abs(np.linalg.det(cell))), KEY.NUM_ATOMS: np.array(len(numbers)),
            KEY.INFO: {}}


def build_model_through(cp: Any, layer: int) -> Any:
    """SevenNet's model from a checkpoint with only the modules up to index ``layer`` (what an
    embedding at that layer runs), loaded with the checkpoint's weights. Only the interaction
    blocks it needs are built: for 7net-0 at layer 10, 2 of 5, which is 0.8 s instead of 2.2 s
    (e3nn generates code for every tensor product it builds). The modules after ``layer`` are
    removed, so the truncated model cannot be run past it by mistake. Where the checkpoint does
    not fit this shape (no per-layer irreps, another module layout, a layer past the last block),
    the whole model is built as sevenn builds it. ``tests/test_embed.py`` checks the embeddings
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
            for name in list(model._modules)[layer + 1:]:
                del model._modules[name]
            own, state = model.state_dict(), cp.model_state_dict
            if (len(model._modules) == layer + 1
                    and all(k in state and state[k].shape == v.shape for k, v in own.items())):
                model.load_state_dict({k: state[k] for k in own}, strict=True)
                return model
        except Exception as exc:  # noqa: BLE001 - any surprise: build the whole model instead
            log.debug("truncated SevenNet build failed (%s); building the whole model", exc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cp.build_model()


def embedding_dim(variant: str = "full") -> int:
    return {"full": 977, "invariant": 456}[variant]


class SevenNetEmbedder:
    """Stateful wrapper: the model is loaded once; ``__call__`` embeds a list of structures."""

    def __init__(self, model: str = "7net-0", layer: int = 10, variant: str = "full",
                 device: str = "auto", fast_convolution: bool | None = None) -> None:
        if variant not in VARIANTS:
            raise EmbedError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if not mlip_mod.is_sevennet(model):
            raise EmbedError(f"structure embeddings need a SevenNet model, got {model!r}")
        if layer < 0:
            raise EmbedError(f"layer must be >= 0, got {layer}")
        cp = mlip_mod._sevennet_checkpoint(model)
        self.model = build_model_through(cp, layer)
        self.model.eval()
        self.device = mlip_mod.resolve_device(device)
        self.model.to(self.device)
        n_mod = len(self.model._modules)
        if layer >= n_mod:
            raise EmbedError(f"layer must be in 0..{n_mod - 1}, got {layer}")
        self.layer, self.variant, self.name = layer, variant, model
        self.cutoff = float(cp.config["cutoff"])
        # The convolutions this embedding runs, with e3nn's tensor product replaced by an equal,
        # faster formulation (ionscreen.fasttp; 3-4x on CPU). Default: on CPU only (on GPUs,
        # e3nn's generated code is what SevenNet is tested with).
        if fast_convolution is None:
            fast_convolution = self.device == "cpu"
        if fast_convolution:
            from ionscreen.fasttp import accelerate_convolutions

            accelerate_convolutions(self.model, list(self.model._modules)[: layer + 1])
        self.fast_convolution = bool(fast_convolution)
        self.irreps = None
        if variant == "invariant":
            from e3nn.o3 import Irreps

            self.irreps = Irreps("128x0e+64x1e+32x2e")

    def _graph(self, s: Structure | dict[str, Any]) -> Any:
        from sevenn.atom_graph_data import AtomGraphData

        return AtomGraphData.from_numpy_dict(s if isinstance(s, dict) else graph_arrays(s, self.cutoff))

    def _invariant_nodes(self, x: Any) -> Any:
        import torch

        out = []
        for mi, sl in zip(self.irreps, self.irreps.slices(), strict=True):
            b = x[:, sl].reshape(len(x), mi.mul, mi.ir.dim)
            out.append(b[..., 0] if mi.ir.l == 0 else b.norm(dim=-1))
        return torch.cat(out, -1)

    def forward_layers(self, structures: Sequence[Structure | dict[str, Any]]) -> dict[str, Any]:
        """Node features, edge features, edge index and graph index for a batch (torch tensors).
        Each item is a Structure or its ``graph_arrays`` (built elsewhere, e.g. in a reader process)."""
        import torch
        from torch_geometric.data import Batch

        graphs = [self._graph(s) for s in structures]
        data = Batch.from_data_list(graphs).to(self.device)
        self.model.set_is_batch_data(True)
        with torch.inference_mode():
            data = self.model._preprocess(data)
            for idx, mod in enumerate(self.model._modules.values()):
                data = mod(data)
                if idx == self.layer:
                    break
        if "x" not in data or (self.variant == "invariant" and data["x"].shape[-1] != 480):
            raise EmbedError(f"module {self.layer} gives no 480-d node features for the invariant variant")
        return {"x": data["x"], "edge_embedding": data["edge_embedding"],
                "edge_attr": data["edge_attr"], "edge_index": data["edge_index"],
                "batch": data["batch"], "atomic_numbers": data["atomic_numbers"]}

    def atom_embeddings(self, structures: Sequence[Structure | dict[str, Any]], specie: str | None = None
                        ) -> list[np.ndarray]:
        """Per structure, an (n, dim) float32 array: every atom's embedding, or with ``specie``
        only those atoms' (in site order). Only the rows asked for are aggregated, over their own
        edges: a Li-only screen never builds the (edges x 977) message array of the whole cell."""
        import torch

        if not structures:
            return []
        out = self.forward_layers(structures)
        x = out["x"]
        if self.variant == "invariant":
            x = self._invariant_nodes(x)
            edge = out["edge_embedding"]
        else:
            edge = torch.cat([out["edge_embedding"], out["edge_attr"]], -1)
        batch = out["batch"]
        if specie is None:
            keep = torch.ones(len(x), dtype=torch.bool, device=x.device)
        else:
            from pymatgen.core import Element

            keep = out["atomic_numbers"] == Element(specie).Z
        rows = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
        rows[keep] = torch.arange(int(keep.sum()), device=x.device)
        i, j = out["edge_index"]
        on = keep[i]
        r, jj = rows[i[on]], j[on]
        n = int(keep.sum())
        agg_x = torch.zeros(n, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, r, x[jj])
        agg_e = torch.zeros(n, edge.shape[1], dtype=edge.dtype, device=x.device).index_add_(0, r, edge[on])
        deg = torch.bincount(r, minlength=n).clamp(min=1).to(x.dtype)[:, None]
        emb = torch.cat([x[keep], agg_x / deg, agg_e / deg], -1).float().cpu().numpy()
        counts = np.bincount(batch[keep].cpu().numpy(), minlength=len(structures))
        return np.split(emb, np.cumsum(counts)[:-1])

    def default_batch_atoms(self) -> int:
        """Atoms per forward pass on this embedder's device (``default_batch_atoms``)."""
        return default_batch_atoms(self.device)

    def __call__(self, items: Sequence[tuple[str, Structure]], *, batch_atoms: int | None = None,
                 progress: bool = True, specie: str = "Li") -> list[dict[str, Any]]:
        """Embedding rows (``specie`` atoms only) for (material_id, structure) pairs."""
        from tqdm.auto import tqdm

        batch_atoms = batch_atoms or self.default_batch_atoms()
        rows: list[dict[str, Any]] = []
        batches: list[list[tuple[str, Structure]]] = [[]]
        size = 0
        for item in items:
            if batches[-1] and size + len(item[1]) > batch_atoms:
                batches.append([])
                size = 0
            batches[-1].append(item)
            size += len(item[1])
        bar = tqdm(total=len(items), desc="embed", unit="structure", disable=not progress)
        for batch in batches:
            if not batch:
                continue
            embs = self.atom_embeddings([s for _, s in batch], specie=specie)
            for (mid, s), e in zip(batch, embs, strict=True):
                idx = [k for k, site in enumerate(s) if site.specie.symbol == specie]
                for k, v in zip(idx, e, strict=True):
                    rows.append({"material_id": mid, "atom_index": k, "species": specie,
                                 "embedding": v, "model": self.name, "layer": self.layer,
                                 "variant": self.variant})
            bar.update(len(batch))
        bar.close()
        return rows


def embed_table(
    structures_path: str,
    out_path: str,
    *,
    model: str = "7net-0",
    layer: int = 10,
    variant: str = "full",
    device: str = "auto",
    threads: int = 1,
    batch_atoms: int | None = None,
    progress: bool = True,
) -> int:
    """Workflow entry: embed every structure of a ``structures`` table; returns rows written."""
    from ionscreen.structures import structure_from_row

    mlip_mod.set_threads(threads)
    table = schema.read_table(structures_path, "structures")
    items = [(r.material_id, structure_from_row(r._asdict())) for r in table.itertuples()]
    rows = SevenNetEmbedder(model, layer, variant, device)(items, batch_atoms=batch_atoms, progress=progress)
    schema.write_table(rows, out_path, "embeddings", model=model, layer=layer, variant=variant)
    return len(rows)


def embedder_for(embedding: dict[str, Any], device: str = "auto") -> SevenNetEmbedder:
    """The embedder a trained model needs: its ``ModelMeta.embedding`` (model, layer, variant;
    SevenNet-0, layer 10, full when the model does not say)."""
    return SevenNetEmbedder(embedding.get("model", "7net-0"), int(embedding.get("layer", 10)),
                            embedding.get("variant", "full"), device)


def embeddings_by_material(table: Any) -> dict[str, np.ndarray]:
    """{material_id: (n_li, dim) float32} from an embeddings table (pandas)."""
    out: dict[str, np.ndarray] = {}
    for mid, grp in table.groupby("material_id", sort=False):
        out[str(mid)] = np.stack([np.asarray(v, dtype=np.float32) for v in grp["embedding"]])
    return out
