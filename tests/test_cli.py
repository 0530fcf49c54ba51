"""The command line: exit codes and one-line reasons."""

from __future__ import annotations

import json

from ionscreen import schema
from ionscreen.cli import main
from tests.conftest import li3n


def test_md_then_label(tmp_path, capsys):
    f = tmp_path / "Li3N.json"
    f.write_text(json.dumps((li3n() * (2, 2, 1)).as_dict()))
    traj = tmp_path / "t.parquet"
    assert main(["md", str(f), "--temperature", "900", "--steps", "60", "--timestep-fs", "1", "--interval", "2",
                 "--mlip", "lj", "--out", str(traj)]) == 0
    assert schema.read_provenance(traj)["material_id"] == "Li3N"
    assert main(["label", str(traj), "--out", str(tmp_path / "l.parquet")]) == 0
    row = schema.read_table(tmp_path / "l.parquet", "labels").iloc[0]
    assert row["material_id"] == "Li3N" and row["temperature_K"] == 900 and row["msd_final_A2"] > 0
    assert "Li3N 900 K: ok" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["md", str(tmp_path / "missing.cif"), "--temperature", "900", "--steps", "10",
                 "--out", str(tmp_path / "t.parquet")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    f = tmp_path / "Li3N.json"
    f.write_text(json.dumps(li3n().as_dict()))
    assert main(["md", str(f), "--temperature", "900", "--steps", "10", "--thermostat", "langevin",
                 "--mlip", "lj", "--out", str(tmp_path / "t.parquet")]) == 2
    assert "refused for transport labels" in capsys.readouterr().err


def test_label_xdatcar_gives_kinisi_documented_D(tmp_path, kinisi_inputs):
    # kinisi docs: D = (1.24 +- 0.11) x 10^-5 cm^2/s for this Li6PS5Cl run (2 fs x 50, xy, 3 ps).
    out = tmp_path / "l.parquet"
    assert main(["label", str(kinisi_inputs / "example_XDATCAR.gz"), "--timestep-fs", "2", "--interval", "50",
                 "--start-dt-ps", "3", "--dimension", "xy", "--temperature", "700", "--out", str(out)]) == 0
    row = schema.read_table(out, "labels").iloc[0]
    assert row["material_id"] == "example_XDATCAR"
    assert abs(row["D_cm2_s"] / 1.24e-5 - 1) < 0.05
    assert row["sigma_S_cm"] > 0


def test_label_refuses_a_changing_cell(tmp_path, capsys):
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for k in range(30):
        a = AseAtomsAdaptor.get_atoms(li3n() * (2, 2, 1))
        a.set_cell(a.cell.array * (1 + 0.01 * k), scale_atoms=True)
        frames.append(a)
    path = tmp_path / "npt.extxyz"
    write(path, frames, format="extxyz")
    out = tmp_path / "l.parquet"
    assert main(["label", str(path), "--timestep-fs", "1", "--interval", "10", "--out", str(out)]) == 1
    row = schema.read_table(out, "labels").iloc[0]
    assert row["status"] == "failed" and "inconsistent cell" in row["reason"]


def test_prepare_then_embed_orders_disorder_like_the_rule(tmp_path):
    """``ionscreen prepare`` is the prepare rule's function; ``ionscreen embed`` on structure files
    prepares them as candidates first (disorder ordered), so it equals embedding the prepared table."""
    import numpy as np

    from tests.conftest import REPO

    cands = REPO / "resources/structures/candidates"
    files = [str(cands / "obelix-jqc.cif"), str(cands / "LiBr.json"), str(REPO / ".test/bad/no-li-SiS4.cif")]
    s, r = tmp_path / "s.parquet", tmp_path / "r.parquet"
    assert main(["prepare", *files, "--candidates", "--out", str(s), "--rejected-out", str(r)]) == 0
    prepared = schema.read_table(s, "structures").set_index("material_id")
    assert set(prepared.index) == {"obelix-jqc", "LiBr"} and list(schema.read_table(r, "rejected")["code"]) == ["no_li"]
    assert prepared.loc["obelix-jqc", "ordering"] != "none" and prepared.loc["LiBr", "ordering"] == "none"
    assert prepared.loc["LiBr", "relax_steps"] is None or np.isnan(prepared.loc["LiBr", "relax_steps"])  # candidates: no relaxation
    assert main(["embed", str(s), "--out", str(tmp_path / "a.parquet")]) == 0
    assert main(["embed", *files[:2], "--out", str(tmp_path / "b.parquet")]) == 0
    a = schema.read_table(tmp_path / "a.parquet", "embeddings").sort_values(["material_id", "atom_index"])
    b = schema.read_table(tmp_path / "b.parquet", "embeddings").sort_values(["material_id", "atom_index"])
    assert len(a) == len(b) > 0 and list(a["material_id"]) == list(b["material_id"])
    np.testing.assert_allclose(np.stack(a["embedding"]), np.stack(b["embedding"]), atol=1e-6)
