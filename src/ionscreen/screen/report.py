"""The screening report: one self-contained HTML file (plots embedded as PNG).

Sections: the ranking (top k, with flags), the model's parity plot and metrics on its own
splits, MSD and Arrhenius plots of the training runs, and where candidates sit relative to the
training data in hidden space.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ionscreen import __version__, atomic, schema
from ionscreen.learn.meta import ModelMeta
from ionscreen.screen.plots import arrhenius_plot, hidden_plot, msd_plot, parity_plot

RT_REPORT_COLUMNS = ["sigma_RT (S/cm)", "log10 sigma_RT", "sigma_RT flags"]


def room_temperature_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (predictions) with the room-temperature model's columns as the report shows them:
    sigma in S/cm, log10 sigma +- std, and flags; empty strings where the model did not run."""
    rows = rows.copy()
    x, s = rows["sigma_rt_log10_S_cm"].astype(float), rows["sigma_rt_std"].astype(float)
    rows["sigma_RT (S/cm)"] = [f"{10**v:.2e}" if np.isfinite(v) else "" for v in x]
    rows["log10 sigma_RT"] = [f"{v:.2f} +- {e:.2f}" if np.isfinite(v) else "" for v, e in zip(x, s, strict=True)]
    rows["sigma_RT flags"] = [", ".join(f) if f is not None and len(f) else "" for f in rows["sigma_rt_flags"]]
    return rows


def ranking_sentence(info: dict[str, Any], rank_T: float) -> str:
    """The report's first sentence: which model ranks and why (``ionscreen.screen.ranking.RankingInfo``)."""
    if not info:
        return f"Ranked by the workflow's model at {rank_T:g} K (this ranking records no reason: made before rank_by)."
    what = (
        f"{info['ranking_model']}'s room-temperature (300 K) conductivity"
        if info["rank_by"] == "room_temperature"
        else f"the workflow's model at {rank_T:g} K"
    )
    return f"Ranked by {what}, because {info['reason']}."


def resolution_sentence(info: dict[str, Any]) -> str:
    """Whether the ranked values are further apart than the ranking model's held-out error."""
    mae, spread, n = info.get("ranking_mae"), info.get("spread"), int(info.get("n_candidates") or 0)
    if mae is None or spread is None or n < 2:
        return "The ranking model records no held-out error, so how far the order is resolved is unknown."
    if spread <= mae:
        return (
            f"The order is not resolved: all {n} ranked values lie within {spread:.2f} decades of each other, "
            f"less than the ranking model's held-out MAE ({mae:.2f})."
        )
    top = int(info.get("unresolved_top") or 1)
    if top > 1:
        return (
            f"The first {top} candidates are not resolved from each other: their values lie within the ranking "
            f"model's held-out MAE ({mae:.2f} decades) of the top one. The ranked values span {spread:.2f} decades."
        )
    return (
        f"The top candidate stands more than the ranking model's held-out MAE ({mae:.2f} decades) above the "
        f"next; the ranked values span {spread:.2f} decades."
    )


def skill_table(skills: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per model that ranks or could rank (``ionscreen.screen.ranking.ModelSkill``)."""
    rows = []
    for s in skills:
        rows.append(
            {
                "model": s["model"],
                "target": s["target"],
                "held-out data": s["held_out"],
                "compositions": s.get("n_groups"),
                "MAE": s.get("mae"),
                "Spearman": s.get("spearman"),
                "training mean MAE": s.get("mean_mae"),
                "forest MAE": s.get("forest_mae"),
                "demonstrated skill": "yes" if s.get("skill") else "no",
            }
        )
    return pd.DataFrame(rows)


def cross_validation_summary(cv: pd.DataFrame) -> pd.DataFrame:
    """Per model of a ``cross_validation`` table: folds, MAE mean +- std, mean Spearman."""
    g = cv.groupby("model", sort=False)
    return pd.DataFrame(
        {
            "model": list(g.groups),
            "folds": g["fold"].nunique().to_numpy(),
            "MAE": [f"{m:.3f} +- {s:.3f}" for m, s in zip(g["mae"].mean(), g["mae"].std().fillna(0.0), strict=True)],
            "Spearman": g["spearman"].mean().round(3).to_numpy(),
        }
    )


def skill_rule_note() -> str:
    from ionscreen.learn.skill import rule_text

    return (
        f"MAE in decades of the model's own target; the forest is fitted on the same training data "
        f"(composition + lattice features). {rule_text()[0].upper()}{rule_text()[1:]}."
    )


def plan_section(plan_path: str | Path | None, runs: pd.DataFrame) -> str:
    """The plan's MD device-hours (min, expected, max) beside what the runs took, with the ratios
    that calibrate the next plan; a line saying how to plan when there is no plan."""
    from ionscreen.md.plan import compare

    if not plan_path or not Path(plan_path).exists():
        return (
            "<p class='m'>No cost plan for this campaign: <code>snakemake plan</code> measures the MD's cost "
            "before it runs and sets each batch job's time limit.</p>"
        )
    plan = schema.read_table(plan_path, "plan")
    c = compare(plan, runs)
    md = plan[plan["stage"] == "md"].iloc[0]
    return (
        f"<h3>Planned and actual MD cost</h3><p>The plan (rate measured on {html.escape(str(md['device_name']))}) "
        f"against the MD wall time of the batch jobs (md_runs): actual / max {c['actual_over_max'].iloc[0]:.2f}, "
        f"actual / expected {c['actual_over_expected'].iloc[0]:.2f}.</p>" + html_table(c.round(4))
    )


def html_table(df: pd.DataFrame) -> str:
    text = df.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="t", na_rep="")
    return f"<div class=w>{text}</div>"  # wide tables scroll inside the page


def write_report(
    out: str | Path,
    *,
    ranking_path: str | Path,
    rejected_paths: list[str | Path],
    model_dir: str | Path,
    metrics_path: str | Path,
    training_predictions_path: str | Path,
    labels_path: str | Path,
    arrhenius_path: str | Path | None = None,
    msd_curves_path: str | Path | None = None,
    md_runs_path: str | Path | None = None,
    cross_validation_path: str | Path | None = None,
    plan_path: str | Path | None = None,
    top_k: int = 20,
) -> Path:
    """Write the self-contained HTML report atomically. ``plan_path``: the campaign's plan
    (``snakemake plan``), shown beside what the MD runs cost when it exists."""
    ranking = schema.read_table(ranking_path, "predictions")
    rejected = schema.concat_tables(rejected_paths, "rejected")
    metrics = schema.read_table(metrics_path, "metrics")
    train_pred = schema.read_table(training_predictions_path, "training_predictions")
    labels = schema.read_table(labels_path, "labels")
    arrhenius = (
        schema.read_table(arrhenius_path, "arrhenius") if arrhenius_path and Path(arrhenius_path).exists() else None
    )
    meta = ModelMeta.from_json(model_dir)
    prov = schema.read_provenance(ranking_path)
    rank_T = prov.get("rank_temperature_K") or (ranking["temperature_K"].min() if len(ranking) else float("nan"))
    top = ranking[ranking["temperature_K"] == rank_T].head(top_k).copy()
    top["flags"] = top["flags"].map(lambda f: ", ".join(f) if len(f) else "")
    wide = (
        ranking.pivot_table(index="material_id", columns="temperature_K", values="prediction")
        if len(ranking)
        else pd.DataFrame()
    )
    curves = json.loads(Path(msd_curves_path).read_text()) if msd_curves_path and Path(msd_curves_path).exists() else {}
    info = prov.get("ranking") or {}
    skills = prov.get("skill") or []
    workflow_cols = ["prediction", "prediction_std", "flags"]
    rt_cols = RT_REPORT_COLUMNS
    first, second = (rt_cols, workflow_cols) if info.get("rank_by") == "room_temperature" else (workflow_cols, rt_cols)
    parts = [
        "<h1>ionscreen screening report</h1>",
        f"<p class=lead>{html.escape(ranking_sentence(info, rank_T))}</p>",
        f"<p>{html.escape(resolution_sentence(info))}</p>" if info else "",
        f"<p class=m>ionscreen {__version__}; {len(ranking['material_id'].unique()) if len(ranking) else 0} candidates "
        f"ranked, {len(rejected)} rejected. Workflow model: target <b>{html.escape(meta.target)}</b>, trained on "
        f"{len(meta.training_materials)} materials at {meta.temperature_range_K[0]:g}-{meta.temperature_range_K[1]:g} K "
        f"with {len(meta.config['seeds'])} seeds.</p>",
        "<h2>Ranking</h2><p>Rank 1 = fastest Li transport by the ranking model, whose column comes first. "
        "<i>prediction</i> +- <i>prediction_std</i> is the workflow model (std: spread over its seed ensemble, not a "
        "calibrated error); <i>sigma_RT</i> is the room-temperature model at 300 K (+- one calibrated std). Flags "
        "say why a number deserves caution.</p>",
        html_table(
            room_temperature_columns(top)[
                [
                    "rank",
                    "material_id",
                    "formula",
                    *first,
                    *second,
                    "Ea_eV",
                    "Ea_kind",
                    "prediction_300K",
                    "nearest_training_distance",
                ]
            ]
        ),
    ]
    if skills:
        parts += [
            "<h3>How well each model predicts data it never saw</h3>",
            html_table(skill_table(skills)),
            f"<p class=m>{html.escape(skill_rule_note())}</p>",
        ]
    if cross_validation_path and Path(cross_validation_path).exists():
        cv = schema.read_table(cross_validation_path, "cross_validation")
        parts += [
            "<p>The workflow's model in composition-grouped cross-validation (<code>snakemake cross_validate</code>; "
            "every model on the same folds, MAE in decades, mean +- std over folds):</p>",
            html_table(cross_validation_summary(cv)),
        ]
    parts.append(
        "<p><i>Ea_eV</i> and <i>prediction_300K</i> come from an Arrhenius fit of each candidate's "
        "workflow-model predictions over the predicted temperatures; 300 K below that range is an "
        "extrapolation.</p>"
    )
    rt_skill = next((s for s in skills if s.get("model") == prov.get("room_temperature_model")), None)
    if top["sigma_rt_log10_S_cm"].notna().any():
        err = (
            f"held-out MAE {rt_skill['mae']:.2f} decades ({rt_skill['held_out']})"
            if rt_skill and rt_skill.get("mae") is not None
            else "see its model card for the held-out error"
        )
        parts.append(
            f"<p><i>sigma_RT</i>: room-temperature (300 K) ionic conductivity from the shipped model "
            f"<b>{html.escape(str(prov.get('room_temperature_model')))}</b>, trained on OBELiX's measured "
            f"conductivities (composition, cell volume and space group): {html.escape(err)}.</p>"
        )
    if len(wide):
        parts += [
            "<h3>Predictions at every temperature</h3>",
            wide.reset_index().to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, classes="t"),
        ]
    if len(rejected):
        parts += ["<h2>Rejected inputs</h2>", html_table(rejected)]
    parts += [
        "<h2>Workflow model quality</h2><p>Composition-grouped splits; the validation split chose the stopping epoch. "
        "The skill table above says whether these numbers beat the baselines.</p>",
        f"<p>Route: <b>{html.escape(meta.route)}</b>"
        + (
            f" (trajectory embeddings: {html.escape(str(meta.trajectory_embedder))})"
            if meta.trajectory_embedder
            else ""
        )
        + ". Ensemble rows; <i>mae_seed_mean</i> +- <i>mae_seed_std</i> is over the seeds. The g rows see the "
        "trajectories and cannot screen: they show what the auxiliary modality carries.</p>",
        parity_plot(train_pred, meta.target),
        html_table(metrics[metrics["seed"].isna()].drop(columns=["seed"])),
        "<h2>Where candidates sit relative to the training data</h2>",
        hidden_plot(ranking, meta.far_threshold) if len(ranking) else "<p>no candidates</p>",
    ]
    if md_runs_path and Path(md_runs_path).exists():  # this workflow ran MD: its runs, MSD curves and fits
        arr_img, arr_caption = arrhenius_plot(labels, arrhenius)
        runs = schema.read_table(md_runs_path, "md_runs")
        parts += [
            "<h2>Training runs</h2><p>Li MSD against time interval (log-log); dotted lines mark the start of the "
            "fitted diffusive window where one was found.</p>",
            msd_plot(curves) if curves else "<p>no MSD curves</p>",
            f"<p>{arr_caption}</p>",
            arr_img,
            html_table(
                labels[
                    [
                        "material_id",
                        "temperature_K",
                        "status",
                        "msd_final_A2",
                        "D_cm2_s",
                        "diffusive",
                        "sigma_S_cm",
                        "reason",
                    ]
                ]
            ),
            "<h3>MD runs</h3>",
            html_table(
                runs[
                    [
                        "material_id",
                        "temperature_K",
                        "status",
                        "n_atoms",
                        "n_steps",
                        "wall_s",
                        "steps_per_s",
                        "device",
                        "accelerator",
                        "mlip",
                        "reason",
                    ]
                ]
            ),
            plan_section(plan_path, runs),
        ]
    else:
        source = str(labels["source"].iloc[0]) if "source" in labels.columns and len(labels) else "external"
        n_ok = int((labels["status"] == "ok").sum())
        parts += [
            f"<h2>Training data</h2><p>{n_ok} labelled rows from <b>{html.escape(source)}</b> "
            f"({len(labels) - n_ok} other rows: bounds, failures). No MD was run by this workflow.</p>"
        ]
    return atomic.write_text_atomic(out, html_page("ionscreen report", parts))


STYLE = (
    "<style>body{font-family:sans-serif;max-width:1300px;margin:2em auto;color:#222}.w{overflow-x:auto}"
    "table.t{border-collapse:collapse;font-size:13px;margin:1em 0}table.t td,table.t th{padding:3px 8px;"
    "border-bottom:1px solid #ddd}.m{color:#555}.lead{font-size:1.15em}img{max-width:100%}</style>"
)


def html_page(title: str, parts: list[str]) -> str:
    """A self-contained HTML page of these parts, in the reports' style."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}</head>"
        f"<body>{''.join(parts)}</body></html>"
    )
