"""SevenNet structure embeddings (stage ``embed``), docs/method.md section 3.

The forward pass runs SevenNet-0's module sequence up to module index ``layer`` (default 10,
``1_self_interaction_1``: 480 node features = 128x0e+64x1e+32x2e) and stops. With h the node
features and e_ij = [edge_embedding (8 radial Bessel), edge_attr (9 spherical harmonics)] per
directed edge i -> j (i = ``edge_index[0]``), atom i's embedding is the mean over its edges of
concat(h_i, h_j, e_ij) = [h_i, mean_j h_j, mean_j e_ij]: 977 values. This ``full`` variant is the
AML paper's; it is not rotation invariant (l > 0 irreps and harmonics rotate). The ``invariant``
variant (the default) keeps the 128 scalars plus one norm per l > 0 channel (224 per atom) and only
the radial edge part: 224 + 224 + 8 = 456 values, the same for a rotated, translated or re-ordered
copy of a cell to float precision.

``frame`` says in which Cartesian frame the cell is embedded: ``given`` (as the file writes it) or
``standard`` (rotated first to the orientation its lattice parameters define,
``pymatgen.core.Lattice.from_parameters``: c along z, a in the xz plane). ``full`` in the
``standard`` frame no longer depends on a rigid rotation of the file, but still on the choice of
basis vectors (another setting of the same lattice is another frame). ``full`` in the ``given``
frame is the paper's raw variant: opt-in, with a warning (``orientation_invariant``).

Three engines compute the same numbers (``SevenNetEmbedder(engine=...)``):

- ``firstblock`` (default on CPUs for layer 10, SevenNet-0's architecture):
  ``ionscreen.sevennet.firstblock`` writes the modules up to layer 10 out in plain torch from the
  checkpoint's weights, with no sevenn, e3nn or torch_geometric import or model build; equal to
  SevenNet's own modules to float32 rounding and about 4-5x faster than ``fasttp``.
- ``fasttp`` (CPUs, other layers or checkpoints): SevenNet's model as sevenn builds it, with
  its convolution replaced by ``ionscreen.sevennet.fasttp.FastConvolution`` (the same sums regrouped).
- ``e3nn`` (default on GPUs): SevenNet's model exactly as sevenn builds it.

Many structures go through one forward pass as a graph of disjoint graphs (``batch_atoms``
atoms per pass; default 256 on CPU, 8192 on GPU): identical to one-at-a-time results. Batching
pays for tiny cells and on GPUs; on a 2-core CPU it is neutral for 100-atom cells (benchmark).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymatgen.core import Structure

from ionscreen import mlip as mlip_mod
from ionscreen import schema
from ionscreen.embed.graph import (
    DEFAULT_FRAME,
    DEFAULT_VARIANT,
    ENGINES,
    VARIANTS,
    EmbedError,
    default_batch_atoms,
    embedding_dim,
    orientation_invariant,
)
from ionscreen.sevennet.checkpoint import build_model_through, is_sevennet
from ionscreen.sevennet.graph import FRAMES, graph_arrays

log = logging.getLogger(__name__)


class SevenNetEmbedder:
    """Stateful wrapper: the model is loaded once; ``__call__`` embeds a list of structures.

    ``engine`` (see the module docstring): None picks ``firstblock`` on CPUs where the
    checkpoint and layer allow it, ``fasttp`` on other CPU cases and ``e3nn`` on GPUs.
    ``variant`` and ``frame``: see the module docstring; ``full`` in the ``given`` frame warns
    that its numbers change with the cell's orientation."""

    def __init__(
        self,
        model: str = "7net-0",
        layer: int = 10,
        variant: str = DEFAULT_VARIANT,
        device: str = "auto",
        engine: str | None = None,
        frame: str = DEFAULT_FRAME,
    ) -> None:
        if variant not in VARIANTS:
            raise EmbedError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if frame not in FRAMES:
            raise EmbedError(f"frame must be one of {FRAMES}, got {frame!r}")
        if not orientation_invariant(variant, frame):
            log.warning(
                "embedding variant 'full' in the given frame is not rotation invariant: the same crystal "
                "written in another orientation gets other embeddings and predictions (use variant "
                "'invariant', or frame 'standard')"
            )
        if engine is not None and engine not in ENGINES:
            raise EmbedError(f"engine must be one of {ENGINES}, got {engine!r}")
        if not is_sevennet(model):
            raise EmbedError(f"structure embeddings need a SevenNet model, got {model!r}")
        if layer < 0:
            raise EmbedError(f"layer must be >= 0, got {layer}")
        self.device = mlip_mod.resolve_device(device)
        self.layer, self.variant, self.frame, self.name = layer, variant, frame, model
        self.model: Any = None  # SevenNet's own modules (engines fasttp and e3nn)
        self.block: Any = None  # ionscreen.sevennet.firstblock.FirstBlock (engine firstblock)
        chosen = engine or ("e3nn" if self.device != "cpu" else None)
        if chosen in (None, "firstblock"):
            from ionscreen.sevennet.firstblock import load_first_block

            got = load_first_block(model, layer)
            if not isinstance(got, str):
                self.block, chosen = got, "firstblock"
            elif engine == "firstblock":
                raise EmbedError(f"engine 'firstblock' does not apply: {got}")
            else:
                log.warning("embedding engine 'firstblock' does not fit %s (%s): using 'fasttp'", model, got)
                chosen = "fasttp"
        self.engine = engine = chosen
        if self.block is not None:
            self.block.to(self.device)
            self.cutoff = self.block.cutoff
            muls = self.block.muls
        else:
            cp = mlip_mod.sevennet_model(model)
            self.model = build_model_through(cp, layer)
            self.model.eval()
            self.model.to(self.device)
            n_mod = len(self.model._modules)
            if layer >= n_mod:
                raise EmbedError(f"layer must be in 0..{n_mod - 1}, got {layer}")
            self.cutoff = float(cp.config["cutoff"])
            if engine == "fasttp":
                from ionscreen.sevennet.fasttp import accelerate_convolutions

                accelerate_convolutions(self.model, list(self.model._modules)[: layer + 1])
            muls = (128, 64, 32)
        # The invariant variant's node blocks: (offset, multiplicity, dimension) per l.
        self._blocks, off = [], 0
        for deg, mul in enumerate(muls):
            self._blocks.append((off, mul, 2 * deg + 1))
            off += mul * (2 * deg + 1)

    @property
    def fast_convolution(self) -> bool:
        """Whether SevenNet's e3nn convolution is replaced (engines firstblock and fasttp)."""
        return self.engine != "e3nn"

    def _graph(self, s: Structure | dict[str, Any]) -> Any:
        from sevenn.atom_graph_data import AtomGraphData

        return AtomGraphData.from_numpy_dict(s if isinstance(s, dict) else graph_arrays(s, self.cutoff, self.frame))

    def _invariant_nodes(self, x: Any) -> Any:
        """Per atom, the 128 scalars and one norm per l > 0 channel (224 values)."""
        import torch

        out = []
        for off, mul, dim in self._blocks:
            b = x[:, off : off + mul * dim].reshape(len(x), mul, dim)
            out.append(b[..., 0] if dim == 1 else b.norm(dim=-1))
        return torch.cat(out, -1)

    def _forward_first_block(self, structures: Sequence[Structure | dict[str, Any]]) -> dict[str, Any]:
        import torch

        from ionscreen.sevennet.firstblock import batch_graphs

        graphs = [s if isinstance(s, dict) else graph_arrays(s, self.cutoff, self.frame) for s in structures]
        z, idx, vec, sizes = batch_graphs(graphs, self.block.x1.dtype)
        z, idx, vec = z.to(self.device), idx.to(self.device), vec.to(self.device)
        with torch.inference_mode():
            out = self.block(z, idx, vec)
        batch = torch.repeat_interleave(
            torch.arange(len(graphs), device=self.device), torch.from_numpy(sizes).to(self.device)
        )
        return {
            "x": out["x"],
            "edge_embedding": out["edge_embedding"],
            "edge_attr": out["edge_attr"],
            "edge_index": idx,
            "batch": batch,
            "atomic_numbers": z,
        }

    def forward_layers(self, structures: Sequence[Structure | dict[str, Any]]) -> dict[str, Any]:
        """Node features, edge features, edge index and graph index for a batch (torch tensors).
        Each item is a Structure or its ``graph_arrays`` (built elsewhere, e.g. in a reader process)."""
        if self.block is not None:
            return self._forward_first_block(structures)
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
        return {
            "x": data["x"],
            "edge_embedding": data["edge_embedding"],
            "edge_attr": data["edge_attr"],
            "edge_index": data["edge_index"],
            "batch": data["batch"],
            "atomic_numbers": data["atomic_numbers"],
        }

    def atom_embeddings(
        self, structures: Sequence[Structure | dict[str, Any]], specie: str | None = None
    ) -> list[np.ndarray]:
        """Per structure, an (n, dim) float32 array: every atom's embedding, or with ``specie``
        only those atoms' (in site order). Only the rows asked for are aggregated, over their own
        edges: a Li-only screen never builds the (edges x 977) message array of the whole cell."""
        import torch

        from ionscreen.sevennet.firstblock import csr_matrix, csr_rows

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
        # Means over each kept atom's edges: the edge features by index_add, the neighbours'
        # features as one sparse (CSR) x dense product (no (edges x 480) gather), in float64 (their
        # l > 0 parts cancel by symmetry at many sites).
        order, crow = csr_rows(r, n)
        counts = crow.diff()
        agg_e = torch.zeros(n, edge.shape[1], dtype=edge.dtype, device=x.device).index_add_(0, r, edge[on])
        agg_e = agg_e / counts.clamp(min=1).to(x.dtype)[:, None]
        if order is not None:
            r, jj = r[order], jj[order]
        mean_w = (1.0 / counts.clamp(min=1).double()).index_select(0, r)
        agg_x = (csr_matrix(crow, jj, mean_w, (n, len(x))) @ x.double()).to(x.dtype)
        emb = torch.cat([x[keep], agg_x, agg_e], -1).float().cpu().numpy()
        counts = np.bincount(batch[keep].cpu().numpy(), minlength=len(structures))
        return np.split(emb, np.cumsum(counts)[:-1])

    def default_batch_atoms(self) -> int:
        """Atoms per forward pass on this embedder's device (``default_batch_atoms``)."""
        return default_batch_atoms(self.device)

    def __call__(
        self,
        items: Sequence[tuple[str, Structure]],
        *,
        batch_atoms: int | None = None,
        progress: bool = True,
        specie: str = "Li",
    ) -> list[dict[str, Any]]:
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
                    rows.append(
                        {
                            "material_id": mid,
                            "atom_index": k,
                            "species": specie,
                            "embedding": v,
                            "model": self.name,
                            "layer": self.layer,
                            "variant": self.variant,
                            "frame": self.frame,
                        }
                    )
            bar.update(len(batch))
        bar.close()
        return rows


# embed_table arguments that change how fast embeddings are computed, not what they are: the
# workflow's rules leave them out of their params (a job reads them from the config).
EMBED_ENGINE_ONLY = ("device", "batch_atoms", "threads")


def embed_job_settings(config: dict[str, Any]) -> dict[str, Any]:
    """``embed_table``'s keyword arguments from the workflow's config (``embed:``, ``mlip:``)."""
    e = config["embed"]
    return {
        "model": e["model"],
        "layer": e["layer"],
        "variant": e["variant"],
        "frame": e["frame"],
        "batch_atoms": e["batch_atoms"],
        "threads": e["threads"],
        "device": config["mlip"]["device"],
    }


def embed_table(
    structures_path: str,
    out_path: str,
    *,
    model: str = "7net-0",
    layer: int = 10,
    variant: str = DEFAULT_VARIANT,
    frame: str = DEFAULT_FRAME,
    device: str = "auto",
    threads: int = 1,
    batch_atoms: int | None = None,
    progress: bool = True,
) -> int:
    """Workflow entry: embed every structure of a ``structures`` table; returns rows written."""
    from ionscreen.structures.prepare import structure_from_row

    mlip_mod.set_threads(threads)
    table = schema.read_table(structures_path, "structures")
    items = [(r.material_id, structure_from_row(r._asdict())) for r in table.itertuples()]
    rows = SevenNetEmbedder(model, layer, variant, device, frame=frame)(
        items, batch_atoms=batch_atoms, progress=progress
    )
    schema.write_table(
        rows,
        out_path,
        "embeddings",
        model=model,
        layer=layer,
        variant=variant,
        frame=frame,
        dim=embedding_dim(variant),
        rotation_invariant=orientation_invariant(variant, frame),
    )
    return len(rows)


def embedding_settings(embedding: dict[str, Any]) -> tuple[str, int, str, str]:
    """(model, layer, variant, frame) of a ``ModelMeta.embedding`` dict. Models written before
    the frame was recorded embedded the structure as given, and before the variant was recorded
    used ``full``: those are the defaults for a missing key here (not the defaults for new work)."""
    return (
        str(embedding.get("model", "7net-0")),
        int(embedding.get("layer", 10)),
        str(embedding.get("variant", "full")),
        str(embedding.get("frame", "given")),
    )


def embedding_meta_of(table: Any) -> dict[str, Any]:
    """The ``ModelMeta.embedding`` dict (model, layer, variant, frame) of an embeddings table
    (pandas), from its first row; tables from before the frame column embedded as given."""
    first = table.iloc[0]
    frame = first["frame"] if "frame" in table.columns else None
    return {
        "model": str(first["model"]),
        "layer": int(first["layer"]),
        "variant": str(first["variant"]),
        "frame": "given" if frame is None or frame != frame else str(frame),
    }


def embedder_for(embedding: dict[str, Any], device: str = "auto") -> SevenNetEmbedder:
    """The embedder a trained model needs: its ``ModelMeta.embedding`` (``embedding_settings``)."""
    model, layer, variant, frame = embedding_settings(embedding)
    return SevenNetEmbedder(model, layer, variant, device, frame=frame)


def embeddings_by_material(table: Any) -> dict[str, np.ndarray]:
    """{material_id: (n_li, dim) float32} from an embeddings table (pandas)."""
    out: dict[str, np.ndarray] = {}
    for mid, grp in table.groupby("material_id", sort=False):
        out[str(mid)] = np.stack([np.asarray(v, dtype=np.float32) for v in grp["embedding"]])
    return out
