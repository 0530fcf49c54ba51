"""Trajectory embeddings (training only): per Li atom, the amplitude spectrum of its motion,
embedded by MOMENT-1-small, or the Fourier spectrum itself when no MOMENT weights are at hand.

Spectrum: |rFFT| along time of the x, y, z series of r(t) - r(0) (unwrapped; the displacement
rather than the absolute position, so the zero-frequency bin does not depend on where the atom
sits in the cell): 3 channels x (n_frames // 2 + 1) bins, 1,251 bins for LiFlow's 2,501 frames.

MOMENT was pretrained on 512-step inputs. Two ways to feed it a longer spectrum:
- ``window512`` (default): cut the spectrum into 512-bin windows (the last one zero-padded and
  masked), embed each, average: the input length MOMENT was trained on, as its maintainers
  recommend for long series.
- ``full``: the AML paper's way: the whole spectrum in one input (zero-padded to a multiple of the
  patch length and masked). MOMENT's relative-position encoder accepts it, but it never saw
  inputs this long in pretraining.
MOMENT weights come from a local directory (``config.json`` + ``model.safetensors``), loaded with
strict key checking; nothing is downloaded. Without them the embedder falls back, loudly, to the
AML paper's "Fourier only" ablation: the spectrum averaged over x, y, z and resampled to 512
bins. Every row records its ``embedder`` so nothing downstream mistakes one for the other.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ionscreen import schema

log = logging.getLogger(__name__)

MODES = ("window512", "full")
WINDOW = 512
FOURIER_ONLY = "fourier-only"


class MomentUnavailable(RuntimeError):
    """MOMENT cannot be used (weights or momentfm missing); the message says why."""


def displacement_spectrum(positions_A: np.ndarray) -> np.ndarray:
    """(n_frames, n_atoms, 3) unwrapped positions -> (n_atoms, 3, n_frames // 2 + 1) |rFFT| (float32)."""
    disp = positions_A - positions_A[:1]
    return np.abs(np.fft.rfft(disp, axis=0)).transpose(1, 2, 0).astype(np.float32)


class FourierEmbedder:
    """The "Fourier only" ablation: mean spectrum over x, y, z, linearly resampled to 512 bins."""

    name = FOURIER_ONLY
    mode = "resample512"

    def __call__(self, spectra: np.ndarray) -> np.ndarray:
        mean = spectra.mean(axis=1)  # (n_atoms, n_bins)
        src = np.linspace(0.0, 1.0, mean.shape[1])
        dst = np.linspace(0.0, 1.0, WINDOW)
        return np.stack([np.interp(dst, src, row) for row in mean]).astype(np.float32)


class MomentEmbedder:
    """MOMENT in embedding mode from a local weights directory."""

    def __init__(
        self, weights_dir: str | Path, mode: str = "window512", batch_size: int = 64, device: str = "cpu"
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        d = Path(weights_dir)
        missing = [f for f in ("config.json", "model.safetensors") if not (d / f).is_file()]
        if missing:
            raise MomentUnavailable(f"MOMENT weights directory {d} lacks {', '.join(missing)}")
        try:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from momentfm import MOMENTPipeline
        except ImportError as exc:
            raise MomentUnavailable(
                "momentfm is not installed (it pins numpy 1.25; install it with "
                "`pip install --no-deps momentfm==0.1.4`, see requirements-moment.txt)"
            ) from exc
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = MOMENTPipeline.from_pretrained(
                str(d), model_kwargs={"task_name": "embedding", "enable_gradient_checkpointing": False}, strict=True
            )
            self.model.init()
        self.model.eval().to(device)
        self.torch, self.device, self.mode, self.batch_size = torch, device, mode, batch_size
        self.patch = int(getattr(self.model, "patch_len", 8))
        self.name = f"moment:{d.name}"

    def _embed(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self.torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), self.batch_size):
                xb = torch.from_numpy(x[i : i + self.batch_size]).to(self.device)
                mb = torch.from_numpy(mask[i : i + self.batch_size]).to(self.device)
                out.append(self.model(x_enc=xb, input_mask=mb).embeddings.float().cpu().numpy())
        return np.concatenate(out)

    def __call__(self, spectra: np.ndarray) -> np.ndarray:
        n, c, bins = spectra.shape
        if self.mode == "full":
            length = int(math.ceil(bins / self.patch) * self.patch)
            x = np.zeros((n, c, length), np.float32)
            x[..., :bins] = spectra
            mask = np.zeros((n, length), np.float32)
            mask[:, :bins] = 1
            return self._embed(x, mask)
        n_win = int(math.ceil(bins / WINDOW))
        x = np.zeros((n, c, n_win * WINDOW), np.float32)
        x[..., :bins] = spectra
        mask = np.zeros((n, n_win * WINDOW), np.float32)
        mask[:, :bins] = 1
        xw = x.reshape(n, c, n_win, WINDOW).transpose(0, 2, 1, 3).reshape(n * n_win, c, WINDOW)
        mw = mask.reshape(n * n_win, WINDOW)
        keep = mw.sum(axis=1) > 0
        emb = self._embed(xw[keep], mw[keep])
        weights = mw[keep].sum(axis=1)  # windows weighted by their observed bins
        owner = np.repeat(np.arange(n), n_win)[keep]
        total = np.zeros((n, emb.shape[1]))
        np.add.at(total, owner, emb * weights[:, None])
        return (total / np.bincount(owner, weights=weights, minlength=n)[:, None]).astype(np.float32)


def get_embedder(weights_dir: str | Path | None, mode: str = "window512", device: str = "cpu") -> Any:
    """MOMENT when its weights load; otherwise the labelled Fourier-only fallback, with a warning."""
    if weights_dir:
        try:
            return MomentEmbedder(weights_dir, mode, device=device)
        except MomentUnavailable as exc:
            reason = str(exc)
    else:
        reason = "no MOMENT weights directory configured (embed.trajectory.moment_weights)"
    log.warning(
        "%s: FALLING BACK to the Fourier-only trajectory embedding (the AML paper's "
        "'Fourier only' ablation); rows are labelled embedder='%s'",
        reason,
        FOURIER_ONLY,
    )
    return FourierEmbedder()


def embed_trajectories(
    paths: list[str | Path],
    out: str | Path,
    *,
    weights_dir: str | Path | None = None,
    mode: str = "window512",
    specie: str = "Li",
    device: str = "cpu",
) -> int:
    """Workflow entry: trajectory-embedding rows for every ``specie`` atom of each trajectory table.

    Failed or skipped runs contribute no rows. Returns the number of rows written.
    """
    from ase.data import atomic_numbers

    from ionscreen.trajectory import load_trajectory

    embedder = get_embedder(weights_dir, mode, device)
    z = atomic_numbers[specie]
    rows: list[dict[str, Any]] = []
    for p in paths:
        traj, meta = load_trajectory(p)
        if traj is None or meta.get("status", "ok") != "ok":
            log.info("no trajectory embedding for %s (%s)", p, meta.get("status", "empty"))
            continue
        idx = np.flatnonzero(traj.numbers == z)
        if not len(idx):
            continue
        emb = embedder(displacement_spectrum(traj.positions_A[:, idx]))
        for k, e in zip(idx, emb, strict=True):
            rows.append(
                {
                    "material_id": traj.material_id,
                    "temperature_K": traj.temperature_K,
                    "atom_index": int(k),
                    "embedder": embedder.name,
                    "mode": embedder.mode,
                    "embedding": e,
                }
            )
    schema.write_table(rows, out, "trajectory_embeddings", embedder=embedder.name, mode=embedder.mode)
    return len(rows)
