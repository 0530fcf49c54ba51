"""Materials Project source: the real mp-api client against recorded HTTP responses."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from pymatgen.core import Lattice, Structure

from ionscreen import mp
from ionscreen.sources import material_files

EP = "https://api.materialsproject.org/"
HEARTBEAT = {"db_version": "2026.09.30", "version": "0.87.3", "access_controlled_batch_ids": []}


def doc(mid, structure, gap=5.0, ehull=0.0):
    return {"material_id": mid, "formula_pretty": structure.composition.reduced_formula, "energy_above_hull": ehull,
            "band_gap": gap, "nsites": len(structure), "structure": structure.as_dict()}


LI2O = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.61), ["Li", "O"], [[0.25, 0.25, 0.25], [0, 0, 0]])
# Li1 Ta3 O8-like cell: Li is 1/12 of the atoms, below LiFlow's 10 %.
LI_POOR = Structure(Lattice.cubic(6.0), ["Li"] + ["Ta"] * 3 + ["O"] * 8,
                    [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]] + [[0.25 + 0.5 * (i % 2), 0.25 + 0.5 * (i // 2 % 2), 0.25 + 0.5 * (i // 4)] for i in range(8)])


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
        rsps.add(responses.GET, re.compile(re.escape(EP) + r"materials/summary/.*"),
                 json={"detail": "Invalid API key"}, status=401)
        with pytest.raises(mp.MPError, match="refused|failed"):
            mp.search(mp_ids=["mp-1960"])


def test_prepared_structures_carry_hull_and_gap(online, tmp_path):
    from ionscreen import schema
    from ionscreen.structures import PrepareSettings, prepare_sources

    files = material_files([{"type": "materials_project", "name": "demo", "mp_ids": ["mp-1960"]}], tmp_path)
    prepare_sources(files, PrepareSettings(mlip="lj", min_width_A=0, relax_steps=0), tmp_path / "s.parquet",
                    tmp_path / "r.parquet", relax=False, progress=False)
    row = schema.read_table(tmp_path / "s.parquet", "structures").iloc[0]
    assert row["material_id"] == "mp-1960" and row["source"] == "materials_project 2026.09.30"
    assert row["e_above_hull_eV_atom"] == 0.0 and row["band_gap_eV"] == 5.0
