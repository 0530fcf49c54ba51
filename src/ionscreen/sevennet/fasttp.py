"""A faster, equal replacement for SevenNet's convolution on CPUs (used by the embedder).

SevenNet's ``IrrepsConvolution`` multiplies each neighbour's node features x (irreps
``mul x l1``) with the edge's spherical harmonics Y (``1 x l2``) into outputs ``mul x l3``, one
weight per (edge, path p, channel u) from the radial network ("uvu" paths), and sums the
messages over the edges into each atom:

    out_p[n, u, k] = sum_{e -> n} a_p w_p[e, u] sum_ij x[src e, u, i] Y[e, j] C_p[i, j, k]

with C_p the Wigner 3j symbol of (l1, l2, l3) and a_p e3nn's path normalisation. e3nn's
generated code builds an (edge x u x i x j) outer product per path, contracts it with C_p and
concatenates 15 pieces in the (u, k) layout, where k (1, 3 or 5 values) is the fastest index:
on a CPU that is most of an embedding's time. Here the same sums run in another order:

- the radial network runs once per distinct edge length (the weights depend on the length
  alone; in a crystal most lengths repeat: 566 among 27,390 edges in a batch of OBELiX cells);
- per edge, M[e, i, (p, k)] = sum_j Y[e, j] a_p C_p[i, j, k] for all paths of one first input
  at once (one small matmul);
- per path, z[(e, i), u] = x[src e, u, i] w_p[e, u], channels last, so the weights multiply
  whole vectors of channels;
- the edge sum is one sparse x dense product, out_p[(n, k), u] = sum_(e, i) A[(n, k), (e, i)]
  z[(e, i), u] with A = M_p placed at the rows of each edge's atom n (no per-edge messages of
  all 15 paths are ever stored), then transposed into e3nn's (u, k) layout per atom.

The result equals e3nn's to float32 rounding (tests/md/test_fasttp.py: real crystal graphs, every
kind of input irrep, edges in any order, the whole embedding). ``FastConvolution.from_sevenn``
refuses any convolution whose instructions are not all weighted "uvu" paths with a
multiplicity-1 filter and per-edge weights.
"""

from __future__ import annotations

from typing import Any

import torch


class FastConvolution(torch.nn.Module):
    """Drop-in for a SevenNet ``IrrepsConvolution`` (same ``forward(data) -> data``, same
    radial network and denominator; not for the parallel/LAMMPS variant)."""

    def __init__(self, conv: Any, groups: list[dict[str, Any]], coeffs: list[torch.Tensor], dim_out: int) -> None:
        super().__init__()
        self.weight_nn = conv.weight_nn
        self.denominator = conv.denominator
        self.key_x, self.key_filter = conv.key_x, conv.key_filter
        self.key_weight_input, self.key_edge_idx = conv.key_weight_input, conv.key_edge_idx
        self.groups, self.dim_out = groups, dim_out
        for g, c in enumerate(coeffs):  # buffers follow the module to its device
            self.register_buffer(f"_coeff_{g}", c, persistent=False)

    @classmethod
    def from_sevenn(cls, conv: Any) -> FastConvolution:
        """Build from a SevenNet ``IrrepsConvolution``; ValueError for what it does not cover."""
        from e3nn.o3 import wigner_3j

        tp = conv.convolution
        if getattr(conv, "is_parallel", False):
            raise ValueError("the parallel (LAMMPS) convolution is not supported")
        if getattr(tp, "shared_weights", True) or getattr(tp, "internal_weights", True):
            raise ValueError("only per-edge (unshared, external) weights are supported")
        in1, in2, out = tp.irreps_in1, tp.irreps_in2, tp.irreps_out
        if any(mul != 1 for mul, _ in in2):
            raise ValueError(f"the filter must have multiplicity 1, got {in2}")
        s1, s2, so = in1.slices(), in2.slices(), out.slices()
        by_input: dict[int, list[Any]] = {}
        offset, seen = 0, set()
        for ins in tp.instructions:
            if ins.connection_mode != "uvu" or not ins.has_weight or ins.i_out in seen:
                raise ValueError(f"unsupported instruction {ins}")
            seen.add(ins.i_out)
            n = int(torch.Size(ins.path_shape).numel())
            by_input.setdefault(ins.i_in1, []).append((ins, offset, n))
            offset += n
        if offset != tp.weight_numel or len(seen) != len(out):
            raise ValueError("weights or outputs not covered by the instructions")
        groups, coeffs = [], []
        for b, paths in sorted(by_input.items()):
            mul, ir1 = in1[b]
            k_total = sum(out[ins.i_out].ir.dim for ins, _, _ in paths)
            coeff = torch.zeros(in2.dim, ir1.dim, k_total)  # (j over the whole filter, i, (p, k))
            ps, k = [], 0
            for ins, w_off, n in paths:
                ir2, ir3 = in2[ins.i_in2].ir, out[ins.i_out].ir
                c = ins.path_weight * wigner_3j(ir1.l, ir2.l, ir3.l).to(torch.get_default_dtype())
                coeff[s2[ins.i_in2], :, k : k + ir3.dim] = c.permute(1, 0, 2)
                ps.append(
                    {"k": (k, k + ir3.dim), "w": (w_off, w_off + n), "out": (so[ins.i_out].start, so[ins.i_out].stop)}
                )
                k += ir3.dim
            groups.append({"x": (s1[b].start, s1[b].stop), "mul": mul, "d1": ir1.dim, "k_total": k_total, "paths": ps})
            coeffs.append(coeff.reshape(in2.dim, -1))
        return cls(conv, groups, coeffs, out.dim)

    def forward(self, data: Any) -> Any:
        x = data[self.key_x]
        edge_src, edge_dst = data[self.key_edge_idx][1], data[self.key_edge_idx][0]
        y, emb = data[self.key_filter], data[self.key_weight_input]
        n_nodes, n_edges = len(x), len(edge_dst)
        # The radial network depends on the edge length alone; in a crystal most lengths repeat
        # (reverse edges, symmetry images): it runs once per distinct length.
        length = data["edge_length"] if "edge_length" in data else None
        if length is not None and len(length) == n_edges:
            uniq, inv = torch.unique(length, return_inverse=True)
            first = torch.full((len(uniq),), n_edges, dtype=torch.long, device=x.device)
            first.scatter_reduce_(0, inv, torch.arange(n_edges, device=x.device), reduce="amin")
            weight = self.weight_nn(emb.index_select(0, first)).index_select(0, inv)
        else:
            weight = self.weight_nn(emb)
        out = x.new_empty(n_nodes, self.dim_out)
        patterns: dict[tuple[int, int], torch.Tensor] = {}
        for g, grp in enumerate(self.groups):
            mul, d1, kt, paths = grp["mul"], grp["d1"], grp["k_total"], grp["paths"]
            a, b = grp["x"]
            xg = x[:, a:b].view(n_nodes, mul, d1).transpose(1, 2).reshape(n_nodes, d1 * mul).index_select(0, edge_src)
            xg = xg.view(n_edges, d1, mul)  # (e, i, u)
            m = (y @ getattr(self, f"_coeff_{g}")).view(n_edges, d1, kt)  # (e, i, (p, k))
            for p in paths:
                (ka, kb), (wa, wb), (oa, ob) = p["k"], p["w"], p["out"]
                d3 = kb - ka
                z = (xg * weight[:, wa:wb].unsqueeze(1)).view(n_edges * d1, mul)  # rows (e, i)
                # The edge sum as one sparse x dense product: row (atom n, k), column (edge e, i)
                # holds sum_j Y[e, j] a_p C_p[i, j, k] for the edges e into n.
                key = (d1, d3)
                if key not in patterns:
                    rows = edge_dst.view(-1, 1, 1) * d3 + torch.arange(d3, device=x.device).view(1, 1, d3)
                    cols = torch.arange(n_edges, device=x.device).view(-1, 1, 1) * d1 + torch.arange(
                        d1, device=x.device
                    ).view(1, d1, 1)
                    patterns[key] = torch.stack(
                        [rows.expand(n_edges, d1, d3).reshape(-1), cols.expand(n_edges, d1, d3).reshape(-1)]
                    )
                a_mat = torch.sparse_coo_tensor(
                    patterns[key],
                    m[:, :, ka:kb].reshape(-1),
                    (n_nodes * d3, n_edges * d1),
                    is_coalesced=False,
                    check_invariants=False,
                )
                msg = torch.sparse.mm(a_mat, z).view(n_nodes, d3, mul)
                out[:, oa:ob].view(n_nodes, mul, d3).copy_(msg.transpose(1, 2))
        data[self.key_x] = out.div(self.denominator)
        return data


def accelerate_convolutions(model: torch.nn.Module, names: list[str] | None = None) -> int:
    """Swap SevenNet convolution modules (all, or those in ``names``) for ``FastConvolution``
    in place, on the device of their radial network; returns how many were swapped."""
    swapped = 0
    for name, mod in list(model._modules.items()):
        if (names is not None and name not in names) or type(mod).__name__ != "IrrepsConvolution":
            continue
        device = next(mod.weight_nn.parameters()).device
        model._modules[name] = FastConvolution.from_sevenn(mod).to(device)
        swapped += 1
    return swapped


class DenseConvolution(FastConvolution):
    """``FastConvolution``'s regrouped sums in dense tensors, for MD: energies and forces.

    MD needs the gradient of the energy with respect to every edge vector, and an edge's length
    repeats nowhere in a moving crystal, so neither the radial network's sharing nor the sparse
    product (whose backward through sparse values is slow) pays off there. Per first input (the
    ``mul x l1`` features of one l1), i over 2 l1 + 1, (p, k) over its paths' outputs:

        t[e, u, (p, k)] = sum_i x[src e, u, i] M[e, i, (p, k)]     (one batched matmul)
        m[e, u, (p, k)] = t[e, u, (p, k)] w[e, p, u]               (one multiply)

    each input's messages are summed into their atoms with one ``index_add_``, and the
    (atoms x features) sums are put in e3nn's (u, k) output layout by one column permutation.
    Every operation is a plain torch operation, so autograd gives the edge-vector gradient the
    forces need. Equal to e3nn's convolution to float32 rounding (tests/md/test_fasttp.py); with
    its backward about 1.7x faster than e3nn's on one CPU thread (benchmarks/md_throughput.py).
    """

    def __init__(self, conv: Any, groups: list[dict[str, Any]], coeffs: list[torch.Tensor], dim_out: int) -> None:
        super().__init__(conv, groups, coeffs, dim_out)
        perm = torch.empty(dim_out, dtype=torch.long)
        col = 0
        for g, grp in enumerate(groups):
            mul, kt = grp["mul"], grp["k_total"]
            widx = torch.empty(mul, kt, dtype=torch.long)  # radial-output column of (u, (p, k))
            for p in grp["paths"]:
                (ka, kb), (wa, _), (oa, _) = p["k"], p["w"], p["out"]
                d3 = kb - ka
                widx[:, ka:kb] = (wa + torch.arange(mul)).view(mul, 1)
                u, k = torch.meshgrid(torch.arange(mul), torch.arange(d3), indexing="ij")
                perm[oa + u * d3 + k] = col + u * kt + ka + k
            self.register_buffer(f"_widx_{g}", widx.reshape(-1), persistent=False)
            col += mul * kt
        self.register_buffer("_perm", perm, persistent=False)

    def forward(self, data: Any) -> Any:
        x = data[self.key_x]
        edge_src, edge_dst = data[self.key_edge_idx][1], data[self.key_edge_idx][0]
        y, weight = data[self.key_filter], self.weight_nn(data[self.key_weight_input])
        n_nodes, n_edges = len(x), len(edge_dst)
        sums = []
        for g, grp in enumerate(self.groups):
            mul, d1, kt = grp["mul"], grp["d1"], grp["k_total"]
            a, b = grp["x"]
            xs = x[:, a:b].reshape(n_nodes, mul, d1).index_select(0, edge_src)  # (e, u, i)
            m = (y @ getattr(self, f"_coeff_{g}")).view(n_edges, d1, kt)  # (e, i, (p, k))
            w = weight.index_select(1, getattr(self, f"_widx_{g}"))  # (e, u * (p, k))
            msg = torch.bmm(xs, m).reshape(n_edges, mul * kt) * w
            sums.append(msg.new_zeros(n_nodes, mul * kt).index_add_(0, edge_dst, msg))
        data[self.key_x] = torch.cat(sums, dim=1).index_select(1, self._perm).div(self.denominator)
        return data
