"""SevenNet-0 structure embeddings against an independent computation of the definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ionscreen.embed.graph import embedding_dim
from ionscreen.structures.prepare import read_structure
from tests.conftest import REPO, li3n

pytestmark = pytest.mark.slow


def invariant_nodes(h):
    """Per atom, the 128 scalars, then the norm of each of the 64 l=1 and 32 l=2 channels (224)."""
    l1 = h[:, 128 : 128 + 64 * 3].reshape(len(h), 64, 3)
    l2 = h[:, 128 + 64 * 3 :].reshape(len(h), 32, 5)
    return np.concatenate([h[:, :128], np.linalg.norm(l1, axis=-1), np.linalg.norm(l2, axis=-1)], 1)


def reference_embedding(structure, k=10, variant="full"):
    """docs/method.md section 3 written out for one structure, without ionscreen.embed.structure; with
    ``variant="invariant"`` the invariant variant's definition (scalars and channel norms of
    h_i, their mean over neighbours, the mean radial edge part)."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import unlabeled_atoms_to_graph
    from sevenn.util import load_checkpoint

    cp = load_checkpoint("7net-0")
    model = cp.build_model()
    model.set_is_batch_data(False)
    model.eval()
    data = AtomGraphData.from_numpy_dict(
        unlabeled_atoms_to_graph(AseAtomsAdaptor.get_atoms(structure), cp.config["cutoff"])
    )
    with torch.no_grad():
        data = model._preprocess(data)
        for idx, mod in enumerate(model._modules.values()):
            data = mod(data)
            if idx == k:
                break
    h = data["x"].numpy().astype(np.float64)
    e = torch.cat([data["edge_embedding"], data["edge_attr"]], -1).numpy()
    if variant == "invariant":
        h, e = invariant_nodes(h), data["edge_embedding"].numpy()
    i, j = data["edge_index"].numpy()
    out = np.zeros((len(h), 2 * h.shape[1] + e.shape[1]))
    for a in range(len(h)):
        sel = i == a
        out[a] = np.concatenate([h[a], h[j[sel]].mean(0), e[sel].mean(0)])
    return out


def test_equals_independent_computation(embedder):
    structures = [
        li3n() * (2, 2, 2),
        read_structure(REPO / "resources/structures/train/Li2O.json"),
        read_structure(REPO / "resources/structures/candidates/LiFePO4.json"),
    ]
    got = embedder.atom_embeddings(structures)  # one batched forward pass
    for s, g in zip(structures, got, strict=True):
        ref = reference_embedding(s)
        assert g.shape == (len(s), 977) and g.dtype == np.float32
        np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-5)


def test_li_only_aggregation_equals_the_whole_cell(embedder):
    structures = [li3n() * (2, 2, 2), read_structure(REPO / "resources/structures/candidates/LiFePO4.json")]
    whole = embedder.atom_embeddings(structures)
    li = embedder.atom_embeddings(structures, specie="Li")
    for s, w, got in zip(structures, whole, li, strict=True):
        mask = np.array([site.specie.symbol == "Li" for site in s])
        assert got.shape == (mask.sum(), 977)
        np.testing.assert_allclose(got, w[mask], rtol=1e-6, atol=1e-6)


def test_rows_are_li_atoms_only(embedder):
    rows = embedder([("Li3N", li3n() * (2, 2, 2))], progress=False)
    assert len(rows) == 24 and {r["species"] for r in rows} == {"Li"}
    assert rows[0]["layer"] == 10 and rows[0]["variant"] == "full"


def test_invariant_variant_is_rotation_invariant():
    from pymatgen.core import Lattice, Structure
    from scipy.spatial.transform import Rotation

    from ionscreen.embed.structure import SevenNetEmbedder

    s = li3n() * (2, 2, 1)
    R = Rotation.from_euler("xyz", [37, 11, -23], degrees=True).as_matrix()
    rotated = Structure(Lattice(s.lattice.matrix @ R.T), s.species, s.frac_coords)
    inv = SevenNetEmbedder(variant="invariant", device="cpu")
    a, b = inv.atom_embeddings([s, rotated])
    assert a.shape[1] == embedding_dim("invariant") == 456
    np.testing.assert_allclose(a, b, atol=2e-4)
    full = SevenNetEmbedder(variant="full", device="cpu").atom_embeddings([s, rotated])
    assert np.abs(full[0] - full[1]).max() > 1e-2  # the paper's variant is not invariant


def test_cli_embed_equals_independent_computation(tmp_path):
    from ionscreen import schema
    from ionscreen.cli import main

    files = [REPO / "resources/structures/train/Li2O.json", REPO / "resources/structures/candidates/LiFePO4.json"]
    out = tmp_path / "emb.parquet"
    assert main(["embed", *map(str, files), "--out", str(out)]) == 0  # the default: the invariant variant
    df = schema.read_table(out, "embeddings")
    assert set(df["variant"]) == {"invariant"} and set(df["frame"]) == {"given"}
    for f in files:
        s = read_structure(f)
        ref = reference_embedding(s, variant="invariant")
        rows = df[df["material_id"] == f.stem]
        li = [i for i, site in enumerate(s) if site.specie.symbol == "Li"]
        assert rows["atom_index"].tolist() == li
        np.testing.assert_allclose(np.stack(rows["embedding"].to_list()), ref[li], rtol=1e-5, atol=1e-5)
