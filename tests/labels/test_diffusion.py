"""Labels on real trajectories that no one here wrote (kinisi's Li6PS5Cl and Li7P3S11)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ionscreen import schema
from ionscreen.labels.diffusion import LabelSettings, label_trajectory
from ionscreen.labels.stage import arrhenius_row, label_files
from ionscreen.labels.transport import arrhenius_fit, nernst_einstein_S_cm
from ionscreen.trajectory import LabelError, Trajectory


def test_argyrodite_fixed_window_matches_kinisi_documentation(argyrodite_traj):
    # kinisi docs (vasp_d.ipynb): D = (1.24 +- 0.11) x 10^-5 cm^2/s with start_dt 3 ps, xy plane.
    row = label_trajectory(argyrodite_traj, LabelSettings(dimension="xy", start_dt_ps=3.0))
    assert row["diffusive"]
    assert row["D_cm2_s"] == pytest.approx(1.24e-5, rel=0.05)
    assert row["D_std_cm2_s"] == pytest.approx(0.11e-5, rel=0.25)
    assert row["D_ci95_low_cm2_s"] < row["D_cm2_s"] < row["D_ci95_high_cm2_s"]


def test_argyrodite_automatic_window(argyrodite_traj):
    row = label_trajectory(argyrodite_traj, LabelSettings(dimension="xy"))
    assert row["diffusive"] and 1.0 <= row["start_dt_ps"] <= 7.0
    assert row["D_cm2_s"] == pytest.approx(1.24e-5, rel=0.15)
    assert 0.8 <= row["msd_slope"] <= 1.25


def test_msd_final_is_single_origin_mean_over_li(argyrodite_traj):
    row = label_trajectory(argyrodite_traj, LabelSettings(dimension="xyz", start_dt_ps=3.0))
    li = argyrodite_traj.numbers == 3
    d = argyrodite_traj.positions_A[-1, li] - argyrodite_traj.positions_A[0, li]
    assert row["msd_final_A2"] == pytest.approx(float(np.mean(np.sum(d * d, axis=1))), rel=1e-12)
    assert row["msd_per_time_A2_ps"] == pytest.approx(row["msd_final_A2"] / argyrodite_traj.duration_ps)
    assert row["n_li"] == 192


def test_lips_is_flagged_non_diffusive(kinisi_inputs):
    # Li7P3S11: sub-diffusive over its length (log-log slope ~0.55, plateau ~1.4 A^2).
    from ionscreen.trajectory import read_trajectory

    traj, _ = read_trajectory(kinisi_inputs / "LiPS.exyz", timestep_fs=1.0, interval=20)
    assert traj.n_frames == 200 and len(traj.numbers) == 2688
    row = label_trajectory(traj, LabelSettings())
    assert row["diffusive"] is False
    assert math.isnan(row["D_cm2_s"]) and math.isnan(row["sigma_S_cm"])
    assert row["msd_final_A2"] > 0 and row["msd_slope"] < 0.8


def test_nernst_einstein_by_hand():
    # n = 1 Li / 100 A^3 = 1e28 m^-3, D = 1e-5 cm^2/s = 1e-9 m^2/s, T = 300 K:
    # sigma = n e^2 D / (kB T) = 1e28 * (1.602e-19)^2 * 1e-9 / (1.381e-23 * 300) = 61.97 S/m
    assert nernst_einstein_S_cm(1e-5, 0.01, 300.0) == pytest.approx(0.6197, rel=1e-3)


def test_arrhenius_recovers_activation_energy():
    kB = 8.617333262e-5
    T = np.array([600.0, 800.0, 1000.0, 1200.0])
    D = 1e-3 * np.exp(-0.25 / (kB * T))
    fit = arrhenius_fit(T, D, 0.05 * D)
    assert fit["Ea_eV"] == pytest.approx(0.25, abs=1e-9)
    assert fit["log10_D0_cm2_s"] == pytest.approx(-3.0, abs=1e-9)
    rows = [
        {
            "status": "ok",
            "diffusive": True,
            "temperature_K": t,
            "D_cm2_s": d,
            "D_std_cm2_s": 0.05 * d,
            "li_density_A3": 0.02,
        }
        for t, d in zip(T, D, strict=True)
    ]
    out = arrhenius_row("m", rows)
    assert out["status"] == "ok" and out["extrapolated"] is True
    assert out["D_300K_cm2_s"] == pytest.approx(1e-3 * math.exp(-0.25 / (kB * 300)), rel=1e-6)
    assert "needs >= 3" in arrhenius_row("m", rows[:2])["status"]


def _toy(n_frames=50, numbers=(3, 3, 8), **kw):
    rng = np.random.default_rng(0)
    pos = np.cumsum(rng.normal(0, 0.1, (n_frames, len(numbers), 3)), axis=0)
    args = {
        "positions_A": pos,
        "numbers": np.array(numbers),
        "cell_A": np.eye(3) * 5,
        "frame_dt_ps": 0.01,
        "temperature_K": 800.0,
        "material_id": "toy",
    }
    args.update(kw)
    return Trajectory(**args)


@pytest.mark.parametrize(
    ("traj", "reason"),
    [
        (_toy(n_frames=5), "too few frames: 5 < 20"),
        (_toy(numbers=(11, 11, 8)), "no Li atoms"),
        (_toy(cell_A=np.zeros((3, 3))), "non-zero volume"),
    ],
)
def test_bad_trajectories_give_reasons(traj, reason):
    with pytest.raises(LabelError, match=reason):
        label_trajectory(traj, LabelSettings())


def test_nan_positions_give_a_reason():
    t = _toy()
    t.positions_A[10, 0, 0] = np.nan
    with pytest.raises(LabelError, match="NaN"):
        label_trajectory(t, LabelSettings())


def test_label_files_writes_rows_for_good_and_bad_runs(tmp_path):
    from ionscreen.md.engine import MDSettings, run_md
    from ionscreen.md.recorder import skipped_run
    from tests.conftest import li3n

    s = MDSettings(temperature_K=800.0, n_steps=60, timestep_fs=1.0, interval=2, mlip="lj")
    run_md(li3n() * (2, 2, 1), s, tmp_path / "ok.parquet", material_id="Li3N", progress=False)
    skipped_run(tmp_path / "skip.parquet", "Li3N", MDSettings(temperature_K=1200.0), "rejected at fetch")
    rows = label_files(
        [tmp_path / "ok.parquet", tmp_path / "skip.parquet"],
        LabelSettings(n_dt=20),
        tmp_path / "labels.parquet",
        tmp_path / "arr.parquet",
        tmp_path / "msd.json",
    )
    df = schema.read_table(tmp_path / "labels.parquet", "labels")
    assert df["status"].tolist() == ["ok", "skipped"]
    assert rows[0]["diffusive"] is False  # 0.06 ps never leaves the vibrational regime
    assert df["msd_final_A2"].iloc[0] > 0
    assert "needs >= 3" in schema.read_table(tmp_path / "arr.parquet", "arrhenius")["status"].iloc[0]


def test_slow_run_keeps_an_upper_bound_on_D():
    """A slow conductor (D far below what a short run resolves) is not diffusive, but its label row
    keeps an upper bound on D (and sigma) instead of dropping out of the training data."""
    rng = np.random.default_rng(1)
    n_frames, dt_ps, n_li = 400, 0.01, 32
    D_true_A2_ps = 0.02  # 2e-6 cm^2/s
    walk = np.cumsum(rng.normal(0, math.sqrt(2 * D_true_A2_ps * dt_ps), (n_frames, n_li, 3)), axis=0)
    vib = rng.normal(0, 0.25, (n_frames, n_li, 3))  # thermal vibration, 0.19 A^2 floor
    host = rng.normal(0, 0.05, (n_frames, 8, 3)) + 2.0
    pos = np.concatenate([walk + vib + 5.0, host], axis=1)
    traj = Trajectory(pos, np.array([3] * n_li + [16] * 8), np.eye(3) * 12.0, dt_ps, 600.0, "slow")
    row = label_trajectory(traj, LabelSettings(n_dt=40))
    assert row["diffusive"] is False and math.isnan(row["D_cm2_s"])
    D_true = D_true_A2_ps * 1e-4
    assert D_true < row["D_upper_cm2_s"] < 10 * D_true
    assert row["sigma_upper_S_cm"] == pytest.approx(nernst_einstein_S_cm(row["D_upper_cm2_s"], n_li / 12.0**3, 600.0))


def test_arrhenius_interval_uses_student_t():
    from scipy.stats import t as student_t

    kB = 8.617333262e-5
    T = np.array([600.0, 800.0, 1000.0, 1200.0])
    D = 1e-3 * np.exp(-0.25 / (kB * T)) * np.array([1.1, 0.9, 1.05, 0.97])  # scatter beyond the errors
    fit = arrhenius_fit(T, D, 0.01 * D)
    t95 = student_t.ppf(0.975, 2)
    assert fit["t95"] == pytest.approx(4.303, abs=1e-3)
    assert fit["Ea_ci95_high_eV"] - fit["Ea_eV"] == pytest.approx(t95 * fit["Ea_std_eV"])
    # cov_lnD0_Ea is the covariance of ln D0 and Ea/k_B (K): its correlation is a number in [-1, 1].
    corr = fit["cov_lnD0_Ea"] / (fit["log10_D0_std_cm2_s"] * math.log(10) * fit["Ea_std_eV"] / kB)
    assert -1.0 <= corr <= 1.0 and corr > 0.9  # ln D0 and Ea rise together


def test_frames_kinisi_cannot_unwrap_are_refused():
    """A Li that moves half a cell between two frames would be unwrapped the other way by kinisi
    (minimum image): the label stage says so instead of reporting a wrong D."""
    from dataclasses import replace

    from ionscreen.labels.walks import lattice_walk

    walk = lattice_walk(1e-5, seed=1)  # a 10 A cell
    pos = walk.positions_A.copy()
    pos[300:, 0] += [5.5, 0.0, 0.0]  # one Li jumps 5.5 A between frames 299 and 300 (+ vibrations of 0.1 A)
    with pytest.raises(LabelError, match=r"moves 0\.5\d of a cell vector between two frames"):
        label_trajectory(replace(walk, positions_A=pos), LabelSettings(n_dt=32))
    assert label_trajectory(walk, LabelSettings(n_dt=32))["status"] == "ok"
