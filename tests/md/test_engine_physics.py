"""Physics of the MD stage with the real potential on a 32-atom alpha-Li3N cell.

alpha-Li3N: P6/mmm, a = 3.648 A, c = 3.875 A (Rabenau & Schulz, J. Less-Common Met. 50, 155
(1976)); 2x2x2 supercell, 32 atoms. SevenNet-0 costs ~0.35 s per step here, so the runs are short
and the statistics are sized for that: 32 atoms give instantaneous temperature fluctuations of
sqrt(2 / (3N - 3)) ~ 15 %, and the second-half mean over ~150 fs of uncorrelated-enough samples
is good to a few per cent.
"""

from __future__ import annotations

import numpy as np
import pytest

from ionscreen import schema
from ionscreen.md.engine import MDSettings, run_md
from tests.conftest import li3n

pytestmark = pytest.mark.slow


def test_nose_hoover_holds_the_target_temperature(tmp_path):
    T = 600.0
    row = run_md(
        li3n() * (2, 2, 2),
        MDSettings(
            temperature_K=T, n_steps=300, timestep_fs=2.0, interval=2, tdamp_fs=40.0, seed=3, threads=2, device="cpu"
        ),
        tmp_path / "t.parquet",
        material_id="Li3N",
        progress=False,
    )
    assert row["status"] == "ok"
    df = schema.read_table(tmp_path / "t.parquet", "trajectory")
    temps = df["temperature_K"].to_numpy()
    second = temps[len(temps) // 2 :]
    print(f"Li3N-32 NVT at {T:g} K: second-half mean {second.mean():.1f} K (std {second.std():.1f} K)")
    assert abs(second.mean() / T - 1) < 0.10
    # Unwrapped: no frame-to-frame jump of anything like a cell length (widths 6.3-7.75 A).
    pos = np.stack(df["positions_A"].to_list()).reshape(len(df), 32, 3)
    assert np.linalg.norm(np.diff(pos, axis=0), axis=-1).max() < 1.0


def test_nve_energy_drift_is_small(tmp_path):
    row = run_md(
        li3n() * (2, 2, 2),
        MDSettings(
            temperature_K=600.0,
            n_steps=100,
            timestep_fs=1.0,
            interval=2,
            thermostat="nve",
            seed=3,
            threads=2,
            device="cpu",
        ),
        tmp_path / "t.parquet",
        progress=False,
    )
    assert row["status"] == "ok"
    df = schema.read_table(tmp_path / "t.parquet", "trajectory")
    # total energy = potential + kinetic; kinetic from T = 2 KE / (3 N kB)
    kB = 8.617333262e-5
    e_tot = df["potential_energy_eV"].to_numpy() + 1.5 * 32 * kB * df["temperature_K"].to_numpy()
    t = df["time_ps"].to_numpy()
    drift = np.polyfit(t, e_tot / 32, 1)[0]  # eV/atom/ps
    print(
        f"Li3N-32 NVE, 1 fs: drift {drift * 1000:.3f} meV/atom/ps, fluctuation {e_tot.std() / 32 * 1000:.3f} meV/atom"
    )
    assert abs(drift) < 5e-3  # < 5 meV/atom/ps
    assert e_tot.std() / 32 < 5e-3
