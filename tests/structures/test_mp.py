"""Materials Project source: the real mp-api client against recorded HTTP responses."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from pymatgen.core import Lattice, Structure

from ionscreen.structures import mp
from ionscreen.structures.sources import material_files

EP = "https://api.materialsproject.org/"
HEARTBEAT = {"db_version": "2026.09.30", "version": "0.87.3", "access_controlled_batch_ids": []}


def doc(mid, structure, gap=5.0, ehull=0.0):
    return {
        "material_id": mid,
        "formula_pretty": structure.composition.reduced_formula,
        "energy_above_hull": ehull,
        "band_gap": gap,
        "nsites": len(structure),
        "structure": structure.as_dict(),
    }


LI2O = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.61), ["Li", "O"], [[0.25, 0.25, 0.25], [0, 0, 0]])
# Li1 Ta3 O8-like cell: Li is 1/12 of the atoms, below LiFlow's 10 %.
LI_POOR = Structure(
    Lattice.cubic(6.0),
    ["Li"] + ["Ta"] * 3 + ["O"] * 8,
    [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    + [[0.25 + 0.5 * (i % 2), 0.25 + 0.5 * (i // 2 % 2), 0.25 + 0.5 * (i // 4)] for i in range(8)],
)


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "x" * 32)
    monkeypatch.setattr(mp, "check_reachable", lambda *a, **k: None)  # sockets are not HTTP: no replay
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.GET, EP + "heartbeat", json=HEARTBEAT)
        rsps.add_callback(responses.GET, re.compile(re.escape(EP) + r"materials/summary/.*"), callback=summary_reply)
        yield rsps


def summary_reply(request):
    """What the server answers: every document, or those asked for by material_ids."""
    docs = [doc("mp-1960", LI2O), doc("mp-3666", LI_POOR)]
    ids = parse_qs(urlparse(request.url).query).get("material_ids")
    if ids:
        wanted = set(ids[0].split(","))
        docs = [d for d in docs if d["material_id"] in wanted]
    return 200, {}, json.dumps({"data": docs, "meta": {"total_doc": len(docs)}})


def summary_params(rsps):
    urls = [c.request.url for c in rsps.calls if "/materials/summary/" in c.request.url]
    assert urls
    return parse_qs(urlparse(urls[0]).query)


def test_liflow_query_filters(online):
    docs, version = mp.search()
    assert version == "2026.09.30"
    assert [d["material_id"] for d in docs] == ["mp-1960"]  # the Li-poor one is dropped client-side
    params = summary_params(online)
    assert params["elements"] == ["Li"]
    assert float(params["band_gap_min"][0]) == 2.0 and "band_gap_max" not in params
    assert float(params["energy_above_hull_max"][0]) == 0.1
    assert "structure" in params["_fields"][0]


def test_every_filter_is_configurable(online):
    mp.search({"energy_above_hull": [0, 0.05], "num_sites": [1, 80], "min_li_fraction": 0.0})
    params = summary_params(online)
    assert float(params["energy_above_hull_max"][0]) == 0.05 and params["nsites_max"] == ["80"]


def test_manifest_is_frozen_and_reused_offline(online, tmp_path, monkeypatch):
    src = {"type": "materials_project", "name": "demo", "mp_ids": ["mp-1960"]}
    files = material_files([src], tmp_path)
    assert list(files) == ["mp-1960"]
    manifest = json.loads((tmp_path / "resources/mp/demo/manifest.json").read_text())
    assert manifest["db_version"] == "2026.09.30" and manifest["request"]["mp_ids"] == ["mp-1960"]
    assert Structure.from_file(files["mp-1960"]).composition.reduced_formula == "Li2O"
    n_calls = len(online.calls)
    monkeypatch.delenv("MP_API_KEY")  # no key, no network needed now
    assert material_files([src], tmp_path) == files
    assert len(online.calls) == n_calls
    with pytest.raises(mp.MPError, match="another request"):
        material_files([{**src, "mp_ids": ["mp-1"]}], tmp_path)


def test_offline_fails_fast_with_one_sentence():
    t0 = time.perf_counter()
    with pytest.raises(mp.MPError, match="unreachable") as exc:
        mp.check_reachable("https://api.materialsproject.invalid/")
    assert time.perf_counter() - t0 < 6
    assert "\n" not in str(exc.value)


def test_key_problems(monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(mp.MPError, match="set MP_API_KEY"):
        mp.search()
    monkeypatch.setenv("MP_API_KEY", "short")
    with pytest.raises(mp.MPError, match="have 32"):
        mp.search()


def test_server_refusal_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "x" * 32)
    monkeypatch.setattr(mp, "check_reachable", lambda *a, **k: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.GET, EP + "heartbeat", json=HEARTBEAT)
        rsps.add(
            responses.GET,
            re.compile(re.escape(EP) + r"materials/summary/.*"),
            json={"detail": "Invalid API key"},
            status=401,
        )
        with pytest.raises(mp.MPError, match="refused|failed"):
            mp.search(mp_ids=["mp-1960"])


def test_prepared_structures_carry_hull_and_gap(online, tmp_path):
    from ionscreen import schema
    from ionscreen.structures.prepare import PrepareSettings, prepare_sources

    files = material_files([{"type": "materials_project", "name": "demo", "mp_ids": ["mp-1960"]}], tmp_path)
    prepare_sources(
        files,
        PrepareSettings(mlip="lj", min_width_A=0, relax_steps=0),
        tmp_path / "s.parquet",
        tmp_path / "r.parquet",
        relax=False,
        progress=False,
    )
    row = schema.read_table(tmp_path / "s.parquet", "structures").iloc[0]
    assert row["material_id"] == "mp-1960" and row["source"] == "materials_project 2026.09.30"
    assert row["e_above_hull_eV_atom"] == 0.0 and row["band_gap_eV"] == 5.0


def test_submitted_job_never_queries_materials_project_even_with_refresh(online, tmp_path):
    src = {"type": "materials_project", "name": "demo", "mp_ids": ["mp-1960"], "refresh": True}
    files = material_files([src], tmp_path)  # the main process: refresh fetches
    n_calls = len(online.calls)
    assert any("/materials/summary/" in c.request.url for c in online.calls)
    f = files["mp-1960"]
    mtime = f.stat().st_mtime_ns
    # A submitted job (fetch=False) reads the frozen manifest: not one request.
    assert material_files([src], tmp_path, fetch=False) == files
    assert len(online.calls) == n_calls
    # A refresh that finds the same structure leaves its file untouched: nothing downstream goes stale.
    time.sleep(0.01)
    material_files([src], tmp_path)
    assert len(online.calls) > n_calls and f.stat().st_mtime_ns == mtime


def test_submitted_job_without_a_manifest_is_a_clear_error(tmp_path):
    src = {"type": "materials_project", "name": "never", "mp_ids": ["mp-1960"], "refresh": True}
    with pytest.raises(mp.MPError, match="may not fetch"):
        material_files([src], tmp_path, fetch=False)


def _snakemake_parse(tmp_path, mode: str, endpoint: str):
    """Build the DAG as the main process (mode default) or as a submitted cluster job (mode remote)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REPO

    cfg = tmp_path / "mp.yaml"
    cfg.write_text(
        "train_sources: [{type: materials_project, name: demo, mp_ids: [mp-1960], refresh: true, "
        f"cache: {tmp_path / 'mp'}}}]\n"
    )
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    env = {**os.environ, "MP_API_KEY": "x" * 32, "MP_API_ENDPOINT": endpoint}
    cmd = [
        snakemake,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path / "work"),
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(cfg),
        "--mode",
        mode,
        "collect_structures",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_snakefile_fetches_only_in_the_main_process(online, tmp_path):
    """The Snakefile itself: a submitted job (--mode remote) parses with refresh: true and makes no
    request; the main process does ask (here an endpoint on loopback where nothing listens)."""
    material_files(
        [{"type": "materials_project", "name": "demo", "mp_ids": ["mp-1960"], "cache": str(tmp_path / "mp")}], tmp_path
    )  # the frozen manifest a main process left (replayed HTTP)
    import socket

    with socket.socket() as s:  # a loopback port with no server: any connection attempt fails at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/"
    main = _snakemake_parse(tmp_path, "default", endpoint)
    assert main.returncode != 0 and "unreachable" in main.stdout + main.stderr
    job = _snakemake_parse(tmp_path, "remote", endpoint)
    assert job.returncode == 0, job.stderr[-2000:]
