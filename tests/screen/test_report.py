"""Report plots: Arrhenius with bands (or an honest fallback), and the band itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ionscreen.labels.stage import arrhenius_row
from ionscreen.labels.transport import K_B_EV, arrhenius_band, arrhenius_fit
from ionscreen.screen.plots import arrhenius_plot

T = np.array([600.0, 800.0, 1000.0, 1200.0])


def _labels(diffusive: bool) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    D = 1e-3 * np.exp(-0.3 / (K_B_EV * T)) * (1 + 0.05 * rng.normal(size=4))
    return pd.DataFrame(
        {
            "material_id": "m",
            "temperature_K": T,
            "status": "ok",
            "diffusive": diffusive,
            "D_cm2_s": D,
            "D_std_cm2_s": 0.05 * D,
            "D_ci95_low_cm2_s": 0.9 * D,
            "D_ci95_high_cm2_s": 1.1 * D,
            "msd_final_A2": 10 * D / D.min(),
            "li_density_A3": 0.02,
        }
    )


def test_band_brackets_the_fit_and_the_data():
    lab = _labels(True)
    fit = arrhenius_fit(T, lab["D_cm2_s"].to_numpy(), lab["D_std_cm2_s"].to_numpy())
    assert abs(fit["Ea_eV"] - 0.3) < 3 * fit["Ea_std_eV"] + 0.02
    assert fit["Ea_ci95_low_eV"] < fit["Ea_eV"] < fit["Ea_ci95_high_eV"]
    d, lo, hi = arrhenius_band(fit, T)
    assert np.all(lo < d) and np.all(d < hi)
    assert np.all(np.abs(np.log(lab["D_cm2_s"].to_numpy() / d)) < 0.2)
    # The band is narrowest inside the data and widens when extrapolated to 300 K.
    _, lo300, hi300 = arrhenius_band(fit, np.array([300.0]))
    assert np.log(hi300 / lo300)[0] > np.max(np.log(hi / lo))


def test_arrhenius_plot_with_fits_and_without_diffusion():
    lab = _labels(True)
    arr = pd.DataFrame([arrhenius_row("m", lab.to_dict("records"))])
    img, caption = arrhenius_plot(lab, arr)
    assert img.startswith('<img alt="plot" src="data:image/png;base64,') and "95 % band" in caption
    img, caption = arrhenius_plot(_labels(False), None)
    assert "No run became diffusive" in caption and "base64" in img


def test_room_temperature_columns_format_sigma_std_and_flags():
    from ionscreen.screen.report import room_temperature_columns

    rows = pd.DataFrame(
        {
            "sigma_rt_log10_S_cm": [-2.0, np.nan],
            "sigma_rt_std": [0.5, np.nan],
            "sigma_rt_flags": [["far_from_training"], None],
        }
    )
    out = room_temperature_columns(rows)
    assert list(out["sigma_RT (S/cm)"]) == ["1.00e-02", ""]
    assert list(out["log10 sigma_RT"]) == ["-2.00 +- 0.50", ""]
    assert list(out["sigma_RT flags"]) == ["far_from_training", ""]


@pytest.fixture(scope="module")
def report_inputs(tiny_run):
    """The tables the report reads: the tiny model's (conftest ``tiny_run``) and a few rows."""
    from ionscreen import schema
    from ionscreen.learn.model import load_predictor
    from ionscreen.screen.predict import predict_table

    d, emb, structures, labels = tiny_run
    ranking = predict_table(
        load_predictor(d / "model"),
        pd.DataFrame(structures[:3]),
        emb[emb["material_id"].isin(["m0", "m1", "m2"])],
        [600.0, 1000.0],
        600.0,
    )
    ranking["sigma_rt_log10_S_cm"], ranking["sigma_rt_std"] = -3.5, 0.7
    ranking["sigma_rt_flags"] = [[] for _ in range(len(ranking))]
    schema.write_table(
        ranking, d / "ranking.parquet", "predictions", rank_temperature_K=600.0, room_temperature_model="obelix-rt"
    )
    schema.write_table(
        [{"material_id": "bad", "source": "x.cif", "stage": "screen", "code": "no_li", "reason": "no Li in SiS4"}],
        d / "rejected.parquet",
        "rejected",
    )
    schema.write_table(labels, d / "labels.parquet", "labels")
    schema.write_table(
        [
            {
                "material_id": "m0",
                "temperature_K": 600.0,
                "status": "ok",
                "reason": "",
                "n_atoms": 8,
                "n_steps": 100,
                "wall_s": 1.0,
                "steps_per_s": 100.0,
                "mlip": "lj",
            }
        ],
        d / "runs.parquet",
        "md_runs",
    )
    return d


def _report(d, out, **extra):
    from ionscreen.screen.report import write_report

    write_report(
        out,
        ranking_path=d / "ranking.parquet",
        rejected_paths=[d / "rejected.parquet"],
        model_dir=d / "model",
        metrics_path=d / "metrics.parquet",
        training_predictions_path=d / "pred.parquet",
        labels_path=d / "labels.parquet",
        **extra,
    )
    return out.read_text()


def test_report_sections_without_md(report_inputs, tmp_path):
    html = _report(report_inputs, tmp_path / "r.html")
    for section in (
        "<h2>Ranking</h2>",
        "<h2>Rejected inputs</h2>",
        "<h2>Workflow model quality</h2>",
        "<h2>Where candidates sit relative to the training data</h2>",
        "<h2>Training data</h2>",
    ):
        assert section in html, section
    assert "No MD was run by this workflow" in html and "<h2>Training runs</h2>" not in html
    assert "no Li in SiS4" in html and "sigma_RT (S/cm)" in html and "3.16e-04" in html  # 10^-3.5
    assert "-3.50 +- 0.70" in html and "Route: <b>structure-only</b>" in html


def test_report_leads_with_the_ranking_model_and_shows_cross_validation(report_inputs, tmp_path):
    from ionscreen import schema
    from ionscreen.learn.meta import ModelMeta
    from ionscreen.screen.ranking import rank

    d = report_inputs
    ranking = schema.read_table(d / "ranking.parquet", "predictions")
    ranking["sigma_rt_log10_S_cm"] = ranking["material_id"].map({"m0": -2.0, "m1": -4.5, "m2": -6.0})
    ranked, info, skills = rank(
        ranking, 600.0, workflow_meta=ModelMeta.from_json(d / "model"), room_temperature_model="obelix-rt"
    )
    from dataclasses import asdict

    schema.write_table(
        ranked,
        d / "ranked.parquet",
        "predictions",
        rank_temperature_K=600.0,
        room_temperature_model="obelix-rt",
        ranking=info.to_dict(),
        skill=[asdict(s) for s in skills],
    )
    rows = [
        {"model": m, "fold": k, "n_train": 10, "n_test": 3, "mae": v + 0.1 * k, "spearman": 0.5}
        for k in range(3)
        for m, v in (("predictor (structure-only)", 1.0), ("random forest (composition)", 0.8), ("training mean", 1.5))
    ]
    schema.write_table(rows, d / "cv.parquet", "cross_validation")
    from ionscreen.screen.report import write_report

    out = tmp_path / "r.html"
    write_report(
        out,
        ranking_path=d / "ranked.parquet",
        rejected_paths=[d / "rejected.parquet"],
        model_dir=d / "model",
        metrics_path=d / "metrics.parquet",
        training_predictions_path=d / "pred.parquet",
        labels_path=d / "labels.parquet",
        cross_validation_path=d / "cv.parquet",
    )
    html = out.read_text()
    body = html.split("<h1>ionscreen screening report</h1>", 1)[1]
    assert body.startswith("<p class=lead>Ranked by obelix-rt&#x27;s room-temperature (300 K) conductivity, because")
    assert "How well each model predicts data it never saw" in html and "demonstrated skill" in html
    assert "1.100 +- 0.100" in html and "0.900 +- 0.100" in html and "1.600 +- 0.100" in html  # CV: mean +- std
    # the ranking column comes first: sigma_RT before the workflow's prediction
    table = html.split("<h2>Ranking</h2>", 1)[1].split("<table", 1)[1]
    assert table.index("sigma_RT (S/cm)") < table.index("prediction_std")
    assert html.count("<img") == 2  # parity plot, hidden-space plot


def test_report_sections_with_md(report_inputs, tmp_path):
    html = _report(report_inputs, tmp_path / "r.html", md_runs_path=report_inputs / "runs.parquet")
    assert "<h2>Training runs</h2>" in html and "<h3>MD runs</h3>" in html and "No MD was run" not in html
    assert html.count("<img") == 3  # + the Arrhenius plot (no MSD curves given: said in words)
    assert "no MSD curves" in html
    assert "snakemake plan" in html  # no plan: the report says how to make one


def test_report_puts_the_plan_beside_what_the_md_cost(report_inputs, tmp_path):
    """The plan's md row (max 2 s) against the runs' batch walls (one batch of 1 s): ratio 0.5."""
    from ionscreen import schema

    d = report_inputs
    runs = schema.read_table(d / "runs.parquet", "md_runs")
    runs["trajectory_path"] = "r/md/batches/600K-00000/m0/600K.parquet"
    schema.write_table(runs, d / "runs-b.parquet", "md_runs")
    md = {"stage": "md", "jobs": 1, "runs": 1, "atoms": 8, "steps_min": 50, "steps_expected": 80, "steps_max": 100}
    md |= {"device_name": "cpu: test", "min_hours": 1 / 3600, "expected_hours": 1.6 / 3600, "max_hours": 2 / 3600}
    schema.write_table([md], d / "plan.parquet", "plan")
    html = _report(d, tmp_path / "r.html", md_runs_path=d / "runs-b.parquet", plan_path=d / "plan.parquet")
    assert "<h3>Planned and actual MD cost</h3>" in html and "cpu: test" in html
    assert "actual / max 0.50, actual / expected 0.62" in html
