"""Synthetic Li trajectories with a known diffusion coefficient, to test labels and stop rules.

A hopping model of a Li conductor: Li atoms on a simple cubic lattice of sites with spacing
``a_A`` (A) in a periodic cubic cell, each hopping to one of its six neighbour sites as a Poisson
process of total rate Gamma = 6 D / a^2, so the tracer diffusion coefficient is exactly D
(3D lattice walk, no site exclusion: D = Gamma a^2 / 6). On top of the site positions every atom
vibrates (independent Gaussian displacements, ``vib_A`` per Cartesian component); a static host
framework (sulfur atoms on the cube's body centres) gives kinisi its drift reference.

Units: D in cm^2/s (1 cm^2/s = 1e4 A^2/ps), times in ps, lengths in A.
"""

from __future__ import annotations

import numpy as np

from ionscreen.trajectory import Trajectory

A2_PS_PER_CM2_S = 1e4


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
    seed: int = 0,
    material_id: str = "walk",
) -> Trajectory:
    """One trajectory of ``n_li`` hopping Li (distinct start sites) and ``n_li`` host atoms."""
    rng = np.random.default_rng(seed)
    n_sites = sites_per_side**3
    if n_li > n_sites:
        raise ValueError(f"{n_li} Li do not fit on {n_sites} sites")
    length = sites_per_side * a_A
    grid = np.stack(np.meshgrid(*[np.arange(sites_per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    start = grid[rng.choice(n_sites, n_li, replace=False)].astype(float) * a_A
    n_frames = int(round(duration_ps / frame_ps)) + 1
    times = np.arange(n_frames) * frame_ps
    rate = 6.0 * D_cm2_s * A2_PS_PER_CM2_S / a_A**2  # hops per ps per Li
    moves = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float) * a_A
    li = np.repeat(start[None], n_frames, axis=0)
    for i in range(n_li):
        n_hops = rng.poisson(rate * duration_ps) if rate > 0 else 0
        when = np.sort(rng.uniform(0.0, duration_ps, n_hops))
        steps = moves[rng.integers(0, 6, n_hops)]
        # Displacement at each frame: the sum of the hops made by then.
        done = np.searchsorted(when, times, side="right")
        path = np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])
        li[:, i] += path[done]
    host = (grid[rng.choice(n_sites, n_li, replace=False)].astype(float) + 0.5) * a_A
    pos = np.concatenate([li, np.repeat(host[None], n_frames, axis=0)], axis=1)
    pos += rng.normal(scale=vib_A, size=pos.shape)
    numbers = np.array([3] * n_li + [16] * n_li)
    return Trajectory(
        positions_A=pos,
        numbers=numbers,
        cell_A=np.eye(3) * length,
        frame_dt_ps=frame_ps,
        temperature_K=temperature_K,
        material_id=material_id,
    )
