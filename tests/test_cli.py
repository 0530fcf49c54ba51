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
