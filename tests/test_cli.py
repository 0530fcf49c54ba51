"""The command line: exit codes and one-line reasons."""

from __future__ import annotations

import json
import subprocess
import sys

from ionscreen import schema
from ionscreen.cli import main
from tests.conftest import li3n


def _li3n_file(folder, supercell=(1, 1, 1)):
    """Li3N (times ``supercell``) written as pymatgen JSON to ``folder``/Li3N.json."""
    f = folder / "Li3N.json"
    f.write_text(json.dumps((li3n() * supercell).as_dict()))
    return f


def test_md_then_label(tmp_path, capsys):
    f = _li3n_file(tmp_path, (2, 2, 1))
    traj = tmp_path / "t.parquet"
    assert (
        main(
            [
                "md",
                str(f),
                "--temperature",
                "900",
                "--steps",
                "60",
                "--timestep-fs",
                "1",
                "--interval",
                "2",
                "--mlip",
                "lj",
                "--out",
                str(traj),
            ]
        )
        == 0
    )
    assert schema.read_provenance(traj)["material_id"] == "Li3N"
    assert main(["label", str(traj), "--out", str(tmp_path / "l.parquet")]) == 0
    row = schema.read_table(tmp_path / "l.parquet", "labels").iloc[0]
    assert row["material_id"] == "Li3N" and row["temperature_K"] == 900 and row["msd_final_A2"] > 0
    assert "Li3N 900 K: ok" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, capsys):
    assert (
        main(
            [
                "md",
                str(tmp_path / "missing.cif"),
                "--temperature",
                "900",
                "--steps",
                "10",
                "--out",
                str(tmp_path / "t.parquet"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    f = _li3n_file(tmp_path)
    assert (
        main(
            [
                "md",
                str(f),
                "--temperature",
                "900",
                "--steps",
                "10",
                "--thermostat",
                "langevin",
                "--mlip",
                "lj",
                "--out",
                str(tmp_path / "t.parquet"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused for transport labels" in err[0]


def test_label_xdatcar_gives_kinisi_documented_D(tmp_path, kinisi_inputs):
    # kinisi docs: D = (1.24 +- 0.11) x 10^-5 cm^2/s for this Li6PS5Cl run (2 fs x 50, xy, 3 ps).
    out = tmp_path / "l.parquet"
    assert (
        main(
            [
                "label",
                str(kinisi_inputs / "example_XDATCAR.gz"),
                "--timestep-fs",
                "2",
                "--interval",
                "50",
                "--start-dt-ps",
                "3",
                "--dimension",
                "xy",
                "--temperature",
                "700",
                "--out",
                str(out),
            ]
        )
        == 0
    )
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
    assert prepared.loc["LiBr", "relax_steps"] is None or np.isnan(
        prepared.loc["LiBr", "relax_steps"]
    )  # candidates: no relaxation
    assert main(["embed", str(s), "--out", str(tmp_path / "a.parquet")]) == 0
    assert main(["embed", *files[:2], "--out", str(tmp_path / "b.parquet")]) == 0
    a = schema.read_table(tmp_path / "a.parquet", "embeddings").sort_values(["material_id", "atom_index"])
    b = schema.read_table(tmp_path / "b.parquet", "embeddings").sort_values(["material_id", "atom_index"])
    assert len(a) == len(b) > 0 and list(a["material_id"]) == list(b["material_id"])
    np.testing.assert_allclose(np.stack(a["embedding"]), np.stack(b["embedding"]), atol=1e-6)


# --------------------------------------------------------------------------- refusals, one line each
# Each error class run as a user runs it: a subprocess, its exit status, one line on stderr, no
# traceback, and no output file left behind.


def _run(*args, cwd=None):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "ionscreen.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**__import__("os").environ, "TQDM_DISABLE": "1"},
    )
    lines = [x for x in proc.stderr.splitlines() if x.strip() and "%|" not in x]  # not progress bars
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, lines, proc.stdout


def _refused(args, *words, out=None, code=2):
    rc, lines, _ = _run(*args)
    assert rc == code and len(lines) == 1, (rc, lines)
    for w in words:
        assert w in lines[0], (w, lines[0])
    if out is not None:
        assert not out.exists(), f"{out} left behind"
    return lines[0]


def _two_files_one_stem(tmp_path):
    from ionscreen.structures.prepare import read_structure
    from tests.conftest import REPO

    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x/Li3N.json").write_text(json.dumps(li3n().as_dict()))
    (tmp_path / "y/Li3N.json").write_text(read_structure(REPO / "resources/structures/train/Li2O.json").to_json())
    return [tmp_path / "x/Li3N.json", tmp_path / "y/Li3N.json"]


def test_colliding_ids_are_refused(tmp_path):
    files = _two_files_one_stem(tmp_path)
    out = tmp_path / "s.parquet"
    _refused(
        ["prepare", *files, "--candidates", "--out", out, "--rejected-out", tmp_path / "r.parquet"],
        "material id 'Li3N'",
        "rename one",
        out=out,
    )
    _refused(["embed", *files, "--out", out], "material id 'Li3N'", out=out)
    _refused(
        ["predict", "--model", "obelix-rt", *files, "--temperature", "300", "--out", out], "material id 'Li3N'", out=out
    )


def test_nonsense_temperatures_are_refused(tmp_path):
    out = tmp_path / "p.parquet"
    f = _li3n_file(tmp_path)
    line = _refused(
        ["predict", "--model", "obelix-rt", f, "--temperature", "-5", "--out", out], "-5 must be > 0", out=out
    )
    assert "--help" in line
    _refused(["md", f, "--temperature", "0", "--steps", "10", "--out", out], "must be > 0", out=out)


def test_nothing_usable_exits_non_zero(tmp_path):
    notes = tmp_path / "notes.cif"
    notes.write_text("these are my notes, not a crystal\n")
    out = tmp_path / "p.parquet"
    _refused(
        ["predict", "--model", "obelix-rt", notes, "--temperature", "300", "--out", out],
        "nothing predicted: all 1 inputs were rejected",
        out=out,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(["embed", empty, "--out", out], "no structure files in", out=out)
    _refused(
        ["prepare", empty, "--out", out, "--rejected-out", tmp_path / "r.parquet"], "no structure files in", out=out
    )


def test_unwritable_outputs_are_refused_before_any_work(tmp_path):
    f = _li3n_file(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = tmp_path / "p.parquet"
    _refused(
        ["predict", "--model", "obelix-rt", f, "--temperature", "300", "--out", blocker / "p.parquet"],
        "cannot create the folder",
        "choose another path",
    )
    _refused(
        [
            "predict",
            "--model",
            "obelix-rt",
            f,
            "--temperature",
            "300",
            "--out",
            out,
            "--rejected-out",
            blocker / "r.parquet",
        ],
        "cannot create the folder",
        out=out,
    )  # nothing written first
    _refused(
        ["md", f, "--temperature", "900", "--steps", "10", "--mlip", "lj", "--out", tmp_path],
        "is a folder: give a file path",
    )


def test_errors_point_the_right_way(tmp_path):
    f = _li3n_file(tmp_path)
    out = tmp_path / "p.parquet"
    _refused(
        ["predict", "--model", "obelix", f, "--temperature", "300", "--out", out],
        "no model 'obelix'",
        "obelix-rt",
        out=out,
    )
    # a trainset whose labels lack the default target (msd_final_A2)
    ts = tmp_path / "ts"
    ts.mkdir()
    schema.write_table(
        [{"material_id": "a", "temperature_K": 300.0, "status": "ok", "sigma_S_cm": 1e-3}],
        ts / "labels.parquet",
        "trainset_labels",
    )
    for name in ("structures", "embeddings", "trajectory_embeddings"):
        schema.write_table([], ts / f"{name}.parquet", name)
    _refused(
        ["train", ts, "--out", tmp_path / "m"],
        "the target 'msd_final_A2' has no positive values",
        "sigma_S_cm",
        out=tmp_path / "m" / "model.pt",
    )


def test_md_warns_of_too_few_frames_and_label_shows_the_bound(tmp_path):
    f = _li3n_file(tmp_path, (2, 2, 1))
    traj = tmp_path / "t.parquet"
    rc, lines, _ = _run("md", f, "--temperature", "300", "--steps", "50", "--mlip", "lj", "--out", traj)
    assert rc == 0 and len(lines) == 1 and "6 frames saved" in lines[0] and "--steps >= 190" in lines[0]
    rc, _, stdout = _run(
        "md",
        f,
        "--temperature",
        "300",
        "--steps",
        "60",
        "--interval",
        "2",
        "--timestep-fs",
        "1",
        "--mlip",
        "lj",
        "--out",
        traj,
    )
    assert rc == 0
    rc, _, stdout = _run("label", traj, "--out", tmp_path / "l.parquet")
    row = schema.read_table(tmp_path / "l.parquet", "labels").iloc[0]
    assert row["status"] == "ok" and not row["diffusive"]  # 300 K, 60 fs of Lennard-Jones Li3N: caged
    assert "not diffusive: D <=" in stdout and "upper bound" in stdout and "nan" not in stdout.lower(), stdout


def test_help_version_and_verbose_anywhere():
    rc, _, stdout = _run("--version")
    assert rc == 0 and stdout.startswith("ionscreen ")
    rc, _, stdout = _run("md", "--help")
    stdout = " ".join(stdout.split())
    assert (
        "(default: 10)" in stdout and "{nose-hoover,nve}" in stdout and "{auto,cpu,cuda}" in stdout and ", K" in stdout
    )
    rc, _, stdout = _run("label", "--help")
    stdout = " ".join(stdout.split())
    assert "{xyz,xy,xz,yz,x,y,z}" in stdout and "ps (default" in stdout
    rc, _, stdout = _run("embed", "--help")
    stdout = " ".join(stdout.split())  # argparse wraps to the terminal's width
    assert "--mlip" in stdout and "--model" not in stdout and "(default: invariant)" in stdout
    from ionscreen.cli import build_parser

    assert (
        build_parser().parse_args(["md", "x.cif", "--temperature", "900", "--steps", "5", "--out", "o", "-v"]).verbose
    )


def test_tables_describe_their_columns(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "p.parquet"
    schema.write_table(
        [
            {
                "material_id": "a",
                "temperature_K": 800.0,
                "target": "log10_msd_final_A2",
                "prediction": 1.0,
                "prediction_std": 0.1,
                "rank": 1,
                "flags": [],
            }
        ],
        out,
        "predictions",
    )
    fields = pq.read_schema(out)
    meta = fields.field("prediction").metadata
    assert b"log10 of the target" in meta[b"unit"] and meta[b"doc"]
    assert fields.field("temperature_K").metadata[b"unit"] == b"K"
    assert fields.field("sigma_rt_std").metadata[b"unit"].startswith(b"decades")
    for name in ("labels", "trajectory", "embeddings", "structures"):  # every declared column has a doc
        assert all(f.metadata and f.metadata[b"doc"] for f in schema.spec(name).schema)


def test_a_subcommand_imports_only_what_its_arguments_need():
    """``ionscreen predict --help`` (1.5 s while the parser imported every stage for its defaults)
    builds only predict's arguments: no MD engine, torch, pandas or pymatgen is imported; and a
    line that names no subcommand still lists them all."""
    code = (
        "import sys; from ionscreen.cli import build_parser; "
        "build_parser(only='predict').parse_args(['predict', 'x.cif', '--model', 'm', '--temperature', '600', "
        "'--out', 'o.parquet']); "
        "print(*[m in sys.modules for m in ('ionscreen.md.engine', 'torch', 'pandas', 'pymatgen.core')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False"] * 4
    listing = subprocess.run(
        [sys.executable, "-m", "ionscreen.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("md", "label", "prepare", "embed", "predict", "train", "train-rt", "plan", "ingest-liflow", "ingest"):
        assert f"    {name} " in listing or f"    {name}\n" in listing, name
