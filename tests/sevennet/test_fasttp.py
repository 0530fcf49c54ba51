"""ionscreen.sevennet.fasttp: the regrouped SevenNet convolution against e3nn's, on real crystal graphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ionscreen.structures.prepare import read_structure
from tests.conftest import REPO, li3n

pytestmark = pytest.mark.slow


def _inputs_of_each_convolution(structures):
    """(stock SevenNet-0 model, {convolution name: its input data}) for one batched graph."""
    from torch_geometric.data import Batch

    from ionscreen import mlip
    from ionscreen.embed.structure import SevenNetEmbedder

    stock = SevenNetEmbedder(device="cpu", engine="e3nn")
    stock.model = mlip.sevennet_model("7net-0").build_model().eval()  # every block, not only those to layer 10
    data = Batch.from_data_list([stock._graph(s) for s in structures])
    stock.model.set_is_batch_data(True)
    inputs = {}
    with torch.inference_mode():
        data = stock.model._preprocess(data)
        for name, mod in stock.model._modules.items():
            if name.endswith("_convolution"):
                inputs[name] = data.clone()
            if name == "2_convolution":
                break
            data = mod(data)
    return stock.model, inputs


@pytest.fixture(scope="module")
def real_batch():
    return _inputs_of_each_convolution(
        [
            li3n() * (2, 2, 2),
            read_structure(REPO / "resources/structures/train/Li2O.json"),
            read_structure(REPO / "resources/structures/candidates/LiFePO4.json"),
        ]
    )


@pytest.mark.parametrize("kind", ["FastConvolution", "DenseConvolution"])
@pytest.mark.parametrize("name", ["0_convolution", "1_convolution", "2_convolution"])
def test_equals_e3nn_on_a_real_batch(real_batch, name, kind):
    """Scalar-only input (layer 0) and the full 128x0e+64x1e+32x2e input (layers 1, 2)."""
    from ionscreen.sevennet import fasttp

    model, inputs = real_batch
    conv = model._modules[name]
    with torch.inference_mode():
        ref = conv(inputs[name].clone())["x"]
        got = getattr(fasttp, kind).from_sevenn(conv)(inputs[name].clone())["x"]
    assert got.shape == ref.shape == (len(inputs[name]["x"]), conv.convolution.irreps_out.dim)
    assert float(ref.abs().max()) > 0.1  # real messages, not zeros
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_edge_order_and_missing_lengths_do_not_matter(real_batch):
    """Edges in any order (the sparse sum does not need them sorted) and without ``edge_length``
    (the radial network then runs on every edge): the same messages."""
    from ionscreen.sevennet.fasttp import FastConvolution

    model, inputs = real_batch
    conv = model._modules["1_convolution"]
    data = inputs["1_convolution"].clone()
    with torch.inference_mode():
        ref = conv(data.clone())["x"]
        perm = torch.randperm(data["edge_index"].shape[1], generator=torch.Generator().manual_seed(0))
        shuffled = data.clone()
        for key in ("edge_attr", "edge_embedding", "edge_length", "edge_vec"):
            shuffled[key] = data[key][perm]
        shuffled["edge_index"] = data["edge_index"][:, perm]
        del shuffled["edge_length"]
        got = FastConvolution.from_sevenn(conv)(shuffled)["x"]
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_refuses_what_it_does_not_compute():
    from e3nn import o3

    from ionscreen.sevennet.fasttp import FastConvolution

    class Conv:  # a convolution whose tensor product shares its weights ('uvw' paths)
        is_parallel = False
        convolution = o3.FullyConnectedTensorProduct("4x0e+2x1e", "1x0e+1x1e", "4x0e+2x1e")

    with pytest.raises(ValueError, match="per-edge"):
        FastConvolution.from_sevenn(Conv())


def test_embedder_engine_fasttp_gives_the_stock_embeddings():
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.sevennet.fasttp import FastConvolution

    structures = [read_structure(REPO / "resources/structures/candidates" / f) for f in ("LiBr.json", "LiFePO4.json")]
    for variant in ("full", "invariant"):
        fast = SevenNetEmbedder(variant=variant, device="cpu", engine="fasttp")
        stock = SevenNetEmbedder(variant=variant, device="cpu", engine="e3nn")
        assert fast.fast_convolution and isinstance(fast.model._modules["0_convolution"], FastConvolution)
        assert not stock.fast_convolution
        for a, b in zip(
            fast.atom_embeddings(structures, specie="Li"), stock.atom_embeddings(structures, specie="Li"), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
