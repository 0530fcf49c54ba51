"""An upper confidence limit on D for runs too short or too slow to measure it, and the hop
statistics it rests on.

A run that never becomes diffusive still bounds D, but the running coefficient MSD(t) / (2 d t)
is a bound only on average: a slow conductor whose Li happen not to hop within the run shows its
vibrational floor, which lies below the true D. A limit that holds must count what can happen by
chance. Li transport in a solid is hopping between sites, so:

1. **Count hops.** Each Li's position is smoothed over ``smooth_ps`` (vibrations average out); a
   hop is counted when the smoothed position has moved more than ``r_hop`` (half the Li-Li
   nearest-neighbour distance, at most ``HOP_RADIUS_A``: Li sites are 1.5-3.5 A apart however
   sparse the Li are) from where the Li last settled; its jump vector is the move from that site
   to where the Li settles ``smooth_ps`` later (``count_hops``, ``hop_radius_A``).
2. **Count events, not hops.** Li often hop together: in fast conductors 2-4 neighbouring Li move
   at once (concerted migration; He, Zhu and Mo, Nat. Commun. 8, 15893 (2017)). Hops are then not
   independent, the hop count is overdispersed and a Poisson limit on hops is too low (coverage
   0.78 for pairs, about 0.5 for groups of 4). The Li per independent event, b, is measured as
   the variance-to-mean ratio of the hop counts in 0.5 ps bins (``hop_dispersion``: 1 for
   independent hops, whatever their rate, since chance coincidences are Poisson too; g for groups
   of g; sum g^2 / sum g for groups of mixed sizes), and the k hops seen are k / b events. With
   no hop seen the group size is unknown: b = ``max_group`` (4: the largest concerted groups He
   et al. report).
3. **Bound the hop rate.** With K events over T ps the one-sided upper limit of the event rate at
   confidence c is chi2_c(2K + 2) / (2 T) (the exact Poisson limit; 3.0 / T at c = 0.95 when none
   was seen); times b Li per event, over the N Li, it bounds the hop rate per Li.
4. **Bound D.** D = Gamma <l^2> / (2 d) for uncorrelated hops of mean squared length <l^2> along
   the d analysed dimensions; correlated (back-and-forth) hops only make the tracer D smaller.
   <l^2> is the larger of the jumps seen and the Li-Li spacing, and with no hop seen the larger
   of the spacing and ``prior_hop_A`` (3.5 A: Li site-to-site hops in solid electrolytes are
   about 1.5-3.5 A; Li can sit closer to each other than they hop, e.g. paired sites 2.2 A apart
   with 3.0 A hops), projected on d dimensions (l^2 d / 3).

Hop counting loses hops that follow each other within the smoothing time, so for fast, diffusive
runs a second limit is taken from the statistics of a diffusion estimate (He et al., npj Comput.
Mater. 4, 18 (2018)): the relative standard deviation of D from one trajectory is about
3.43 / sqrt(N_eff) + 0.04, with N_eff the total squared displacement of the Li over the run
divided by the squared hop length (``diffusion_relative_error``), itself divided by b (a group of
g Li moving together is one independent displacement, not g). The
limit is D (1 + z_c x that), z_c the one-sided normal quantile (1.645 at 0.95).

``diffusion.label_trajectory`` reports the largest of these limits, the running coefficient and
kinisi's posterior quantile as ``D_upper_cm2_s``. Coverage of the true D on walks with known D
(``ionscreen.labels.walks``: independent, concerted and long hops): tests/labels/test_bounds.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

A2_PS_TO_CM2_S = 1e-4
HOP_RADIUS_A = 1.0  # the largest move from a site that is not yet a hop (smoothed vibrations are ~0.1-0.2 A)


@dataclass
class Hops:
    """Every hop of a trajectory's Li: which Li (index among them), when it left its site
    (``start_ps``, ps from the first frame) and the jump vector (A)."""

    li: np.ndarray  # (k,) int
    start_ps: np.ndarray  # (k,)
    jump_A: np.ndarray  # (k, 3)

    def __len__(self) -> int:
        return len(self.li)


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


def hop_radius_A(spacing_A: float) -> float:
    """How far (A) a Li must move from where it settled to have hopped: half the Li spacing
    (``li_spacing_A``), at most ``HOP_RADIUS_A``."""
    return min(spacing_A / 2.0, HOP_RADIUS_A)


def _smooth(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving average over ``w`` frames along axis 0 (shorter windows at the ends)."""
    if w <= 1:
        return x
    c = np.cumsum(np.concatenate([np.zeros_like(x[:1]), x]), axis=0)
    n = len(x)
    lo = np.clip(np.arange(n) - w // 2, 0, n)
    hi = np.clip(np.arange(n) + (w - w // 2), 0, n)
    return (c[hi] - c[lo]) / (hi - lo)[:, None, None]


def count_hops(li_positions: np.ndarray, frame_ps: float, r_hop_A: float, smooth_ps: float = 0.1) -> Hops:
    """Every hop of every Li (``li_positions``: frames x Li x 3, unwrapped, A)."""
    w = max(1, int(round(smooth_ps / frame_ps)))
    sm = _smooth(li_positions, w)
    n_frames, n_li, _ = sm.shape
    li, start, jump = [], [], []
    for i in range(n_li):
        track, anchor, t = sm[:, i], sm[0, i], 1
        moved = np.linalg.norm(track - anchor, axis=1) > r_hop_A
        while t < n_frames:
            nxt = np.flatnonzero(moved[t:])
            if not len(nxt):
                break
            t += int(nxt[0])
            settle = min(t + w, n_frames - 1)
            li.append(i)
            start.append(t * frame_ps)
            jump.append(track[settle] - anchor)
            anchor = track[settle]
            moved = np.linalg.norm(track - anchor, axis=1) > r_hop_A
            t = settle + 1
    return Hops(
        np.array(li, dtype=int),
        np.array(start, dtype=float),
        np.array(jump, dtype=float).reshape(-1, 3),
    )


def hop_dispersion(start_ps: np.ndarray, duration_ps: float, bin_ps: float = 0.5) -> float:
    """Li per independent event: the variance-to-mean ratio of the hop counts in ``bin_ps`` bins
    (the larger of two bin phases, half a bin apart, so a group split by a bin edge still counts),
    at least 1; NaN with no hop. Independent hops give 1 (chance coincidences are part of the
    Poisson variance), hops in groups of g give about g: the dispersion index of a compound Poisson
    count, sum(g^2) / sum(g)."""
    if len(start_ps) == 0:
        return float("nan")
    n_bins = max(2, int(duration_ps // bin_ps))
    ratios = []
    for phase in (0.0, 0.5):
        edges = (np.arange(n_bins + 1) + phase) * bin_ps
        counts = np.histogram(start_ps, bins=edges[edges <= duration_ps + 1e-9])[0]
        if len(counts) >= 2 and counts.mean() > 0:
            ratios.append(counts.var(ddof=1) / counts.mean())
    return max([1.0, *ratios])


def hop_upper_bound(
    li_positions: np.ndarray,
    cell_A: np.ndarray,
    frame_ps: float,
    dims: list[int],
    confidence: float = 0.95,
    smooth_ps: float = 0.1,
    *,
    max_group: int = 4,
    prior_hop_A: float = 3.5,
) -> dict[str, float]:
    """Upper confidence limit of D (cm^2/s) from counting hop events, with what it rests on:
    ``n_hops``, ``hop_dispersion`` (Li per independent event, ``hop_dispersion``; ``max_group``
    with no hop seen),
    ``hop_length_A`` (root of <l^2> used, along ``dims``), ``seen_hop_A`` (root mean squared
    length of the hops seen along ``dims``, NaN when none), ``li_spacing_A``."""
    from scipy.stats import chi2

    n_frames, n_li, _ = li_positions.shape
    duration = (n_frames - 1) * frame_ps
    spacing = li_spacing_A(li_positions, cell_A)
    hops = count_hops(li_positions, frame_ps, hop_radius_A(spacing), smooth_ps)
    dispersion = min(hop_dispersion(hops.start_ps, duration) if len(hops) else float(max_group), float(n_li))
    events = len(hops) / dispersion  # independent events (fractional: chi2 takes any degrees of freedom)
    d = len(dims)
    seen = float(np.mean(np.sum(hops.jump_A[:, dims] ** 2, axis=1))) if len(hops) else float("nan")
    l2 = max(seen, spacing**2 * d / 3.0) if len(hops) else max(spacing, prior_hop_A) ** 2 * d / 3.0
    event_rate_up = chi2.ppf(confidence, 2 * events + 2) / (2.0 * duration)  # events per ps
    rate_up = event_rate_up * dispersion / n_li  # hops per ps per Li
    return {
        "D_upper_cm2_s": rate_up * l2 / (2 * d) * A2_PS_TO_CM2_S,
        "n_hops": float(len(hops)),
        "hop_dispersion": dispersion,
        "hop_length_A": float(np.sqrt(l2)),
        "seen_hop_A": float(np.sqrt(seen)),
        "li_spacing_A": spacing,
    }


def diffusion_relative_error(li_positions: np.ndarray, hop_length_A: float, dispersion: float = 1.0) -> float:
    """He et al.'s relative standard deviation of D from one trajectory, 3.43 / sqrt(N_eff) + 0.04,
    N_eff = sum over Li of |r(end) - r(0)|^2 / hop_length^2 / dispersion (inf when nothing moved)."""
    n_eff = float(np.sum((li_positions[-1] - li_positions[0]) ** 2)) / hop_length_A**2 / dispersion
    return 3.43 / np.sqrt(n_eff) + 0.04 if n_eff > 0 else float("inf")


def statistical_upper_bound(
    D_cm2_s: float, li_positions: np.ndarray, hop_length_A: float, confidence: float = 0.95, dispersion: float = 1.0
) -> float:
    """D (1 + z_c x He et al.'s relative error): the limit for a diffusive run, cm^2/s."""
    from scipy.stats import norm

    rel = diffusion_relative_error(li_positions, hop_length_A, dispersion)
    return D_cm2_s * (1.0 + norm.ppf(confidence) * rel)
