"""The label stage's tables: a run's label or its failure row, bounds for runs the temperature
ladder skipped, Arrhenius rows (activation energy in eV) over a material's temperatures, and the
workflow's and the command line's entry (``label_files``, ``collect_label_files``)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ionscreen import atomic, schema
from ionscreen.labels.diffusion import LabelSettings, label_trajectory
from ionscreen.labels.transport import K_B_EV, arrhenius_fit, nernst_einstein_S_cm
from ionscreen.trajectory import LabelError, Trajectory, read_trajectory
from ionscreen.trajectory import material_id as trajectory_id

log = logging.getLogger(__name__)


def arrhenius_row(material_id: str, rows: list[dict[str, Any]], min_temperatures: int = 3) -> dict[str, Any]:
    """Arrhenius table row for one material from its label rows."""
    nan = float("nan")
    good = [r for r in rows if r.get("status") == "ok" and r.get("diffusive") and r["D_cm2_s"] > 0]
    out: dict[str, Any] = {
        "material_id": material_id,
        "n_temperatures": len(good),
        "Ea_eV": nan,
        "Ea_std_eV": nan,
        "Ea_ci95_low_eV": nan,
        "Ea_ci95_high_eV": nan,
        "log10_D0_cm2_s": nan,
        "log10_D0_std_cm2_s": nan,
        "cov_lnD0_Ea": nan,
        "t95": nan,
        "D_300K_cm2_s": nan,
        "sigma_300K_S_cm": nan,
        "extrapolated": True,
    }
    if len(good) < min_temperatures:
        out["status"] = f"needs >= {min_temperatures} diffusive temperatures, has {len(good)}"
        return out
    T = np.array([r["temperature_K"] for r in good])
    fit = arrhenius_fit(T, np.array([r["D_cm2_s"] for r in good]), np.array([r["D_std_cm2_s"] for r in good]))
    D300 = 10 ** fit["log10_D0_cm2_s"] * math.exp(-fit["Ea_eV"] / (K_B_EV * 300.0))
    out.update(
        fit,
        status="ok",
        D_300K_cm2_s=D300,
        sigma_300K_S_cm=nernst_einstein_S_cm(D300, good[0]["li_density_A3"], 300.0),
        extrapolated=bool(T.min() > 300.0),
    )
    return out


def failed_row(material_id: str, temperature_K: float, status: str, reason: str) -> dict[str, Any]:
    return {
        "material_id": material_id,
        "temperature_K": float(temperature_K),
        "status": status,
        "reason": reason,
        "diffusive": False,
    }


def label_or_failed(
    traj: Trajectory, settings: LabelSettings, material_id: str | None = None, temperature_K: float | None = None
) -> dict[str, Any]:
    """``label_trajectory``'s row, or a 'failed' row with the reason (logged) when it cannot label;
    the failed row names ``material_id``/``temperature_K`` (default: the trajectory's)."""
    try:
        return label_trajectory(traj, settings)
    except LabelError as exc:
        mid = traj.material_id if material_id is None else material_id
        temp = traj.temperature_K if temperature_K is None else temperature_K
        log.warning("cannot label %s at %g K: %s", mid, temp, exc)
        return failed_row(mid, temp, "failed", str(exc))


def bounds_below(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of runs the temperature ladder skipped (``stop_reason`` 'ladder') become upper bounds
    (status 'bound', not diffusive) from the same material's run above them: D(T) only falls as T
    falls (md.stage.ladder_skip), so the upper limit of D at the nearest higher temperature bounds
    D here; sigma_upper is its Nernst-Einstein value at this temperature."""

    out = list(rows)
    by_material: dict[str, list[int]] = {}
    for i, r in enumerate(out):
        by_material.setdefault(r["material_id"], []).append(i)
    for idx in by_material.values():
        idx = sorted(idx, key=lambda i: -float(out[i]["temperature_K"]))
        for k, i in enumerate(idx):
            r = out[i]
            if r.get("status") != "skipped" or r.get("stop_reason") != "ladder" or k == 0:
                continue
            above = out[idx[k - 1]]
            upper = float(above.get("D_upper_cm2_s", float("nan")))
            if not math.isfinite(upper):
                continue
            out[i] = {
                **r,
                "status": "bound",
                "D_upper_cm2_s": upper,
                "n_li": above.get("n_li"),
                "li_density_A3": above.get("li_density_A3"),
                "sigma_upper_S_cm": nernst_einstein_S_cm(
                    upper, float(above["li_density_A3"]), float(r["temperature_K"])
                ),
            }
    return out


def label_files(
    paths: list[str | Path],
    settings: LabelSettings,
    labels_out: str | Path,
    arrhenius_out: str | Path | None = None,
    msd_out: str | Path | None = None,
    read_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Label trajectories (one material's temperatures, or any set); bad runs get a reason row.

    ``read_options`` (timestep_fs, interval, temperature_K) apply to non-Parquet trajectories.
    """
    import json

    rows: list[dict[str, Any]] = []
    curves: dict[str, Any] = {}
    for p in paths:
        try:
            traj, meta = read_trajectory(p, **(read_options or {}))
        except LabelError as exc:
            log.warning("cannot read %s: %s", p, exc)
            rows.append(failed_row(trajectory_id(Path(p)), float("nan"), "failed", str(exc)))
            continue
        mid, temp = meta.get("material_id", trajectory_id(Path(p))), float(meta.get("temperature_K", "nan"))
        if traj is None or meta.get("status") in ("skipped", "failed"):
            status = meta.get("status") or "skipped"
            row = failed_row(
                mid, temp, status if status != "ok" else "skipped", meta.get("reason") or "trajectory has no frames"
            )
            rows.append({**row, "stop_reason": meta.get("stop_reason", "")})
            continue
        row = label_or_failed(traj, settings, mid, temp)
        if row["status"] != "ok":
            rows.append(row)
            continue
        curves[f"{mid}|{temp:g}"] = {**row.pop("_msd"), "start_dt_ps": row["start_dt_ps"]}
        rows.append(row)
    rows = bounds_below(rows)
    schema.write_table(rows, labels_out, "labels", settings=settings.__dict__)
    if arrhenius_out is not None:
        by_mat: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_mat.setdefault(r["material_id"], []).append(r)
        schema.write_table([arrhenius_row(m, rs) for m, rs in by_mat.items()], arrhenius_out, "arrhenius")
    if msd_out is not None:
        atomic.write_text_atomic(msd_out, json.dumps(curves))
    return rows


def collect_label_files(
    labels: list[str | Path],
    arrhenius: list[str | Path],
    msd: list[str | Path],
    labels_out: str | Path,
    arrhenius_out: str | Path,
    msd_out: str | Path,
) -> None:
    """Concatenate per-material label tables, Arrhenius tables and MSD-curve files."""
    import json

    schema.write_table(schema.concat_tables(labels, "labels"), labels_out, "labels")
    schema.write_table(schema.concat_tables(arrhenius, "arrhenius"), arrhenius_out, "arrhenius")
    curves: dict[str, Any] = {}
    for p in msd:
        curves.update(json.loads(Path(p).read_text()))
    atomic.write_text_atomic(msd_out, json.dumps(curves))
