"""Materials Project source (mp-api 0.46.x): query or mp-ids in, a frozen manifest out.

A source ``{type: materials_project, name: NAME, mp_ids: [...]}`` or ``{type: materials_project,
name: NAME, query: {...}}`` is fetched once into ``resources/mp/NAME/manifest.json`` with the
database version, the query and every document, and one JSON structure file per material next
to it. Later runs read the manifest and never touch the network, so a rerun months later uses
the same structures, unless ``refresh: true`` asks for a new fetch.

Query defaults are LiFlow's (docs/method.md section 1): Li-containing, band gap > 2 eV, energy above
hull < 0.1 eV/atom, GNoME entries excluded, and Li > 10 % of atoms (checked on the structures:
the API has no such filter). Every key can be overridden.

Offline or without a key the fetch fails within seconds with one sentence: mp-api's start-up
heartbeat has no timeout, so reachability is checked first with a 5 s socket connect.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ionscreen import atomic

log = logging.getLogger(__name__)

ENDPOINT = "https://api.materialsproject.org/"
FIELDS = ["material_id", "formula_pretty", "energy_above_hull", "band_gap", "nsites", "structure", "symmetry"]
LIFLOW_QUERY: dict[str, Any] = {
    "elements": ["Li"],
    "band_gap": [2.0, None],  # eV, strictly: > 2 eV in LiFlow
    "energy_above_hull": [0.0, 0.1],  # eV/atom
    "min_li_fraction": 0.1,
    "include_gnome": False,
}


class MPError(RuntimeError):
    """Materials Project cannot be used; the message is one sentence saying why and what to do."""


def endpoint() -> str:
    return os.environ.get("MP_API_ENDPOINT", ENDPOINT)


def api_key() -> str:
    key = os.environ.get("MP_API_KEY", "").strip()
    if not key:
        raise MPError("no Materials Project API key: set MP_API_KEY (from https://next-gen.materialsproject.org/api)")
    if len(key) != 32:
        raise MPError(f"MP_API_KEY has {len(key)} characters; Materials Project keys have 32")
    return key


def check_reachable(url: str | None = None, timeout_s: float = 5.0) -> None:
    """Raise MPError within ``timeout_s`` when the API host cannot be reached."""
    u = urlparse(url or endpoint())
    host, port = u.hostname or "", u.port or (443 if u.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise MPError(
            f"Materials Project ({host}) is unreachable ({type(exc).__name__}: {exc}); work offline with "
            "a cached manifest (resources/mp/) or a local structure directory"
        ) from exc


def _range(v: Any) -> tuple[float | None, float | None] | None:
    if v is None:
        return None
    lo, hi = v
    return (lo, hi)


def search(query: Mapping[str, Any] | None = None, mp_ids: list[str] | None = None) -> tuple[list[dict[str, Any]], str]:
    """Documents (plain dicts, structure as a pymatgen dict) and the database version."""
    import requests

    key = api_key()
    check_reachable()
    try:
        from mp_api.client import MPRester
        from mp_api.client.core.client import MPRestError
    except ImportError as exc:  # pragma: no cover - mp-api is in requirements.txt
        raise MPError("mp-api is not installed: pip install mp-api==0.46.5") from exc
    q = {**LIFLOW_QUERY, **(query or {})}
    min_li = float(q.pop("min_li_fraction", 0.0) or 0.0)
    try:
        with MPRester(api_key=key, endpoint=endpoint(), mute_progress_bars=True, use_document_model=False) as mpr:
            db_version = str(mpr.get_database_version())
            if mp_ids:
                docs = mpr.materials.summary.search(material_ids=list(mp_ids), fields=FIELDS)
                min_li = 0.0  # explicit ids are taken as asked
            else:
                kwargs = {
                    k: (_range(v) if k in ("band_gap", "energy_above_hull", "num_sites") else v)
                    for k, v in q.items()
                    if v is not None
                }
                docs = mpr.materials.summary.search(fields=FIELDS, **kwargs)
    except MPRestError as exc:
        raise MPError(f"Materials Project refused the request: {str(exc).splitlines()[0][:300]}") from exc
    except requests.exceptions.RequestException as exc:
        raise MPError(f"Materials Project request failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
    out = []
    for d in docs:
        d = dict(d)
        s = d.get("structure")
        s = s.as_dict() if hasattr(s, "as_dict") else s
        d["structure"] = s
        if min_li:
            from pymatgen.core import Structure

            if Structure.from_dict(s).composition.get_atomic_fraction("Li") <= min_li:
                continue
        out.append(d)
    if mp_ids:
        missing = sorted(set(mp_ids) - {str(d["material_id"]) for d in out})
        if missing:
            log.warning("Materials Project has no documents for %s", ", ".join(missing))
    return out, db_version


def materialize(source: Mapping[str, Any], root: str | Path = ".", *, fetch: bool = True) -> dict[str, Path]:
    """{mp-id: structure file} for a materials_project source, fetching only when needed.

    ``fetch=False`` never touches the network: the frozen manifest is read even when the source
    says ``refresh: true`` (a submitted cluster job reads what the main process fetched)."""
    name = source.get("name") or "mp"
    folder = Path(root) / source.get("cache", "resources/mp") / name
    manifest = folder / "manifest.json"
    request = {"mp_ids": source.get("mp_ids"), "query": source.get("query")}
    if not fetch and not manifest.exists():
        raise MPError(
            f"{manifest} does not exist and this process may not fetch (a submitted job); "
            "run the workflow from the main process first"
        )
    if manifest.exists() and not (fetch and source.get("refresh", False)):
        data = json.loads(manifest.read_text())
        if data["request"] != request:
            raise MPError(f"{manifest} was fetched for another request; set refresh: true or another name")
        log.info("using frozen Materials Project manifest %s (database %s)", manifest, data["db_version"])
    else:
        docs, db_version = search(source.get("query"), source.get("mp_ids"))
        folder.mkdir(parents=True, exist_ok=True)
        for d in docs:
            # Unchanged structures keep their file (and its mtime): a refresh must not make every
            # prepared structure, and with it every MD run, look out of date.
            f, text = folder / f"{d['material_id']}.json", json.dumps(d["structure"])
            if not f.is_file() or f.read_text() != text:
                atomic.write_text_atomic(f, text)
        data = {
            "request": request,
            "db_version": db_version,
            "endpoint": endpoint(),
            "fetched": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "materials": [{k: v for k, v in d.items() if k not in ("structure",)} for d in docs],
        }
        atomic.write_text_atomic(manifest, json.dumps(data, indent=1, default=str))
        log.info("fetched %d Materials Project structures (database %s) into %s", len(docs), db_version, folder)
    return {str(m["material_id"]): folder / f"{m['material_id']}.json" for m in data["materials"]}
