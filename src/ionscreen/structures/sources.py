"""Where structures come from, resolved without heavy imports (the Snakefile calls this when it
builds the DAG, so material ids are known up front and a dry run lists every job).

A source is a mapping ``{type: directory, path: DIR}`` (CIF/POSCAR/JSON files; the id is the
file stem), ``{type: files, paths: [...]}``, or ``{type: materials_project, name: NAME, mp_ids:
[...] | query: {...}}`` (fetched once into a frozen manifest, see ionscreen.structures.mp; the id is the
mp-id), or ``{type: obelix, path: resources/obelix}`` (the OBELiX CIFs; the id is the entry ID).

Only the main Snakemake process may fetch (``fetch=True``): a job that a cluster executor
submits parses the Snakefile again, and it must read the frozen manifest, never the network.

Candidates are screened in shards (``assign_shards``): a shard's membership is frozen in a small
JSON file the first time it is seen, so candidates added later go to new shards and finished
shards stay finished.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MATERIAL_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"
STRUCTURE_SUFFIXES = (".cif", ".json", ".vasp", ".poscar")
STRUCTURE_NAMES = ("POSCAR", "CONTCAR")


class SourceError(ValueError):
    pass


def is_structure_file(path: Path) -> bool:
    return path.is_file() and (path.suffix.lower() in STRUCTURE_SUFFIXES or path.name.split(".")[0] in STRUCTURE_NAMES)


def material_id(path: str | Path) -> str:
    """The material id of a structure file: its stem (POSCAR files: the folder name)."""
    path = Path(path)
    if path.name.split(".")[0] in STRUCTURE_NAMES:
        return path.parent.name
    return path.stem


def list_structure_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories (non-recursive) into structure files, sorted by id."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if is_structure_file(f)))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"structure path {p} does not exist")
    return out


def files_by_id(paths: Iterable[str | Path]) -> dict[str, Path]:
    """{material_id: file} for structure files or folders of them (``list_structure_files``), as
    the command line takes them: the id is the file stem (a POSCAR's folder name), so two files
    with one stem are refused, as the workflow's sources refuse them; no file at all is refused."""
    paths = list(paths)
    files = list_structure_files(paths)
    if not files:
        raise FileNotFoundError(
            f"no structure files in {', '.join(map(str, paths))} (folders are not searched "
            f"recursively; structure files end in {', '.join(STRUCTURE_SUFFIXES)} or are named "
            f"{' or '.join(STRUCTURE_NAMES)})"
        )
    out: dict[str, Path] = {}
    for f in files:
        _add_unique(out, material_id(f), f)
    return out


def _add_unique(out: dict[str, Path], mid: str, f: Path) -> None:
    """``out[mid] = f``, refusing a material id that another file already gave."""
    if mid in out:
        raise SourceError(
            f"material id {mid!r} (the file stem) comes from both {out[mid]} and {f}: "
            "ids must be unique, rename one of them"
        )
    out[mid] = f


def _files(source: Mapping[str, Any], root: Path, fetch: bool = True) -> list[Path]:
    kind = source.get("type", "directory")
    if kind == "directory":
        d = root / source["path"]
        if not d.is_dir():
            raise SourceError(f"structure directory {d} does not exist")
        return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in STRUCTURE_SUFFIXES)
    if kind == "files":
        return [root / p for p in source["paths"]]
    if kind == "obelix":
        from ionscreen.structures.obelix import cif_files

        return list(cif_files(root / source.get("path", "resources/obelix")).values())
    if kind == "materials_project":
        from ionscreen.structures.mp import materialize

        return list(materialize(source, root, fetch=fetch).values())
    raise SourceError(f"unknown source type {kind!r} (directory, files, obelix, materials_project)")


def material_files(
    sources: Iterable[Mapping[str, Any]], root: str | Path = ".", *, fetch: bool = True
) -> dict[str, Path]:
    """{material_id: file} over all sources; ids must be unique and wildcard-safe.

    ``fetch=False`` (a submitted cluster job): Materials Project sources are read from their
    frozen manifests, whatever ``refresh`` says, and never queried."""
    out: dict[str, Path] = {}
    for src in sources:
        for f in _files(src, Path(root), fetch):
            mid = material_id(f)  # the one rule: the file's stem, a POSCAR's folder name
            if not re.fullmatch(MATERIAL_ID_PATTERN, mid):
                raise SourceError(f"{f}: material id {mid!r} must match {MATERIAL_ID_PATTERN}")
            _add_unique(out, mid, f)
    return out


def assign_shards(
    ids: Iterable[str],
    shard_size: int,
    manifest: str | Path | None = None,
    *,
    update: bool = True,
    write: bool = True,
    regroup: bool = True,
) -> dict[str, list[str]]:
    """{shard name: material ids} with membership that survives a growing candidate set.

    Ids already in ``manifest`` keep their shard; ids that left the set leave their shard; new ids
    (sorted) fill new shards of ``shard_size``, numbered after the last one, so adding candidates
    never changes a finished shard. A changed ``shard_size`` starts over, unless ``regroup`` is
    False (MD batches): then the recorded shards stay and only new ids get the new size. ``update=False`` (a
    submitted cluster job) reads the manifest and leaves unknown ids out. ``write=False`` (a dry
    run) gives the shards the run would make without recording them. Without a manifest the
    sorted ids are cut into shards of ``shard_size``.
    """
    import json

    from ionscreen import atomic

    if shard_size < 1:
        raise SourceError(f"shard size must be >= 1, got {shard_size}")
    ids = sorted(set(ids))
    path = Path(manifest) if manifest is not None else None
    old: dict[str, list[str]] = {}
    if path is not None and path.is_file():
        data = json.loads(path.read_text())
        if data.get("shard_size") == shard_size or not regroup:
            old = {k: list(v) for k, v in data["shards"].items()}
    present = set(ids)
    shards = {k: [m for m in v if m in present] for k, v in old.items()}
    shards = {k: v for k, v in shards.items() if v}
    if not update:
        return shards
    seen = {m for v in old.values() for m in v}
    new = [m for m in ids if m not in seen]
    next_index = 1 + max((int(k) for k in old), default=-1)
    for i in range(0, len(new), shard_size):
        shards[f"{next_index:05d}"] = new[i : i + shard_size]
        next_index += 1
    # Ids that left keep no place; the frozen record keeps every shard ever made (a removed id
    # coming back returns to its old shard).
    record = {k: list(dict.fromkeys(old.get(k, []) + shards.get(k, []))) for k in sorted(set(old) | set(shards))}
    if write and path is not None and (record != old or not path.is_file()):
        atomic.write_text_atomic(path, json.dumps({"shard_size": shard_size, "shards": record}, indent=0))
    return shards
