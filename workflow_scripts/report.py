"""Rule shim: the HTML screening report."""

from pathlib import Path

from ionscreen import logs
from ionscreen.screen.report import write_report

logs.setup(snakemake.log[0])
inp = snakemake.input
write_report(
    snakemake.output.html,
    ranking_path=inp.ranking,
    rejected_paths=list(inp.rejected),
    model_dir=Path(inp.model).parent,
    metrics_path=inp.metrics,
    training_predictions_path=inp.predictions,
    labels_path=inp.labels,
    arrhenius_path=inp.get("arrhenius"),
    msd_curves_path=inp.get("msd"),
    md_runs_path=inp.get("runs"),
    cross_validation_path=inp.get("cross_validation"),
    plan_path=snakemake.params.plan,
    top_k=snakemake.params.top_k,
)
