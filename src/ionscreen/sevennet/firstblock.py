"""SevenNet's input and first interaction block, to the embedding layer, in plain torch.

The embedding of docs/method.md section 3 stops at module 10 of SevenNet-0
(``1_self_interaction_1``), after one convolution. That part of the network is small enough to
write out from the checkpoint's weights alone, without sevenn, e3nn or torch_geometric (together
3-5 s of imports and model building before a first structure can be embedded):

- species: one-hot -> ``onehot_to_feature_x`` -> ``0_self_interaction_1`` (node features x1) and
  ``0_self_connection_intro`` (sc). Both depend on the species alone: one table row per species.
- edges: Bessel basis x XPLOR (or polynomial) cutoff of the length (``edge_embedding``, 8 values)
  and the real spherical harmonics of the direction, l <= 2, e3nn's "component" normalisation
  (``edge_attr``, 9 values).
- ``0_convolution``: c_l[n, u, m] = sum over edges e into n of w_l(r_e)[u] x1[src e, u] Y_lm(e),
  divided by the denominator; w is the radial network (8 -> 64 -> 64 -> 384, e3nn's normalised
  SiLU). With scalar inputs e3nn's path coefficients (sqrt(2l + 1) times the 3j symbol
  delta / sqrt(2l + 1)) are 1.
- ``0_self_interaction_2`` (per l a channel mixing), plus sc, the gate (normalised SiLU on 128
  scalars, 96 gates on the 64 l = 1 and 32 l = 2 features), ``1_self_interaction_1``.

Every e3nn linear layer is W / sqrt(fan_in) on the channel axis (its "element" normalisation).

What makes it fast: the weight of an edge depends on the source's species and the edge's length
only, and in a crystal most (species, length) pairs repeat (a few hundred among tens of
thousands of edges). The radial network, the source's features and the channel mixing of
``0_self_interaction_2`` run once per distinct pair (P_l[key] = (w_l x1 / den) W2_l / sqrt(128),
224 + 64 + 32 values), and the edge sum is one sparse (CSR) x dense product per l with rows
(m, atom) and the harmonics as values: 576 multiply-adds per edge, read from a table that stays
in cache, instead of SevenNet's 1152-wide message per edge followed by the mixing.

``FirstBlock`` (through ``check_config`` and the weights' shapes) refuses any checkpoint whose
architecture differs (the embedder then builds SevenNet as sevenn does); ``tests/embed/test_firstblock.py`` checks it against sevenn's own
model, module by module and for whole embeddings.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch

from ionscreen.sevennet import FIRST_BLOCK_LAYER, checkpoint

# The layer this module computes: module 10 of SevenNet's sequence (3 input modules, then 6 per
# interaction block: 1_self_interaction_1 is the second module of block 1).
LAYER = FIRST_BLOCK_LAYER


class UnsupportedCheckpoint(ValueError):
    """The checkpoint's architecture is not the one written out here."""


def _irreps_muls(text: str) -> dict[int, int]:
    """'128x0e+64x1e+32x2e' -> {0: 128, 1: 64, 2: 32}; even parity only."""
    out: dict[int, int] = {}
    for part in text.replace(" ", "").split("+"):
        mul, ir = part.split("x")
        if ir[-1] != "e" or int(ir[:-1]) in out:
            raise UnsupportedCheckpoint(f"irreps {text!r}: only one even entry per l is supported")
        out[int(ir[:-1])] = int(mul)
    return out


@functools.cache
def normalised_silu_constant() -> float:
    """e3nn's ``normalize2mom`` factor for SiLU: 1 / sqrt(E[silu(z)^2]) over the same 10^6
    seeded normal samples (float64) e3nn draws, so the factor is the same number. Computed once
    per process (0.04 s, most of a ``FirstBlock`` build; ``ionscreen.embed.graph.default_engine`` builds one too)."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(1_000_000, generator=gen, dtype=torch.float64)
    cst = torch.nn.functional.silu(z).pow(2).mean().pow(-0.5).item()
    return 1.0 if abs(cst - 1) < 1e-4 else cst


def spherical_harmonics(vec: torch.Tensor) -> torch.Tensor:
    """(E, 3) vectors -> (E, 9) real spherical harmonics l = 0, 1, 2 of their directions, e3nn's
    ordering and "component" normalisation (|Y_l|^2 = 2l + 1); a zero vector gives 0 for l > 0."""
    u = torch.nn.functional.normalize(vec, dim=-1)
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    s3, s5, s15 = math.sqrt(3), math.sqrt(5), math.sqrt(15)
    return torch.stack(
        [
            torch.ones_like(x),
            s3 * x,
            s3 * y,
            s3 * z,
            s15 * x * z,
            s15 * x * y,
            s5 * (y.pow(2) - 0.5 * (x.pow(2) + z.pow(2))),
            s15 * y * z,
            0.5 * s15 * (z.pow(2) - x.pow(2)),
        ],
        dim=-1,
    )


class FirstBlock(torch.nn.Module):
    """SevenNet from atomic numbers and edge vectors to the node features of module 10 (480 per
    atom: 128x0e + 64x1e + 32x2e in e3nn's layout), with the edge features the embedding uses."""

    def __init__(self, config: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        check_config(config)
        f32 = torch.float32

        def linear(name: str, blocks: list[tuple[int, int]]) -> list[torch.Tensor]:
            """e3nn Linear weights of module ``name`` as one (in, out) matrix per instruction, with
            the 1 / sqrt(fan_in) factor folded in."""
            flat = state[f"{name}.linear.weight"].to(f32)
            if flat.numel() != sum(a * b for a, b in blocks) or state[f"{name}.linear.bias"].numel():
                raise UnsupportedCheckpoint(f"{name}: weights of {flat.numel()} values, expected blocks {blocks}")
            out, off = [], 0
            for a, b in blocks:
                out.append(flat[off : off + a * b].view(a, b) / math.sqrt(a))
                off += a * b
            return out

        n_species = int(config["_number_of_species"])
        c0 = _irreps_muls(config["irreps_manual"][0])[0]
        hid = _irreps_muls(config["irreps_manual"][1])  # block 1's input: 128x0e + 64x1e + 32x2e
        self.muls = (hid[0], hid[1], hid[2])
        n_gates = hid[1] + hid[2]
        conv_out = 3 * c0  # 128x0e + 128x1e + 128x2e
        (embed,) = linear("onehot_to_feature_x", [(n_species, c0)])
        (si1,) = linear("0_self_interaction_1", [(c0, c0)])
        (sc,) = linear("0_self_connection_intro", [(c0, hid[0] + n_gates)])
        w2 = linear("0_self_interaction_2", [(c0, hid[0] + n_gates), (c0, hid[1]), (c0, hid[2])])
        w3 = linear("1_self_interaction_1", [(hid[0], hid[0]), (hid[1], hid[1]), (hid[2], hid[2])])
        radial = [state[f"0_convolution.weight_nn.layer{k}.weight"].to(f32) for k in range(3)]
        if radial[-1].shape[1] != conv_out:
            raise UnsupportedCheckpoint(f"radial network gives {radial[-1].shape[1]} weights, expected {conv_out}")
        # Buffers follow the module to its device. Per species: the convolution's input features
        # (x1) and the self-connection (sc).
        tensors = {
            "x1": embed @ si1,
            "sc": embed @ sc,
            "bessel": state["edge_embedding.basis_function.coeffs"].to(f32).reshape(-1),
        }
        tensors.update({f"w2_{deg}": w for deg, w in enumerate(w2)})
        tensors.update({f"w3_{deg}": w for deg, w in enumerate(w3)})
        tensors.update({f"radial_{k}": w / math.sqrt(w.shape[0]) for k, w in enumerate(radial)})
        for name, t in tensors.items():
            self.register_buffer(name, t.contiguous(), persistent=False)
        self.denominator = float(state["0_convolution.denominator"].reshape(-1)[0])
        self.cutoff = float(config["cutoff"])
        cut = config["cutoff_function"]
        self.cutoff_kind = cut["cutoff_function_name"]
        self.cutoff_param = float(cut["cutoff_on"]) if self.cutoff_kind == "XPLOR" else float(cut["poly_cut_p_value"])
        self.silu_cst = normalised_silu_constant()
        # Atomic number -> SevenNet's species index (-1: unknown to the model).
        lookup = torch.full((max(config["_type_map"]) + 1,), -1, dtype=torch.long)
        for z, k in config["_type_map"].items():
            lookup[int(z)] = int(k)
        self.register_buffer("lookup", lookup, persistent=False)

    # The pieces, each a function of tensors (tests compare them with sevenn's modules).
    def species_index(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        if int(atomic_numbers.max()) >= len(self.lookup) or bool((self.lookup[atomic_numbers] < 0).any()):
            bad = sorted({int(z) for z in atomic_numbers if int(z) >= len(self.lookup) or self.lookup[int(z)] < 0})
            raise ValueError(f"atomic numbers {bad} are unknown to the model")
        return self.lookup[atomic_numbers]

    def edge_embedding(self, length: torch.Tensor) -> torch.Tensor:
        """(E,) lengths (A) -> (E, 8): Bessel basis times the cutoff function."""
        r = length.unsqueeze(-1)
        basis = (2.0 / self.cutoff) * torch.sin(self.bessel * r) / r
        if self.cutoff_kind == "XPLOR":
            r_sq, on_sq, cut_sq = length * length, self.cutoff_param**2, self.cutoff**2
            f = torch.where(
                length < self.cutoff_param,
                1.0,
                (cut_sq - r_sq) ** 2 * (cut_sq + 2 * r_sq - 3 * on_sq) / (cut_sq - on_sq) ** 3,
            )
        else:
            p, x = self.cutoff_param, length / self.cutoff
            f = 1 - (p + 1) * (p + 2) / 2 * x.pow(p) + p * (p + 2) * x.pow(p + 1) - p * (p + 1) / 2 * x.pow(p + 2)
        return basis * f.unsqueeze(-1)

    def radial_weights(self, edge_embedding: torch.Tensor) -> torch.Tensor:
        """(K, 8) -> (K, 384): the convolution's radial network."""
        h = torch.nn.functional.silu(edge_embedding @ self.radial_0) * self.silu_cst
        h = torch.nn.functional.silu(h @ self.radial_1) * self.silu_cst
        return h @ self.radial_2

    def forward(
        self, atomic_numbers: torch.Tensor, edge_index: torch.Tensor, edge_vec: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Node features ``x`` (N, 480) at module 10 and ``edge_embedding`` (E, 8), ``edge_attr``
        (E, 9), ``edge_length`` (E,). ``edge_index[0]`` is the atom an edge belongs to (it
        receives the message), ``edge_index[1]`` its neighbour, ``edge_vec`` = r_neighbour - r_atom
        (A), as in SevenNet's graphs. Edges sorted by ``edge_index[0]`` (matscipy's neighbour
        lists, and concatenations of them with offset indices) skip a sort."""
        spec = self.species_index(atomic_numbers)
        dst, src = edge_index[0], edge_index[1]
        n, n_edges = len(spec), len(dst)
        length = torch.linalg.norm(edge_vec, dim=-1)
        sh = spherical_harmonics(edge_vec)
        # The edge embedding once per distinct length, and one key per distinct (source species,
        # length): the edge weight depends on nothing else.
        uniq_len, inv_len = torch.unique(length, return_inverse=True)
        emb_uniq = self.edge_embedding(uniq_len)
        emb = emb_uniq.index_select(0, inv_len)
        keys, key = torch.unique(inv_len * len(self.x1) + spec[src], return_inverse=True)
        key_len, key_spec = keys // len(self.x1), keys % len(self.x1)
        w = self.radial_weights(emb_uniq.index_select(0, key_len))
        x1 = self.x1.index_select(0, key_spec)
        c0 = len(self.x1[0])
        w2 = (self.w2_0, self.w2_1, self.w2_2)
        # The edge sums in float64: for l > 0 they cancel to zero by symmetry at many sites, and
        # float32 sums leave rounding noise there (about 4e-8) that a model standardising such a
        # column by its small training spread would see (10-15 % of this forward's time).
        tables = [
            ((w[:, c0 * deg : c0 * (deg + 1)] * x1) / self.denominator).double() @ w2[deg].double() for deg in range(3)
        ]
        # Per l, a CSR matrix with rows (m, atom), columns keys, values Y_lm.
        order, crow = csr_rows(dst, n)
        sh_rows, key_rows = (sh, key) if order is None else (sh[order], key[order])
        y = []
        for deg, table in enumerate(tables):
            d = 2 * deg + 1
            rows = torch.cat([crow[:-1] + m * n_edges for m in range(d)] + [crow[-1:] + (d - 1) * n_edges])
            vals = sh_rows[:, deg * deg : deg * deg + d].T.reshape(-1).double()
            a = csr_matrix(rows, key_rows.repeat(d), vals, (d * n, len(table)))
            y.append((a @ table).to(x1.dtype).view(d, n, -1).permute(1, 2, 0))  # (atom, channel, m)
        s0 = y[0][..., 0] + self.sc.index_select(0, spec)
        mul0 = self.muls[0]
        scalars = torch.nn.functional.silu(s0[:, :mul0]) * self.silu_cst
        gates = torch.nn.functional.silu(s0[:, mul0:]) * self.silu_cst
        g1, g2 = gates[:, : self.muls[1]], gates[:, self.muls[1] :]
        h0 = scalars @ self.w3_0
        h1 = torch.einsum("num,uw->nwm", y[1] * g1.unsqueeze(-1), self.w3_1)
        h2 = torch.einsum("num,uw->nwm", y[2] * g2.unsqueeze(-1), self.w3_2)
        x = torch.cat([h0, h1.reshape(n, -1), h2.reshape(n, -1)], -1)
        return {"x": x, "edge_embedding": emb, "edge_attr": sh, "edge_length": length}


def check_config(config: dict[str, Any]) -> None:
    """UnsupportedCheckpoint unless the checkpoint is the architecture ``FirstBlock`` writes out
    (SevenNet-0's: nequip interaction, linear self-connection, SiLU gates, l <= 2, no parity,
    no modalities, Bessel radial basis, radial network 8 -> 64 -> 64)."""
    want = {
        "interaction_type": "nequip",
        "self_connection_type": "linear",
        "lmax": 2,
        "is_parity": False,
        "_normalize_sph": True,
        "use_bias_in_linear": False,
        "act_radial": "silu",
        "weight_nn_hidden_neurons": [64, 64],
    }
    for k, v in want.items():
        if config.get(k) != v:
            raise UnsupportedCheckpoint(f"{k} = {config.get(k)!r}, written out for {v!r}")
    if dict(config.get("act_gate", {})).get("e") != "silu" or dict(config.get("act_scalar", {})).get("e") != "silu":
        raise UnsupportedCheckpoint("gate activations other than SiLU")
    if config.get("use_modality") or config.get("_modal_map"):
        raise UnsupportedCheckpoint("multi-modal checkpoints")
    rb = config.get("radial_basis", {})
    if rb.get("radial_basis_name") != "bessel":
        raise UnsupportedCheckpoint(f"radial basis {rb!r}")
    if config.get("cutoff_function", {}).get("cutoff_function_name") not in ("XPLOR", "poly_cut"):
        raise UnsupportedCheckpoint(f"cutoff function {config.get('cutoff_function')!r}")
    manual = config.get("irreps_manual")
    if (
        not isinstance(manual, list)
        or len(manual) < 2
        or set(_irreps_muls(manual[0])) != {0}
        or set(_irreps_muls(manual[1])) != {0, 1, 2}
    ):
        raise UnsupportedCheckpoint(f"irreps {manual!r}")


def csr_rows(rows: torch.Tensor, n: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """For entries with row indices ``rows`` in a matrix of ``n`` rows: the permutation that puts
    them in row order (None when they are already: matscipy's edges are) and the CSR row pointer
    (n + 1 offsets)."""
    order = None
    if len(rows) and bool((rows[1:] < rows[:-1]).any()):
        order = torch.argsort(rows, stable=True)
        rows = rows[order]
    crow = torch.zeros(n + 1, dtype=torch.long, device=rows.device)
    torch.cumsum(torch.bincount(rows, minlength=n), 0, out=crow[1:])
    return order, crow


def csr_matrix(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A torch CSR matrix (rows by ``crow``; entries of one row may repeat a column: products sum
    them), without torch's beta-feature warning for sparse CSR tensors."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def batch_graphs(
    graphs: list[dict[str, Any]], dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """One graph of disjoint graphs from ``ionscreen.sevennet.graph.graph_arrays`` dicts: atomic numbers (N,),
    edge index (2, E) with offsets, edge vectors (E, 3) in ``dtype`` (float32, as SevenNet's
    graphs; float64 for a ``FirstBlock.double()``), and atoms per graph."""
    sizes = np.array([len(g["atomic_numbers"]) for g in graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    z = torch.from_numpy(np.concatenate([g["atomic_numbers"] for g in graphs]).astype(np.int64))
    idx = torch.from_numpy(np.concatenate([g["edge_index"] + o for g, o in zip(graphs, offsets, strict=True)], axis=1))
    vec = torch.from_numpy(np.concatenate([g["edge_vec"] for g in graphs])).to(dtype)
    return z, idx, vec, sizes


def load_first_block(model: str, layer: int) -> Any:
    """``FirstBlock`` for ``model`` at ``layer`` (on the CPU), or a string
    saying why that engine does not apply: the layer, the checkpoint's configuration or its
    weights' shapes. Builds no sevenn or e3nn module."""
    if layer != FIRST_BLOCK_LAYER:
        return f"layer {layer} (it computes layer {FIRST_BLOCK_LAYER})"
    cp = checkpoint.checkpoint_dict(model) if checkpoint.is_sevennet(model) else None
    if cp is None:
        return f"no checkpoint file for {model!r}"
    try:
        return FirstBlock(cp["config"], cp["model_state_dict"])
    except UnsupportedCheckpoint as exc:
        return str(exc)
    except KeyError as exc:
        return f"the weights lack {exc}"
