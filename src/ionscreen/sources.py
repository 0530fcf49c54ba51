"""Where structures come from, resolved without heavy imports (the Snakefile calls this when it
builds the DAG, so material ids are known up front and a dry run lists every job).

A source is a mapping ``{type: directory, path: DIR}`` (CIF/POSCAR/JSON files; the id is the
file stem), ``{type: files, paths: [...]}``, or ``{type: materials_project, name: NAME, mp_ids:
[...] | query: {...}}`` (fetched once into a frozen manifest, see ionscreen.mp; the id is the
mp-id), or ``{type: obelix, path: resources/obelix}`` (the OBELiX CIFs; the id is the entry ID).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MATERIAL_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"
SUFFIXES = (".cif", ".json", ".vasp", ".poscar")


class SourceError(ValueError):
    pass


def _files(source: Mapping[str, Any], root: Path) -> list[Path]:
    kind = source.get("type", "directory")
    if kind == "directory":
        d = root / source["path"]
        if not d.is_dir():
            raise SourceError(f"structure directory {d} does not exist")
        return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if kind == "files":
        return [root / p for p in source["paths"]]
    if kind == "obelix":
        from ionscreen.obelix import cif_files

        return list(cif_files(root / source.get("path", "resources/obelix")).values())
    if kind == "materials_project":
        from ionscreen.mp import materialize

        return list(materialize(source, root).values())
    raise SourceError(f"unknown source type {kind!r} (directory, files, obelix, materials_project)")


def material_files(sources: Iterable[Mapping[str, Any]], root: str | Path = ".") -> dict[str, Path]:
    """{material_id: file} over all sources; ids must be unique and wildcard-safe."""
    out: dict[str, Path] = {}
    for src in sources:
        for f in _files(src, Path(root)):
            mid = f.stem
            if not re.fullmatch(MATERIAL_ID_PATTERN, mid):
                raise SourceError(f"{f}: material id {mid!r} must match {MATERIAL_ID_PATTERN}")
            if mid in out:
                raise SourceError(f"material id {mid!r} appears twice: {out[mid]} and {f}")
            out[mid] = f
    return out
