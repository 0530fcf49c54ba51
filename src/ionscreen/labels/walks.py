"""Synthetic Li trajectories whose long-time diffusion coefficient is known, to score labels,
upper limits and stop rules against the truth (never against themselves).

A hopping model of a Li conductor: Li atoms on a simple cubic lattice of sites with spacing
``a_A`` (A) in a periodic cubic cell, each hop moving one Li to one of its six neighbour sites;
no site exclusion. On top of the site positions every atom vibrates (independent Gaussian
displacements, ``vib_A`` per Cartesian component); a static host framework (sulfur atoms on the
cube's body centres) gives kinisi its drift reference. Every generator takes the long-time
tracer D it produces (``D_cm2_s``; the caged walk's long-time D is 0) and is exact in
expectation: hop rates are set from D, the time scales of the non-ideal processes are arguments.

The processes, each a failure case real MLIP MD shows:

- ``lattice_walk``: independent Poisson hops of rate Gamma = 6 D / a^2 per Li (D = Gamma a^2 / 6).
  ``pair_A`` places the Li in pairs that distance apart (Li closer to each other than the hop
  length, as in split or paired Li sites).
- ``caged_walk``: each Li hops freely (D_free) inside its own block of ``cage_sites``^3 sites and
  never leaves it (non-percolating pathways): local hopping without long-range transport.
- ``transient_walk``: the hop rate starts at ``start_factor`` x its long-time value and relaxes to
  it with time constant ``tau_ps`` (a structure still equilibrating: a slow start below 1, a
  fast start above).
- ``back_hop_walk``: each hop is undone (the Li jumps back) with probability ``p_back`` after an
  exponentially distributed delay of mean ``back_ps`` (correlated back-and-forth hopping); the
  long-time D is (1 - p_back) x the hop rate's.
- ``concerted_walk``: Li hop in groups of ``group`` nearest neighbours moving together by the
  same site vector (concerted migration, He, Zhu and Mo, Nat. Commun. 8, 15893 (2017)); by
  default on a full lattice (one Li per site, so the Li-Li spacing equals the hop length).

Units: D in cm^2/s (1 cm^2/s = 1e4 A^2/ps), times in ps, lengths in A.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ionscreen.trajectory import Trajectory

A2_PS_PER_CM2_S = 1e4
MOVES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)


def hop_rate(D_cm2_s: float, a_A: float) -> float:
    """Hops per ps per Li of a 3D cubic lattice walk with diffusion coefficient D: 6 D / a^2."""
    return 6.0 * D_cm2_s * A2_PS_PER_CM2_S / a_A**2


def _grid(n: int) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3).astype(float)


def _trajectory(
    li_sites: np.ndarray,
    hops: list[tuple[np.ndarray, np.ndarray]],
    *,
    length_A: float,
    duration_ps: float,
    frame_ps: float,
    vib_A: float,
    temperature_K: float,
    rng: np.random.Generator,
    material_id: str,
) -> Trajectory:
    """Frames of Li starting at ``li_sites`` (n_li, 3 A) that make the hops ``hops[i]`` = (times
    ps, jump vectors A), with static host atoms on the body centres and vibrations on every atom."""
    n_li = len(li_sites)
    n_frames = int(round(duration_ps / frame_ps)) + 1
    times = np.arange(n_frames) * frame_ps
    li = np.repeat(li_sites[None], n_frames, axis=0)
    for i, (when, jumps) in enumerate(hops):
        if len(when):
            order = np.argsort(when, kind="stable")
            done = np.searchsorted(when[order], times, side="right")  # hops made by each frame
            path = np.concatenate([np.zeros((1, 3)), np.cumsum(jumps[order], axis=0)])
            li[:, i] += path[done]
    n_side = max(1, int(round(length_A / 2.5)))
    host = (_grid(n_side) + 0.5) * (length_A / n_side)  # every body centre: all Li sites alike (8 host each)
    pos = np.concatenate([li, np.repeat(host[None], n_frames, axis=0)], axis=1)
    pos += rng.normal(scale=vib_A, size=pos.shape)
    return Trajectory(
        positions_A=pos,
        numbers=np.array([3] * n_li + [16] * len(host)),
        cell_A=np.eye(3) * length_A,
        frame_dt_ps=frame_ps,
        temperature_K=temperature_K,
        material_id=material_id,
    )


def _poisson_times(rng: np.random.Generator, rate: float, duration_ps: float) -> np.ndarray:
    n = rng.poisson(rate * duration_ps) if rate > 0 else 0
    return np.sort(rng.uniform(0.0, duration_ps, n))


def _start_sites(rng: np.random.Generator, n_li: int, sites_per_side: int, a_A: float) -> np.ndarray:
    n_sites = sites_per_side**3
    if n_li > n_sites:
        raise ValueError(f"{n_li} Li do not fit on {n_sites} sites")
    return _grid(sites_per_side)[rng.choice(n_sites, n_li, replace=False)] * a_A


def lattice_walk(
    D_cm2_s: float,
    *,
    n_li: int = 8,
    a_A: float = 2.5,
    sites_per_side: int = 4,
    duration_ps: float = 25.0,
    frame_ps: float = 0.05,
    vib_A: float = 0.1,
    temperature_K: float = 600.0,
    pair_A: float | None = None,
    seed: int = 0,
    material_id: str = "walk",
) -> Trajectory:
    """Independent hops: ``n_li`` Li (distinct start sites) and the host framework. With
    ``pair_A`` the Li come in pairs: the second of each pair starts ``pair_A`` along x from the
    first (``n_li`` even), so the nearest Li-Li distance is ``pair_A``, not the site spacing."""
    rng = np.random.default_rng(seed)
    if pair_A is None:
        sites = _start_sites(rng, n_li, sites_per_side, a_A)
    else:
        if n_li % 2:
            raise ValueError("pairs need an even number of Li")
        first = _start_sites(rng, n_li // 2, sites_per_side, a_A)
        sites = np.concatenate([first, first + [pair_A, 0.0, 0.0]])
    rate = hop_rate(D_cm2_s, a_A)
    hops = []
    for _ in range(n_li):
        when = _poisson_times(rng, rate, duration_ps)
        hops.append((when, MOVES[rng.integers(0, 6, len(when))] * a_A))
    return _trajectory(
        sites,
        hops,
        length_A=sites_per_side * a_A,
        duration_ps=duration_ps,
        frame_ps=frame_ps,
        vib_A=vib_A,
        temperature_K=temperature_K,
        rng=rng,
        material_id=material_id,
    )


def caged_walk(
    D_free_cm2_s: float,
    *,
    n_li: int = 24,
    a_A: float = 2.5,
    cage_sites: int = 4,
    duration_ps: float = 25.0,
    frame_ps: float = 0.05,
    vib_A: float = 0.1,
    temperature_K: float = 600.0,
    seed: int = 0,
    material_id: str = "caged",
) -> Trajectory:
    """Each Li hops at the free rate 6 D_free / a^2 inside its own block of ``cage_sites``^3
    sites ((cage_sites - 1) a wide); a hop that would leave the block is not made. Long-time D = 0."""
    rng = np.random.default_rng(seed)
    rate = hop_rate(D_free_cm2_s, a_A)
    # At least one blocked site between periodic images of a cage, and a cell of twice the cage, so
    # that a Li crossing its cage within one frame moves less than half the cell (kinisi's limit).
    n_side = max(cage_sites + 1, 2 * cage_sites)
    start = rng.integers(0, cage_sites, size=(n_li, 3))
    hops = []
    for i in range(n_li):
        when = _poisson_times(rng, rate, duration_ps)
        site, kept_t, kept_v = start[i].copy(), [], []
        for t, move in zip(when, MOVES[rng.integers(0, 6, len(when))], strict=True):
            nxt = site + move.astype(int)
            if np.all((nxt >= 0) & (nxt < cage_sites)):
                site = nxt
                kept_t.append(t)
                kept_v.append(move * a_A)
        hops.append((np.array(kept_t), np.array(kept_v).reshape(-1, 3)))
    return _trajectory(
        start.astype(float) * a_A,
        hops,
        length_A=n_side * a_A,
        duration_ps=duration_ps,
        frame_ps=frame_ps,
        vib_A=vib_A,
        temperature_K=temperature_K,
        rng=rng,
        material_id=material_id,
    )


def _thinned_times(rng: np.random.Generator, rate: Callable[[np.ndarray], np.ndarray], top: float, T: float):
    """Times of an inhomogeneous Poisson process of ``rate(t) <= top`` over [0, T] (thinning)."""
    cand = _poisson_times(rng, top, T)
    return cand[rng.uniform(0.0, top, len(cand)) < rate(cand)]


def transient_walk(
    D_cm2_s: float,
    *,
    start_factor: float = 0.1,
    tau_ps: float = 3.0,
    n_li: int = 24,
    a_A: float = 2.5,
    sites_per_side: int = 4,
    duration_ps: float = 25.0,
    frame_ps: float = 0.05,
    vib_A: float = 0.1,
    temperature_K: float = 600.0,
    seed: int = 0,
    material_id: str = "transient",
) -> Trajectory:
    """Hop rate Gamma(t) = Gamma (1 + (start_factor - 1) exp(-t / tau)), Gamma = 6 D / a^2:
    the long-time D is ``D_cm2_s``; the first few tau are not representative of it."""
    rng = np.random.default_rng(seed)
    sites = _start_sites(rng, n_li, sites_per_side, a_A)
    g = hop_rate(D_cm2_s, a_A)

    def rate(t: np.ndarray) -> np.ndarray:
        return g * (1.0 + (start_factor - 1.0) * np.exp(-t / tau_ps))

    top = g * max(1.0, start_factor)
    hops = []
    for _ in range(n_li):
        when = _thinned_times(rng, rate, top, duration_ps)
        hops.append((when, MOVES[rng.integers(0, 6, len(when))] * a_A))
    return _trajectory(
        sites,
        hops,
        length_A=sites_per_side * a_A,
        duration_ps=duration_ps,
        frame_ps=frame_ps,
        vib_A=vib_A,
        temperature_K=temperature_K,
        rng=rng,
        material_id=material_id,
    )


def back_hop_walk(
    D_cm2_s: float,
    *,
    p_back: float = 0.5,
    back_ps: float = 1.5,
    n_li: int = 24,
    a_A: float = 2.5,
    sites_per_side: int = 4,
    duration_ps: float = 25.0,
    frame_ps: float = 0.05,
    vib_A: float = 0.1,
    temperature_K: float = 600.0,
    seed: int = 0,
    material_id: str = "back-hop",
) -> Trajectory:
    """Forward hops at rate 6 D / (a^2 (1 - p_back)); each is undone with probability ``p_back``
    after an exponential delay of mean ``back_ps``. Long-time D = ``D_cm2_s``; at lags shorter
    than ``back_ps`` the MSD grows as if D were 1 / (1 - p_back) times larger."""
    rng = np.random.default_rng(seed)
    sites = _start_sites(rng, n_li, sites_per_side, a_A)
    rate = hop_rate(D_cm2_s, a_A) / (1.0 - p_back)
    hops = []
    for _ in range(n_li):
        when = _poisson_times(rng, rate, duration_ps)
        jumps = MOVES[rng.integers(0, 6, len(when))] * a_A
        back = rng.uniform(size=len(when)) < p_back
        undo_t = when[back] + rng.exponential(back_ps, int(back.sum()))
        keep = undo_t < duration_ps
        hops.append((np.concatenate([when, undo_t[keep]]), np.concatenate([jumps, -jumps[back][keep]])))
    return _trajectory(
        sites,
        hops,
        length_A=sites_per_side * a_A,
        duration_ps=duration_ps,
        frame_ps=frame_ps,
        vib_A=vib_A,
        temperature_K=temperature_K,
        rng=rng,
        material_id=material_id,
    )


def concerted_walk(
    D_cm2_s: float,
    *,
    group: int = 4,
    n_li: int | None = None,
    a_A: float = 2.5,
    sites_per_side: int = 3,
    duration_ps: float = 25.0,
    frame_ps: float = 0.05,
    vib_A: float = 0.1,
    temperature_K: float = 600.0,
    seed: int = 0,
    material_id: str = "concerted",
) -> Trajectory:
    """Events at rate Gamma n_li / group (Gamma = 6 D / a^2): a random Li and its ``group - 1``
    nearest Li (periodic, at their current sites) hop together by one site vector, so each Li
    hops at rate Gamma (tracer D = ``D_cm2_s``) but hops come in groups. ``n_li`` defaults to one
    Li per site (a full lattice)."""
    rng = np.random.default_rng(seed)
    n_li = sites_per_side**3 if n_li is None else n_li
    if not 1 <= group <= n_li:
        raise ValueError(f"group of {group} Li with {n_li} Li")
    sites = _start_sites(rng, n_li, sites_per_side, a_A)
    length = sites_per_side * a_A
    events = _poisson_times(rng, hop_rate(D_cm2_s, a_A) * n_li / group, duration_ps)
    now = sites.copy()
    times: list[list[float]] = [[] for _ in range(n_li)]
    jumps: list[list[np.ndarray]] = [[] for _ in range(n_li)]
    for t in events:
        lead = rng.integers(n_li)
        d = now - now[lead]
        d -= np.round(d / length) * length
        members = np.argsort(np.einsum("ij,ij->i", d, d), kind="stable")[:group]
        move = MOVES[rng.integers(0, 6)] * a_A
        for m in members:
            times[m].append(t)
            jumps[m].append(move)
        now[members] += move
    hops = [(np.array(t), np.array(j).reshape(-1, 3)) for t, j in zip(times, jumps, strict=True)]
    return _trajectory(
        sites,
        hops,
        length_A=length,
        duration_ps=duration_ps,
        frame_ps=frame_ps,
        vib_A=vib_A,
        temperature_K=temperature_K,
        rng=rng,
        material_id=material_id,
    )
