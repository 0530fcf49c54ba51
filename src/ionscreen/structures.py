"""Structures in, structures ready for MD and embedding out (stage ``fetch``).

Every step either returns a structure or raises :class:`StructureError` with one sentence that
goes into the ``rejected`` table; a batch never stops on one bad input.

Disorder policy (documented in README, recorded per structure in ``ordering``): a structure with
partial occupancies is expanded to the smallest diagonal supercell (up to ``max_atoms``) in which
every group of equivalent sites (same CIF label and occupancies) holds whole atoms with composition
error <= 0.5 % (else the smallest within 5 %, else it is rejected with the best error found). Each
group's images are filled at random (seeded) with round(occupancy x images) atoms of each species
(largest-remainder rounding), and vacancies are removed. Where the input carries oxidation states
(pymatgen Species, or a CIF's _atom_type_oxidation_number) and the rounded counts leave a net
charge, single atoms are added or removed on the sites that already hold that species, choosing
each time the move that keeps the composition closest, until the cell is neutral (or no move
helps); the ``ordering`` text says what was moved and any charge left.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure

log = logging.getLogger(__name__)

STRUCTURE_SUFFIXES = (".cif", ".json", ".vasp", ".poscar")
STRUCTURE_NAMES = ("POSCAR", "CONTCAR")


class StructureError(ValueError):
    """An input structure cannot be used; the message is the reason for the rejected table and
    ``code`` a short machine-readable key (no_li, unknown_element, overlapping_atoms, too_large,
    unreadable, empty_file, missing_file, non_periodic, no_atoms, disorder_unresolved, mlip_failed)."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- reading


def is_structure_file(path: Path) -> bool:
    return path.is_file() and (
        path.suffix.lower() in STRUCTURE_SUFFIXES or path.name.split(".")[0] in STRUCTURE_NAMES
    )


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


def perpendicular_widths(lattice: Lattice) -> np.ndarray:
    """Distances between opposite cell faces (A): V / |a_j x a_k|."""
    m = lattice.matrix
    vol = abs(np.linalg.det(m))
    return np.array(
        [vol / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)]
    )


def min_interatomic_distance(s: Structure) -> float:
    """Smallest distance between two atoms, periodic images included (A)."""
    if len(s) == 1:
        return float(np.min(s.lattice.abc))
    dm = s.distance_matrix
    np.fill_diagonal(dm, np.inf)
    d = float(dm.min())
    # A single atom's own image closer than any pair (tiny cells).
    return min(d, float(np.min(perpendicular_widths(s.lattice))))


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
        d = min_interatomic_distance(s)
        if d < min_distance_A:
            raise StructureError(f"overlapping atoms: closest pair {d:.3f} A < {min_distance_A} A", "overlapping_atoms")


# ----------------------------------------------------------------------------- disorder


EXACT_ORDERING_ERROR = 0.005  # composition error treated as exact when choosing the supercell


@dataclass
class OrderingResult:
    structure: Structure
    description: str
    error: float = 0.0  # largest relative composition error of any element (0 when ordered)


def _occupancies(site: Any) -> dict[str, float]:
    """{element symbol: occupancy} of a site (oxidation states dropped)."""
    occ: dict[str, float] = {}
    for sp, o in site.species.items():
        el = getattr(sp, "symbol", str(sp))
        occ[el] = occ.get(el, 0.0) + float(o)
    return occ


def _site_counts(occ: dict[str, float], n_images: int) -> dict[str, int]:
    """Whole atoms per species on ``n_images`` copies of one site (largest remainder)."""
    exact = {el: o * n_images for el, o in occ.items()}
    counts = {el: int(math.floor(v + 1e-9)) for el, v in exact.items()}
    total_target = min(n_images, int(round(sum(exact.values()))))
    rest = sorted(exact, key=lambda el: exact[el] - counts[el], reverse=True)
    for el in rest:
        if sum(counts.values()) >= total_target:
            break
        counts[el] += 1
    return counts


def _oxidation_states(s: Structure) -> dict[str, float] | None:
    """{element: occupancy-weighted mean oxidation state} when every species carries one, else None."""
    total: dict[str, float] = {}
    weight: dict[str, float] = {}
    for site in s:
        for sp, o in site.species.items():
            ox = getattr(sp, "oxi_state", None)
            if ox is None:
                return None
            el = sp.symbol
            total[el] = total.get(el, 0.0) + float(ox) * float(o)
            weight[el] = weight.get(el, 0.0) + float(o)
    return {el: total[el] / weight[el] for el in total}


def balance_charge(counts: list[dict[str, int]], exact: list[dict[str, float]], sizes: list[int],
                   oxi: dict[str, float], max_moves: int = 64) -> tuple[dict[str, int], float]:
    """Add or remove single atoms (in place, on groups that hold that species) until the summed
    charge is 0 or no move lowers it; each move is the one with the smallest relative deviation
    from the exact count. Returns ({element: net atoms moved}, charge left in e)."""
    def charge() -> float:
        return sum(c * oxi[el] for cnt in counts for el, c in cnt.items())

    moved: dict[str, int] = {}
    q = charge()
    for _ in range(max_moves):
        if abs(q) < 1e-6:
            break
        best: tuple[tuple[float, float], int, str, int] | None = None
        for g, cnt in enumerate(counts):
            for el, c in cnt.items():
                for d in (1, -1):
                    if c + d < 0 or (d > 0 and sum(cnt.values()) >= sizes[g]) or abs(q + d * oxi[el]) >= abs(q) - 1e-9:
                        continue
                    key = (abs(c + d - exact[g][el]) / max(exact[g][el], 1e-9), abs(q + d * oxi[el]))
                    if best is None or key < best[0]:
                        best = (key, g, el, d)
        if best is None:
            break
        _, g, el, d = best
        counts[g][el] += d
        moved[el] = moved.get(el, 0) + d
        q = charge()
    return {el: m for el, m in moved.items() if m}, q


def _site_groups(s: Structure) -> list[tuple[dict[str, float], list[int]]]:
    """Sites grouped by CIF label and occupancies (a Wyckoff orbit, as the CIF lists it)."""
    groups: dict[Any, tuple[dict[str, float], list[int]]] = {}
    for i, site in enumerate(s):
        occ = _occupancies(site)
        key = (getattr(site, "label", None) or "", tuple(sorted((el, round(o, 6)) for el, o in occ.items())))
        groups.setdefault(key, (occ, []))[1].append(i)
    return list(groups.values())


def _composition_error(groups: list[tuple[dict[str, float], list[int]]], n_cells: int) -> float:
    """Largest relative error of any element's count when each group is filled with whole atoms."""
    target: dict[str, float] = {}
    got: dict[str, int] = {}
    for occ, idx in groups:
        for el, c in _site_counts(occ, len(idx) * n_cells).items():
            got[el] = got.get(el, 0) + c
        for el, o in occ.items():
            target[el] = target.get(el, 0.0) + o * len(idx) * n_cells
    return max(abs(got.get(el, 0) - t) / t for el, t in target.items() if t > 0)


def _separate_split_sites(big: Structure, occupant: dict[int, str], slots_of: list[list[int]],
                          min_distance_A: float, rng: np.random.Generator) -> int:
    """Move atoms off occupied slots closer than ``min_distance_A`` to each other.

    CIFs describe positional disorder as split sites: two partially occupied positions a few
    tenths of an angstrom apart, of which one holds the atom. A random fill can occupy both; each
    such atom moves to a free slot of its own site group that clashes with no occupied slot, so
    the composition stays the same. Returns how many atoms moved (the clash stays where no free
    slot exists, and the overlap check rejects the structure)."""
    if min_distance_A <= 0:
        return 0
    i_idx, j_idx, _, _ = big.get_neighbor_list(min_distance_A)
    close: dict[int, set[int]] = {}
    for i, j in zip(i_idx.tolist(), j_idx.tolist(), strict=True):
        if i != j:
            close.setdefault(i, set()).add(j)
    if not close:
        return 0
    group_of = {slot: g for g, slots in enumerate(slots_of) for slot in slots}

    def clashes(slot: int, ignore: int = -1) -> bool:
        return any(n in occupant and n != ignore for n in close.get(slot, ()))

    moved = 0
    for _ in range(len(occupant)):
        bad = [k for k in sorted(occupant) if clashes(k)]
        if not bad:
            break
        k = bad[0]
        free = [t for t in slots_of[group_of[k]] if t not in occupant and not clashes(t, ignore=k)]
        if not free:
            break
        occupant[free[int(rng.integers(len(free)))]] = occupant.pop(k)
        moved += 1
    return moved


def _drop_clashes(big: Structure, occupant: dict[int, str], min_distance_A: float) -> int:
    """Remove the later atom of every occupied pair closer than ``min_distance_A``; returns how many."""
    if min_distance_A <= 0:
        return 0
    i_idx, j_idx, _, _ = big.get_neighbor_list(min_distance_A)
    dropped = 0
    for i, j in sorted(zip(i_idx.tolist(), j_idx.tolist(), strict=True)):
        if i != j and i in occupant and j in occupant:
            occupant.pop(max(i, j))
            dropped += 1
    return dropped


def order_structure(
    s: Structure, *, seed: int = 0, max_atoms: int = 200, tolerance: float = 0.05, fallback: bool = False,
    min_distance_A: float = 0.5,
) -> OrderingResult:
    """Resolve partial occupancies (policy in the module docstring).

    ``fallback`` (prediction): where no supercell within ``max_atoms`` reaches ``tolerance``, the
    best ordering found is used instead of a rejection, and its composition error is reported
    (``OrderingResult.error``, the ``ordering_error`` column, the ``composition_approximate``
    flag); where even the smallest cell exceeds ``max_atoms``, that cell is used and the
    description says so. A model that embeds structures can still say something about such a
    material; MD of it would not be worth its cost, so training structures keep the rejection.
    """
    if s.is_ordered:
        return OrderingResult(s.copy(), "none")
    n_sites = len(s)
    candidates = sorted(
        (sc for sc in itertools.product(range(1, 7), repeat=3) if n_sites * np.prod(sc) <= 4 * max_atoms),
        key=lambda sc: (int(np.prod(sc)), max(sc) - min(sc)),
    )
    occupied = float(sum(sum(_occupancies(site).values()) for site in s))
    n_all = len(candidates)
    candidates = [sc for sc in candidates if occupied * np.prod(sc) <= max_atoms + 1e-9] or candidates[:1]
    limited = len(candidates) < n_all
    groups = _site_groups(s)
    errors = [(_composition_error(groups, int(np.prod(sc))), sc) for sc in candidates]
    # Smallest supercell that is (near) exact; else the smallest within tolerance; else the best.
    exact = [e for e in errors if e[0] <= EXACT_ORDERING_ERROR]
    within = [e for e in errors if e[0] <= tolerance]
    err, sc = exact[0] if exact else within[0] if within else min(errors, key=lambda e: e[0])
    if err > tolerance and not fallback:
        limit = f" within the limit of {max_atoms} atoms" if limited else ""
        raise StructureError(
            f"disorder cannot be resolved within {tolerance:.0%} composition error{limit} "
            f"(best {err:.1%} in a {'x'.join(map(str, sc))} supercell)",
            "disorder_unresolved",
        )
    rng = np.random.default_rng(seed)
    n = int(np.prod(sc))
    big = s.copy()
    big.make_supercell(np.diag(sc))
    # Images of original site i are sites i*n ... i*n+n-1 in pymatgen's supercell ordering.
    # Each group's whole atoms are spread at random over all images of all its sites.
    slots_of = [[i * n + k for i in idx for k in range(n)] for _, idx in groups]
    counts_of = [_site_counts(occ, len(slots)) for (occ, _), slots in zip(groups, slots_of, strict=True)]
    charge_note = ""
    oxi = _oxidation_states(s)
    if oxi is not None:
        exact = [{el: o * len(slots) for el, o in occ.items()} for (occ, _), slots in zip(groups, slots_of, strict=True)]
        moved, q = balance_charge(counts_of, exact, [len(sl) for sl in slots_of], oxi)
        if moved:
            charge_note = ", charge balanced (" + ", ".join(f"{el} {m:+d}" for el, m in sorted(moved.items())) + ")"
        if abs(q) > 1e-6:
            charge_note += f", net charge {q:+.2f} e left"
    occupant: dict[int, str] = {}
    for slots, counts in zip(slots_of, counts_of, strict=True):
        labels = [el for el, c in counts.items() for _ in range(c)]
        labels += [None] * (len(slots) - len(labels))
        rng.shuffle(labels)
        occupant.update({slot: el for slot, el in zip(slots, labels, strict=True) if el is not None})
    moved_off = _separate_split_sites(big, occupant, slots_of, min_distance_A, rng)
    if moved_off:
        charge_note += f", {moved_off} atom{'s' * (moved_off > 1)} moved off split sites"
    if fallback:  # clashes no move could resolve: drop the atom, and count it in the composition error
        dropped = _drop_clashes(big, occupant, min_distance_A)
        if dropped:
            target: dict[str, float] = {}
            for (occ, _), slots in zip(groups, slots_of, strict=True):
                for el, o in occ.items():
                    target[el] = target.get(el, 0.0) + o * len(slots)
            got = {el: sum(1 for v in occupant.values() if v == el) for el in target}
            err = max(err, max(abs(got[el] - t) / t for el, t in target.items() if t > 0))
            charge_note += f", {dropped} clashing atom{'s' * (dropped > 1)} dropped"
    ordered = Structure(big.lattice, [occupant[k] for k in sorted(occupant)],
                        [big[k].frac_coords for k in sorted(occupant)])
    over = ""
    if len(ordered) > max_atoms:
        if not fallback:
            raise StructureError(
                f"ordering needs a {'x'.join(map(str, sc))} supercell with {len(ordered)} atoms "
                f"(limit {max_atoms})",
                "too_large",
            )
        over = f", {len(ordered)} atoms exceed the budget of {max_atoms}"
    approx = f" (approximate: best within {max_atoms} atoms, tolerance {tolerance:.0%})" if err > tolerance else ""
    desc = (
        f"random fill (seed {seed}) of a {'x'.join(map(str, sc))} supercell, "
        f"composition error {err:.1%}{approx}, vacancies removed{charge_note}{over}"
    )
    return OrderingResult(ordered.get_sorted_structure(), desc, float(err))


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


# Candidates are embedded, not simulated: the embedding costs time linear in atoms (README,
# "Screening cost"), so the prediction budget is far larger than MD's.
CANDIDATE_MAX_ATOMS = 1000


def candidate_settings(**overrides: Any) -> PrepareSettings:
    """The one place candidate preparation is configured, for the workflow's rule and for
    ``ionscreen predict``: no supercell (embeddings are per atom and periodic), no relaxation
    (database structures are relaxed already), a budget of ``CANDIDATE_MAX_ATOMS`` and the ordering
    fallback. ``overrides`` are PrepareSettings fields (mlip, device, relax_steps, max_atoms, ...)."""
    base = {"min_width_A": 0.0, "max_atoms": CANDIDATE_MAX_ATOMS, "relax_steps": 0, "ordering_fallback": True}
    return PrepareSettings(**{**base, **overrides})


def prepare_structure(
    s: Structure, settings: PrepareSettings, calc: Any | None, known: frozenset[str] | None, *,
    symmetry: bool = True, keep: bool = False,
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
    ordered = order_structure(s, seed=settings.order_seed, max_atoms=settings.max_atoms,
                              fallback=settings.ordering_fallback, min_distance_A=settings.min_distance_A)
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
    row: dict[str, Any] = {
        "formula": cell.composition.formula.replace(" ", ""),
        "reduced_formula": cell.composition.reduced_formula,
        "spacegroup": spacegroup,
        "nsites": len(cell),
        "li_fraction": cell.composition.get_atomic_fraction("Li"),
        "ordering": ordered.description,
        "ordering_error": ordered.error,
        "supercell": "x".join(map(str, sc)),
        "min_width_A": float(perpendicular_widths(cell.lattice).min()),
    }
    if calc is not None:
        r = relax_positions(cell, calc, fmax=settings.relax_fmax_eV_A, steps=settings.relax_steps)
        cell = r.structure
        row.update(
            relax_energy_eV=r.energy_eV, relax_max_force_eV_A=r.max_force_eV_A, relax_steps=r.steps,
            relax_converged=bool(r.max_force_eV_A <= settings.relax_fmax_eV_A),
        )
        if not row["relax_converged"]:
            log.warning("relaxation did not converge: largest force %.3f eV/A > %.3f after %d steps",
                        r.max_force_eV_A, settings.relax_fmax_eV_A, r.steps)
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


def prepare_item(mid: str, source: str, obj: Structure | str | Path, settings: PrepareSettings, calc: Any | None,
                 known: frozenset[str] | None, **kw: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
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
                "e_above_hull_eV_atom": m.get("energy_above_hull"), "band_gap_eV": m.get("band_gap"),
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

    ok, bad = prepare_many([(m, str(p), Path(p)) for m, p in files.items()], settings,
                           relax=relax, progress=progress)
    for b in bad:
        b["stage"] = stage
    known = database_properties(files.values())
    for row in ok:
        row.update(known.get(row["material_id"], {}))
    schema.write_table(ok, structures_out, "structures", settings=asdict(settings), relax=relax)
    schema.write_table(bad, rejected_out, "rejected", settings=asdict(settings))
    log.info("%d structures prepared, %d rejected", len(ok), len(bad))
    return len(ok), len(bad)
