"""An upper confidence limit on D for runs too short or too slow to measure it.

A run that never becomes diffusive still bounds D, but the running coefficient MSD(t) / (2 d t)
is a bound only on average: a slow conductor whose Li happen not to hop within the run shows its
vibrational floor, which lies below the true D. A limit that holds must count what can happen
by chance. Li transport in a solid is hopping between sites, so:

1. **Count hops.** Each Li's position is smoothed over ``smooth_ps`` (vibrations average out);
   a hop is counted when the smoothed position has moved more than ``r_hop`` (half the Li-Li
   nearest-neighbour distance) from where the Li last settled, and its jump vector is the move
   from that site to where the Li settles ``smooth_ps`` later.
2. **Bound the hop rate.** Hops are a Poisson process: with k hops seen over N Li x T ps, the
   one-sided upper limit of the rate per Li at confidence c is Gamma_up = chi2_c(2k + 2) / (2 N T)
   (the exact Poisson limit; 3.0 / (N T) at c = 0.95 when no hop was seen).
3. **Bound D.** D = Gamma <l^2> / (2 d) for uncorrelated hops of mean squared length <l^2> along
   the d analysed dimensions; correlated (back-and-forth) hops only make the tracer D smaller.
   <l^2> is the larger of the jumps seen and the site spacing (the Li-Li nearest-neighbour
   distance, projected on d dimensions: s^2 d / 3), so a run with no hop still has a length.

Hop counting loses hops that follow each other within the smoothing time, so for fast, diffusive
runs a second limit is taken from the statistics of a diffusion estimate (He et al., npj Comput.
Mater. 4, 18 (2018)): the relative standard deviation of D from one trajectory is about
3.43 / sqrt(N_eff) + 0.04, with N_eff the total squared displacement of the Li over the run
divided by the squared hop length (``diffusion_relative_error``), and the limit is
D (1 + z_c x that), z_c the one-sided normal quantile (1.645 at 0.95).

``diffusion.label_trajectory`` reports the largest of these limits, the running coefficient and
kinisi's posterior quantile as ``D_upper_cm2_s``. Coverage on walks with known D
(``ionscreen.labels.walks``): tests/labels/test_bounds.py.
"""

from __future__ import annotations

import numpy as np

A2_PS_TO_CM2_S = 1e-4


def li_spacing_A(li_positions: np.ndarray, cell_A: np.ndarray) -> float:
    """Median over Li of the distance to its nearest other Li (periodic images included), A,
    at the first frame; with one Li, the distance to its own nearest image."""
    from ase.geometry import get_distances

    pos = li_positions[0]
    _, d = get_distances(pos, pos, cell=cell_A, pbc=True)
    if len(pos) > 1:
        np.fill_diagonal(d, np.inf)
        return float(np.median(d.min(axis=1)))
    widths = 1.0 / np.linalg.norm(np.linalg.inv(cell_A), axis=0)
    return float(widths.min())


def _smooth(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving average over ``w`` frames along axis 0 (shorter windows at the ends)."""
    if w <= 1:
        return x
    c = np.cumsum(np.concatenate([np.zeros_like(x[:1]), x]), axis=0)
    n = len(x)
    lo = np.clip(np.arange(n) - w // 2, 0, n)
    hi = np.clip(np.arange(n) + (w - w // 2), 0, n)
    return (c[hi] - c[lo]) / (hi - lo)[:, None, None]


def count_hops(li_positions: np.ndarray, frame_ps: float, r_hop_A: float, smooth_ps: float = 0.1) -> list[np.ndarray]:
    """Jump vectors (A) of every hop, per Li: list of (n_hops_i, 3) arrays."""
    w = max(1, int(round(smooth_ps / frame_ps)))
    sm = _smooth(li_positions, w)
    n_frames, n_li, _ = sm.shape
    jumps: list[np.ndarray] = []
    for i in range(n_li):
        track, anchor, out, t = sm[:, i], sm[0, i], [], 1
        moved = np.linalg.norm(track - anchor, axis=1) > r_hop_A
        while t < n_frames:
            if not moved[t]:
                t += 1
                continue
            settle = min(t + w, n_frames - 1)
            out.append(track[settle] - anchor)
            anchor = track[settle]
            moved = np.linalg.norm(track - anchor, axis=1) > r_hop_A
            t = settle + 1
        jumps.append(np.array(out).reshape(-1, 3))
    return jumps


def hop_upper_bound(
    li_positions: np.ndarray,
    cell_A: np.ndarray,
    frame_ps: float,
    dims: list[int],
    confidence: float = 0.95,
    smooth_ps: float = 0.1,
) -> dict[str, float]:
    """Upper confidence limit of D (cm^2/s) from hop counting, with what it rests on:
    ``n_hops``, ``hop_length_A`` (root of <l^2> used, along ``dims``), ``li_spacing_A``."""
    from scipy.stats import chi2

    n_frames, n_li, _ = li_positions.shape
    duration = (n_frames - 1) * frame_ps
    spacing = li_spacing_A(li_positions, cell_A)
    jumps = np.concatenate(count_hops(li_positions, frame_ps, spacing / 2.0, smooth_ps))
    k = len(jumps)
    d = len(dims)
    seen = float(np.mean(np.sum(jumps[:, dims] ** 2, axis=1))) if k else 0.0
    l2 = max(seen, spacing**2 * d / 3.0)
    rate_up = chi2.ppf(confidence, 2 * k + 2) / (2.0 * n_li * duration)  # hops per ps per Li
    return {
        "D_upper_cm2_s": rate_up * l2 / (2 * d) * A2_PS_TO_CM2_S,
        "n_hops": float(k),
        "hop_length_A": float(np.sqrt(l2)),
        "li_spacing_A": spacing,
    }


def diffusion_relative_error(li_positions: np.ndarray, hop_length_A: float) -> float:
    """He et al.'s relative standard deviation of D from one trajectory, 3.43 / sqrt(N_eff) + 0.04,
    N_eff = sum over Li of |r(end) - r(0)|^2 / hop_length^2 (inf when nothing moved)."""
    n_eff = float(np.sum((li_positions[-1] - li_positions[0]) ** 2)) / hop_length_A**2
    return 3.43 / np.sqrt(n_eff) + 0.04 if n_eff > 0 else float("inf")


def statistical_upper_bound(
    D_cm2_s: float, li_positions: np.ndarray, hop_length_A: float, confidence: float = 0.95
) -> float:
    """D (1 + z_c x He et al.'s relative error): the limit for a diffusive run, cm^2/s."""
    from scipy.stats import norm

    return D_cm2_s * (1.0 + norm.ppf(confidence) * diffusion_relative_error(li_positions, hop_length_A))
