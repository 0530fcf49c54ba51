"""Structures in, structures ready for MD and embedding out (stage ``fetch``).

Every step either returns a structure or raises :class:`StructureError` with one sentence that
goes into the ``rejected`` table; a batch never stops on one bad input. Reading, checks,
supercells, relaxation and the ``structures`` rows live here; partial occupancies are ordered by
``ionscreen.structures.ordering`` (the disorder policy).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from ionscreen.structures.cells import (
    StructureError,
    min_interatomic_distance,
    perpendicular_widths,
)
from ionscreen.structures.cif import read_cif

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- reading


def read_structure(path: str | Path) -> Structure:
    """Read a CIF, POSCAR or pymatgen-JSON file; StructureError with the reason if it fails."""
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path.name}: file does not exist", "missing_file")
    if path.stat().st_size == 0:
        raise StructureError(f"{path.name}: file is empty", "empty_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if path.suffix.lower() == ".json":
                obj = json.loads(path.read_text())
                if obj.get("@class") == "Molecule" or "lattice" not in obj:
                    raise StructureError(f"{path.name}: non-periodic input (no lattice)", "non_periodic")
                s = Structure.from_dict(obj)
            elif path.suffix.lower() == ".cif":
                s = read_cif(path)  # pymatgen's parser, symmetry images tested in numpy (same structure)
            else:
                s = Structure.from_file(path)
    except StructureError:
        raise
    except Exception as exc:  # pymatgen raises many types for malformed files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StructureError(f"{path.name}: unreadable structure ({msg[:200]})", "unreadable") from exc
    if len(s) == 0:
        raise StructureError(f"{path.name}: structure has no atoms", "no_atoms")
    return s


# ----------------------------------------------------------------------------- checks


def check_structure(
    s: Structure,
    *,
    known_elements: frozenset[str] | None,
    min_distance_A: float = 0.5,
    max_atoms: int | None = None,
) -> None:
    """Raise StructureError if ``s`` cannot be simulated or embedded."""
    elements = {el.symbol for el in s.composition.elements}
    if "Li" not in elements:
        raise StructureError(f"no Li in {s.composition.reduced_formula}", "no_li")
    if known_elements is not None:
        unknown = sorted(elements - known_elements)
        if unknown:
            raise StructureError(f"elements unknown to the MLIP: {', '.join(unknown)}", "unknown_element")
    if max_atoms is not None and len(s) > max_atoms:
        raise StructureError(f"{len(s)} atoms exceed the limit of {max_atoms}", "too_large")
    if s.is_ordered:
        d = min_interatomic_distance(s, below_A=min_distance_A)
        if d < min_distance_A:
            raise StructureError(f"overlapping atoms: closest pair {d:.3f} A < {min_distance_A} A", "overlapping_atoms")


# ----------------------------------------------------------------------------- supercell


def supercell_for_width(s: Structure, min_width_A: float) -> tuple[int, int, int]:
    """Smallest diagonal multipliers making every perpendicular width >= ``min_width_A``."""
    if min_width_A <= 0:
        return (1, 1, 1)
    w = perpendicular_widths(s.lattice)
    return tuple(int(max(1, math.ceil(min_width_A / wi - 1e-9))) for wi in w)  # type: ignore[return-value]


# ----------------------------------------------------------------------------- relaxation


@dataclass
class RelaxResult:
    structure: Structure
    energy_eV: float
    max_force_eV_A: float
    steps: int


def relax_positions(s: Structure, calc: Any, *, fmax: float = 0.05, steps: int = 100) -> RelaxResult:
    """Relax atomic positions (cell fixed) with FIRE; ``steps = 0`` only evaluates."""
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(s)
    atoms.calc = calc
    n = 0
    if steps > 0:
        opt = FIRE(atoms, logfile=None)
        opt.run(fmax=fmax, steps=steps)
        n = int(opt.get_number_of_steps())
    forces = atoms.get_forces()
    energy = float(atoms.get_potential_energy())
    if not np.all(np.isfinite(forces)) or not math.isfinite(energy):
        raise StructureError("MLIP gave non-finite energy or forces during relaxation", "mlip_failed")
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    return RelaxResult(relaxed, energy, float(np.linalg.norm(forces, axis=1).max()), n)


# ----------------------------------------------------------------------------- one structure


@dataclass
class PrepareSettings:
    """How a raw structure becomes an MD/embedding-ready cell."""

    mlip: str = "7net-0"
    device: str = "auto"
    min_width_A: float = 9.0  # LiFlow: every periodic width > 9 A
    max_atoms: int = 200
    min_distance_A: float = 0.5
    order_seed: int = 0
    relax_steps: int = 100  # 0: no relaxation
    relax_fmax_eV_A: float = 0.05
    # Prediction: use the best ordering found (flagged) instead of rejecting a structure whose
    # disorder cannot be resolved within tolerance and the atom budget (see order_structure).
    ordering_fallback: bool = False


# PrepareSettings fields that change how fast a structure is prepared, not the structure: the
# workflow's rules leave them out of their params (a job reads them from the config).
PREPARE_ENGINE_ONLY = ("device",)

# Candidates are embedded, not simulated: the embedding costs time linear in atoms (docs/benchmarks.md,
# "Screening cost"), so the prediction budget is far larger than MD's.
CANDIDATE_MAX_ATOMS = 1000


def candidate_settings(**overrides: Any) -> PrepareSettings:
    """The one place candidate preparation is configured, for the workflow's rule and for
    ``ionscreen predict``: no supercell (embeddings are per atom and periodic), no relaxation
    (database structures are relaxed already), a budget of ``CANDIDATE_MAX_ATOMS`` and the ordering
    fallback. ``overrides`` are PrepareSettings fields (mlip, device, relax_steps, max_atoms, ...)."""
    base = {"min_width_A": 0.0, "max_atoms": CANDIDATE_MAX_ATOMS, "relax_steps": 0, "ordering_fallback": True}
    return PrepareSettings(**{**base, **overrides})


def cell_row(
    cell: Structure,
    *,
    spacegroup: str | None,
    ordering: str = "none",
    ordering_error: float = 0.0,
    supercell: str = "1x1x1",
) -> dict[str, Any]:
    """The descriptive columns of a ``structures`` row for a prepared cell (the one place that row
    is built: prepared structures here, ingested archives in ``ingest``)."""
    comp = cell.composition
    return {
        "formula": comp.formula.replace(" ", ""),
        "reduced_formula": comp.reduced_formula,
        "spacegroup": spacegroup,
        "nsites": len(cell),
        "li_fraction": comp.get_atomic_fraction("Li"),
        "ordering": ordering,
        "ordering_error": ordering_error,
        "supercell": supercell,
        "min_width_A": float(perpendicular_widths(cell.lattice).min()),
    }


def prepare_structure(
    s: Structure,
    settings: PrepareSettings,
    calc: Any | None,
    known: frozenset[str] | None,
    *,
    symmetry: bool = True,
    keep: bool = False,
) -> dict[str, Any]:
    """Order, supercell and relax one structure; returns a ``structures`` row (minus ids).

    ``symmetry=False`` skips the space-group search (a descriptive column; screening does not
    need it). ``keep=True`` returns the prepared Structure itself under ``_structure`` instead of
    serialising it to ``structure_json`` (a screen that embeds it at once need not round-trip it
    through JSON)."""
    check_structure(s, known_elements=known, min_distance_A=settings.min_distance_A)
    spacegroup = ""
    if symmetry:
        try:
            spacegroup = s.get_space_group_info(symprec=0.1)[0]
        except Exception:  # spglib can fail on odd cells; not a reason to reject
            spacegroup = ""
    from ionscreen.structures.ordering import order_structure

    ordered = order_structure(
        s,
        seed=settings.order_seed,
        max_atoms=settings.max_atoms,
        fallback=settings.ordering_fallback,
        min_distance_A=settings.min_distance_A,
    )
    cell = ordered.structure
    sc = supercell_for_width(cell, settings.min_width_A)
    if np.prod(sc) > 1:
        cell = cell.copy()
        cell.make_supercell(np.diag(sc))
    check_structure(
        cell,
        known_elements=known,
        min_distance_A=settings.min_distance_A,
        max_atoms=None if settings.ordering_fallback else settings.max_atoms,
    )
    row = cell_row(
        cell,
        spacegroup=spacegroup,
        ordering=ordered.description,
        ordering_error=ordered.error,
        supercell="x".join(map(str, sc)),
    )
    if calc is not None:
        r = relax_positions(cell, calc, fmax=settings.relax_fmax_eV_A, steps=settings.relax_steps)
        cell = r.structure
        row.update(
            relax_energy_eV=r.energy_eV,
            relax_max_force_eV_A=r.max_force_eV_A,
            relax_steps=r.steps,
            relax_converged=bool(r.max_force_eV_A <= settings.relax_fmax_eV_A),
        )
        if not row["relax_converged"]:
            log.warning(
                "relaxation did not converge: largest force %.3f eV/A > %.3f after %d steps",
                r.max_force_eV_A,
                settings.relax_fmax_eV_A,
                r.steps,
            )
    if keep:
        row["_structure"] = cell
    else:
        row["structure_json"] = json.dumps(cell.as_dict())
    return row


def structure_from_row(row: Any) -> Structure:
    """The prepared Structure stored in a ``structures`` table row."""
    return Structure.from_dict(json.loads(row["structure_json"]))


def prepare_many(
    items: Sequence[tuple[str, str, Structure | Path]],
    settings: PrepareSettings,
    *,
    relax: bool = True,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Prepare (id, source, structure-or-path) items; returns (structures rows, rejected rows)."""
    from tqdm.auto import tqdm

    from ionscreen import mlip

    known = mlip.known_elements(settings.mlip)
    # relax_steps 0 means no relaxation: the MLIP is not even loaded (seconds per job at scale).
    calc = mlip.get_calculator(settings.mlip, settings.device) if relax and settings.relax_steps > 0 else None
    ok: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for mid, source, obj in tqdm(items, desc="prepare structures", disable=not progress, unit="structure"):
        row, rejected = prepare_item(mid, source, obj, settings, calc, known)
        if rejected is not None:
            bad.append(rejected)
        else:
            ok.append(row)
    return ok, bad


def prepare_item(
    mid: str,
    source: str,
    obj: Structure | str | Path,
    settings: PrepareSettings,
    calc: Any | None,
    known: frozenset[str] | None,
    **kw: Any,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """One input: (structures row with ids, None), or (None, rejected row) with the reason.
    ``kw`` goes to ``prepare_structure`` (symmetry, keep)."""
    try:
        s = read_structure(obj) if isinstance(obj, (str, Path)) else obj
        row = prepare_structure(s, settings, calc, known, **kw)
    except StructureError as exc:
        log.warning("rejected %s: %s", mid, exc)
        return None, {"material_id": mid, "source": source, "stage": "fetch", "code": exc.code, "reason": str(exc)}
    log.info("prepared %s: %s atoms, %s", mid, row["nsites"], row["ordering"])
    return {"material_id": mid, "source": source, **row}, None


def database_properties(paths: Iterable[str | Path]) -> dict[str, dict[str, Any]]:
    """{material_id: {e_above_hull_eV_atom, band_gap_eV, source}} for files that come from a
    Materials Project manifest (resources/mp/NAME/manifest.json beside them)."""
    out: dict[str, dict[str, Any]] = {}
    for folder in {Path(p).parent for p in paths}:
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            continue
        data = json.loads(manifest.read_text())
        for m in data.get("materials", []):
            out[str(m["material_id"])] = {
                "e_above_hull_eV_atom": m.get("energy_above_hull"),
                "band_gap_eV": m.get("band_gap"),
                "source": f"materials_project {data.get('db_version', '')}".strip(),
            }
    return out


def prepare_sources(
    files: dict[str, str | Path],
    settings: PrepareSettings,
    structures_out: str | Path,
    rejected_out: str | Path,
    *,
    relax: bool = True,
    stage: str = "fetch",
    progress: bool = True,
) -> tuple[int, int]:
    """Workflow entry: prepare {material_id: file}; write structures and rejected tables."""
    from dataclasses import asdict

    from ionscreen import schema

    ok, bad = prepare_many([(m, str(p), Path(p)) for m, p in files.items()], settings, relax=relax, progress=progress)
    for b in bad:
        b["stage"] = stage
    known = database_properties(files.values())
    for row in ok:
        row.update(known.get(row["material_id"], {}))
    schema.write_table(ok, structures_out, "structures", settings=asdict(settings), relax=relax)
    schema.write_table(bad, rejected_out, "rejected", settings=asdict(settings))
    log.info("%d structures prepared, %d rejected", len(ok), len(bad))
    return len(ok), len(bad)
