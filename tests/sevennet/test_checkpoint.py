"""ionscreen.sevennet.checkpoint: what a SevenNet checkpoint says about itself, read without torch
or sevenn's loader, and the model built up to a layer."""

from __future__ import annotations

from pathlib import Path

import torch

from ionscreen.structures.prepare import read_structure
from tests.conftest import REPO, li3n


def test_checkpoint_config_read_directly_equals_sevenns():
    from ionscreen.mlip import cutoff_A, sevennet_config, sevennet_model

    for name in ("7net-0", "7net-0_22may2024"):
        direct, ref = sevennet_config(name), sevennet_model(name).config
        assert direct["chemical_species"] == ref["chemical_species"]
        assert direct["cutoff"] == ref["cutoff"]
    assert cutoff_A("7net-0") == 5.0
    assert sevennet_config("7net-0") is not sevennet_config("7net-0_22may2024")


def test_the_checkpoint_configuration_is_read_without_torch_and_equals_torch_load():
    """``checkpoint_config`` reads the pickle with torch's objects left out; every key but the
    device object equals what ``torch.load`` gives, and the bundled files are found where
    ``sevenn._const`` says, all without importing torch (a fresh interpreter checks)."""
    import subprocess
    import sys

    import sevenn._const as const
    import torch

    from ionscreen.sevennet.checkpoint import BUNDLED, checkpoint_config, checkpoint_file

    for name, attr in BUNDLED.items():
        assert checkpoint_file(name) == Path(getattr(const, attr)), name
    for name in ("7net-0", "7net-0_22may2024", "7net-l3i5"):
        path = checkpoint_file(name)
        ref = torch.load(path, map_location="cpu", weights_only=False)["config"]
        got = checkpoint_config(path)
        assert set(got) == set(ref)
        assert {k for k in ref if str(got[k]) != str(ref[k])} <= {"device"}, name
    code = (
        "import sys; from ionscreen import mlip; "
        "print(mlip.cutoff_A('7net-0'), len(mlip.known_elements('7net-0')), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["5.0", "89", "False"]


def test_a_file_that_is_not_a_checkpoint_has_no_configuration(tmp_path):
    from ionscreen.sevennet.checkpoint import checkpoint_config

    (tmp_path / "x.pth").write_text("not a zip")
    assert checkpoint_config(tmp_path / "x.pth") is None


def test_model_built_through_the_embedding_layer_embeds_as_the_whole_model():
    """Only the blocks up to the embedding layer are built and loaded: the same embeddings (to
    float rounding: the very same operations) as the whole model, which stays runnable no further."""
    from ionscreen import mlip
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.sevennet.checkpoint import build_model_through

    cp = mlip.sevennet_model("7net-0")
    part = build_model_through(cp, 10)
    assert len(part._modules) == 11 and len(cp.build_model()._modules) > 30
    cells = [li3n(), read_structure(REPO / "resources/structures/candidates/LiFePO4.json")]
    got = SevenNetEmbedder(device="cpu", engine="e3nn").forward_layers(cells)["x"]
    whole = SevenNetEmbedder(device="cpu", engine="e3nn")
    whole.model = cp.build_model().eval()
    ref = whole.forward_layers(cells)["x"]
    assert got.shape == ref.shape == (len(cells[0]) + len(cells[1]), 480)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
