"""Ordering partial occupancies: the disorder policy (docs/fetch.md, "Disorder policy"; what was done is
recorded per structure in the ``ordering`` column).

A structure with partial occupancies is expanded to the smallest diagonal supercell (up to ``max_atoms``) in which
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

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymatgen.core import Lattice, Structure

from ionscreen.structures.cells import StructureError, neighbor_pairs

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


def balance_charge(
    counts: list[dict[str, int]],
    exact: list[dict[str, float]],
    sizes: list[int],
    oxi: dict[str, float],
    max_moves: int = 64,
) -> tuple[dict[str, int], float]:
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


def supercell_arrays(s: Structure, sc: tuple[int, int, int]) -> tuple[Lattice, np.ndarray, np.ndarray]:
    """(lattice, fractional, Cartesian coordinates) of the diagonal supercell ``sc`` of ``s``,
    bit for bit what ``s.copy().make_supercell(np.diag(sc))`` holds (pymatgen 2026: images of
    site i are rows i*n ... i*n+n-1, wrapped into the cell), without building a Site per image
    (most of an ordering's time on large cells)."""
    from pymatgen.util.coord import lattice_points_in_supercell

    scale = np.array(np.diag(sc), int)
    lattice = Lattice(np.dot(scale, s.lattice.matrix), pbc=s.lattice.pbc)
    vecs = lattice.get_cartesian_coords(lattice_points_in_supercell(scale))
    cart = (np.array([site.coords for site in s])[:, None, :] + vecs[None]).reshape(-1, 3)
    inv, m = lattice.inv_matrix, lattice.matrix
    # pymatgen computes each site's coordinates with a (3,) x (3, 3) product; so does this, row by row.
    frac = np.array([np.dot(c, inv) for c in cart]).reshape(-1, 3)
    for _ in range(3):  # wrapped three times over, as the Structure's constructor and make_supercell do
        frac = np.mod(frac, 1.0)
    cart = np.array([np.dot(f, m) for f in frac]).reshape(-1, 3)
    return lattice, frac, cart


def sorted_structure(lattice: Lattice, species: list[str], frac: np.ndarray) -> Structure:
    """The Structure of one element per site, sorted as ``Structure.get_sorted_structure`` sorts
    (by electronegativity, then symbol; the same comparisons, so the same order), built once."""
    from pymatgen.core import Element

    x = {el: Element(el).X for el in set(species)}

    def before(a: int, b: int) -> int:  # PeriodicSite.__lt__
        xa, xb = x[species[a]], x[species[b]]
        if xa < xb:
            return -1
        if xa > xb:
            return 0
        return -1 if species[a] < species[b] else 0

    order = sorted(range(len(species)), key=functools.cmp_to_key(before))
    return Structure(lattice, [species[k] for k in order], frac[order])


def _separate_split_sites(
    pairs: tuple[np.ndarray, np.ndarray], occupant: dict[int, str], slots_of: list[list[int]], rng: np.random.Generator
) -> int:
    """Move atoms off occupied slots that ``pairs`` (i, j) says are too close to each other.

    CIFs describe positional disorder as split sites: two partially occupied positions a few
    tenths of an angstrom apart, of which one holds the atom. A random fill can occupy both; each
    such atom moves to a free slot of its own site group that clashes with no occupied slot, so
    the composition stays the same. Returns how many atoms moved (the clash stays where no free
    slot exists, and the overlap check rejects the structure)."""
    i_idx, j_idx = pairs
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


def _drop_clashes(pairs: tuple[np.ndarray, np.ndarray], occupant: dict[int, str]) -> int:
    """Remove the later atom of every occupied pair of ``pairs`` (slots closer than the minimum
    distance); returns how many."""
    i_idx, j_idx = pairs
    dropped = 0
    for i, j in sorted(zip(i_idx.tolist(), j_idx.tolist(), strict=True)):
        if i != j and i in occupant and j in occupant:
            occupant.pop(max(i, j))
            dropped += 1
    return dropped


def order_structure(
    s: Structure,
    *,
    seed: int = 0,
    max_atoms: int = 200,
    tolerance: float = 0.05,
    fallback: bool = False,
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
        (sc for sc in itertools.product(range(1, 7), repeat=3) if n_sites * math.prod(sc) <= 4 * max_atoms),
        key=lambda sc: (math.prod(sc), max(sc) - min(sc)),
    )
    occupied = float(sum(sum(_occupancies(site).values()) for site in s))
    n_all = len(candidates)
    candidates = [sc for sc in candidates if occupied * math.prod(sc) <= max_atoms + 1e-9] or candidates[:1]
    limited = len(candidates) < n_all
    groups = _site_groups(s)
    # Smallest supercell that is (near) exact; else the smallest within tolerance; else the best.
    # The error depends on the number of cells only; the scan stops at the first exact one.
    by_cells: dict[int, float] = {}
    errors = []
    for sc in candidates:
        n_cells = math.prod(sc)
        if n_cells not in by_cells:
            by_cells[n_cells] = _composition_error(groups, n_cells)
        errors.append((by_cells[n_cells], sc))
        if errors[-1][0] <= EXACT_ORDERING_ERROR:
            break
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
    n = math.prod(sc)
    lattice, frac, cart = supercell_arrays(s, sc)
    # Images of original site i are sites i*n ... i*n+n-1 in pymatgen's supercell ordering.
    # Each group's whole atoms are spread at random over all images of all its sites.
    slots_of = [[i * n + k for i in idx for k in range(n)] for _, idx in groups]
    counts_of = [_site_counts(occ, len(slots)) for (occ, _), slots in zip(groups, slots_of, strict=True)]
    charge_note = ""
    oxi = _oxidation_states(s)
    if oxi is not None:
        exact = [
            {el: o * len(slots) for el, o in occ.items()} for (occ, _), slots in zip(groups, slots_of, strict=True)
        ]
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
    # slot pairs closer than the minimum distance (split sites), found once for both uses below
    pairs = neighbor_pairs(lattice, cart, min_distance_A)[:2] if min_distance_A > 0 else (np.zeros(0, int),) * 2
    moved_off = _separate_split_sites(pairs, occupant, slots_of, rng)
    if moved_off:
        charge_note += f", {moved_off} atom{'s' * (moved_off > 1)} moved off split sites"
    if fallback:  # clashes no move could resolve: drop the atom, and count it in the composition error
        dropped = _drop_clashes(pairs, occupant)
        if dropped:
            target: dict[str, float] = {}
            for (occ, _), slots in zip(groups, slots_of, strict=True):
                for el, o in occ.items():
                    target[el] = target.get(el, 0.0) + o * len(slots)
            got = {el: sum(1 for v in occupant.values() if v == el) for el in target}
            err = max(err, max(abs(got[el] - t) / t for el, t in target.items() if t > 0))
            charge_note += f", {dropped} clashing atom{'s' * (dropped > 1)} dropped"
    kept = sorted(occupant)
    ordered = sorted_structure(lattice, [occupant[k] for k in kept], frac[kept])
    over = ""
    if len(ordered) > max_atoms:
        if not fallback:
            raise StructureError(
                f"ordering needs a {'x'.join(map(str, sc))} supercell with {len(ordered)} atoms (limit {max_atoms})",
                "too_large",
            )
        over = f", {len(ordered)} atoms exceed the budget of {max_atoms}"
    approx = f" (approximate: best within {max_atoms} atoms, tolerance {tolerance:.0%})" if err > tolerance else ""
    desc = (
        f"random fill (seed {seed}) of a {'x'.join(map(str, sc))} supercell, "
        f"composition error {err:.1%}{approx}, vacancies removed{charge_note}{over}"
    )
    return OrderingResult(ordered, desc, float(err))
