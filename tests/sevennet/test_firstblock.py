"""ionscreen.sevennet.firstblock: SevenNet-0 to module 10 in plain torch, against sevenn's own modules."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from ionscreen.structures.prepare import read_structure
from tests.conftest import REPO, li3n

pytestmark = pytest.mark.slow


def _cells():
    """Small real cells: a supercell, an oxide, an olivine with a transition metal, and an
    ordered OBELiX CIF (a halide with several species)."""
    return [
        li3n() * (2, 2, 2),
        read_structure(REPO / "resources/structures/train/Li2O.json"),
        read_structure(REPO / "resources/structures/candidates/LiFePO4.json"),
        read_structure(REPO / "resources/structures/train/obelix-11b.cif"),
    ]


@pytest.fixture(scope="module")
def block():
    from ionscreen.sevennet import checkpoint
    from ionscreen.sevennet.firstblock import FirstBlock

    cp = checkpoint.checkpoint_dict("7net-0")
    return FirstBlock(cp["config"], cp["model_state_dict"])


@pytest.fixture(scope="module")
def reference():
    """sevenn's model (built by sevenn, e3nn's own convolution) on one batched graph of the cells:
    its node features after module 10 and its edge features, with the graphs it ran on."""
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.sevennet.graph import graph_arrays

    stock = SevenNetEmbedder(device="cpu", engine="e3nn")
    graphs = [graph_arrays(s, 5.0) for s in _cells()]
    return graphs, stock.forward_layers(graphs)


def test_layer_10_equals_sevenns_modules(block, reference):
    from ionscreen.sevennet.firstblock import batch_graphs

    graphs, ref = reference
    z, idx, vec, sizes = batch_graphs(graphs)
    assert list(sizes) == [len(g["atomic_numbers"]) for g in graphs]
    with torch.inference_mode():
        got = block(z, idx, vec)
    assert got["x"].shape == ref["x"].shape == (int(sizes.sum()), 480)
    torch.testing.assert_close(got["edge_embedding"], ref["edge_embedding"], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got["edge_attr"], ref["edge_attr"], rtol=1e-6, atol=1e-6)
    # every irrep block: 128 scalars, 64 vectors, 32 rank-2 (real features, not zeros)
    for a, b in ((0, 128), (128, 320), (320, 480)):
        assert float(ref["x"][:, a:b].abs().max()) > 0.1
        torch.testing.assert_close(got["x"][:, a:b], ref["x"][:, a:b], rtol=1e-5, atol=1e-5)


def test_float32_is_float64_to_rounding(block, reference):
    """``FirstBlock.double()`` evaluates everything in float64 (the precision reference of
    benchmarks/embed_precision.py); float32 with float64 edge sums stays within rounding of it,
    as close as sevenn's own float32 model."""
    import copy

    from ionscreen.sevennet.firstblock import batch_graphs

    graphs, ref = reference
    exact = copy.deepcopy(block).double()
    with torch.inference_mode():
        x64 = exact(*batch_graphs(graphs, torch.float64)[:3])["x"]
        x32 = block(*batch_graphs(graphs)[:3])["x"]
    assert x64.dtype == torch.float64 and x32.dtype == torch.float32
    err32, err_sevenn = float((x32.double() - x64).abs().max()), float((ref["x"].double() - x64).abs().max())
    assert err32 < 3e-6 and err_sevenn < 3e-6


def test_edges_in_any_order_give_the_same_features(block, reference):
    from ionscreen.sevennet.firstblock import batch_graphs

    z, idx, vec, _ = batch_graphs(reference[0])
    perm = torch.randperm(idx.shape[1], generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a, b = block(z, idx, vec), block(z, idx[:, perm], vec[perm])
    torch.testing.assert_close(b["x"], a["x"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b["edge_attr"], a["edge_attr"][perm])


def test_spherical_harmonics_and_silu_normalisation_equal_e3nn():
    from e3nn import o3
    from e3nn.math import normalize2mom

    from ionscreen.sevennet.firstblock import normalised_silu_constant, spherical_harmonics

    vec = torch.randn(500, 3, generator=torch.Generator().manual_seed(1)) * 3
    vec[0] = 0.0  # a zero vector: e3nn gives 0 for l > 0, as here
    ref = o3.spherical_harmonics([0, 1, 2], vec, normalize=True, normalization="component")
    torch.testing.assert_close(spherical_harmonics(vec), ref, rtol=1e-6, atol=1e-6)
    assert normalised_silu_constant() == normalize2mom(torch.nn.functional.silu).cst
    assert abs(normalised_silu_constant() - 1.679) < 1e-3


def test_other_architectures_are_refused_and_embed_through_sevenn():
    from ionscreen.embed.graph import EmbedError, default_engine
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.sevennet import checkpoint
    from ionscreen.sevennet.firstblock import FirstBlock, UnsupportedCheckpoint

    l3i5 = checkpoint.checkpoint_dict("7net-l3i5")
    with pytest.raises(UnsupportedCheckpoint, match="lmax"):
        FirstBlock(l3i5["config"], l3i5["model_state_dict"])
    cp = checkpoint.checkpoint_dict("7net-0")
    for key, value in (
        ("self_connection_type", "nequip"),
        ("interaction_type", "other"),
        ("act_gate", {"e": "tanh", "o": "tanh"}),
        ("weight_nn_hidden_neurons", [32, 32]),
    ):
        with pytest.raises(UnsupportedCheckpoint):
            FirstBlock({**cp["config"], key: value}, cp["model_state_dict"])
    with pytest.raises(UnsupportedCheckpoint, match="weights"):  # a state that does not fit
        FirstBlock(cp["config"], {**cp["model_state_dict"], "0_self_interaction_2.linear.weight": torch.zeros(7)})
    assert default_engine("7net-0", 10, "cpu") == "firstblock"
    assert default_engine("7net-0", 9, "cpu") == "fasttp" and default_engine("7net-0", 10, "cuda") == "e3nn"
    assert SevenNetEmbedder("7net-l3i5", device="cpu").engine == "fasttp"
    with pytest.raises(EmbedError, match="layer 9"):
        SevenNetEmbedder(layer=9, device="cpu", engine="firstblock")


def test_weights_that_do_not_fit_choose_fasttp_everywhere(monkeypatch):
    """A checkpoint whose configuration fits but whose weights do not: ``default_engine`` (which
    sizes the Screener's readers) and the embedder take the same engine."""
    from ionscreen.embed.graph import EmbedError, default_engine
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.sevennet import checkpoint
    from ionscreen.sevennet.firstblock import load_first_block

    cp = checkpoint.checkpoint_dict("7net-0")
    bad = {**cp, "model_state_dict": {**cp["model_state_dict"], "1_self_interaction_1.linear.weight": torch.zeros(5)}}
    monkeypatch.setattr(checkpoint, "checkpoint_dict", lambda name: bad)
    assert "1_self_interaction_1: weights of 5 values" in load_first_block("7net-0", 10)
    assert default_engine("7net-0", 10, "cpu") == "fasttp"
    assert SevenNetEmbedder("7net-0", device="cpu").engine == "fasttp"
    with pytest.raises(EmbedError, match="weights of 5 values"):
        SevenNetEmbedder("7net-0", device="cpu", engine="firstblock")
    missing = {
        **cp,
        "model_state_dict": {
            k: v for k, v in cp["model_state_dict"].items() if not k.startswith("0_convolution.weight_nn")
        },
    }
    monkeypatch.setattr(checkpoint, "checkpoint_dict", lambda name: missing)
    assert "lack" in load_first_block("7net-0", 10) and default_engine("7net-0", 10, "cpu") == "fasttp"


def test_unknown_atomic_numbers_are_named(block):
    z = torch.tensor([3, 118])
    with pytest.raises(ValueError, match=r"\[118\] are unknown"):
        block(z, torch.tensor([[0, 1], [1, 0]]), torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]]))


@pytest.mark.parametrize("variant", ["full", "invariant"])
def test_embedder_default_engine_gives_sevenns_embeddings(variant):
    from ionscreen.embed.structure import SevenNetEmbedder

    cells = _cells()
    fast = SevenNetEmbedder(variant=variant, device="cpu")
    stock = SevenNetEmbedder(variant=variant, device="cpu", engine="e3nn")
    assert fast.engine == "firstblock" and fast.model is None and stock.engine == "e3nn"
    for specie in (None, "Li"):
        for a, b in zip(
            fast.atom_embeddings(cells, specie=specie), stock.atom_embeddings(cells, specie=specie), strict=True
        ):
            assert a.shape == b.shape and a.shape[1] == {"full": 977, "invariant": 456}[variant]
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_embedding_needs_neither_e3nn_modules_nor_torch_geometric():
    """The point of the module: no e3nn.o3, sevenn model code or torch_geometric is imported (3-5 s)."""
    code = (
        "import sys, warnings; warnings.simplefilter('ignore')\n"
        "from ionscreen.embed.structure import SevenNetEmbedder\n"
        "from ionscreen.structures.prepare import read_structure\n"
        f"s = read_structure({str(REPO / 'resources/structures/candidates/LiBr.json')!r})\n"
        "e = SevenNetEmbedder(device='cpu')\n"
        "assert e.engine == 'firstblock' and e.atom_embeddings([s], specie='Li')[0].shape == (1, 456)\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('e3nn.o3', 'e3nn.nn', 'torch_geometric', "
        "'sevenn.model_build', 'sevenn.nn.convolution')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
