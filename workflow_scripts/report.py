"""Rule shim: the HTML screening report."""
from pathlib import Path

from ionscreen import logs
from ionscreen.report import write_report

logs.setup(snakemake.log[0])
write_report(snakemake.output.html, ranking_path=snakemake.input.ranking,
             rejected_paths=list(snakemake.input.rejected), model_dir=Path(snakemake.input.model).parent,
             metrics_path=snakemake.input.metrics, training_predictions_path=snakemake.input.predictions,
             labels_path=snakemake.input.labels, arrhenius_path=snakemake.input.arrhenius,
             msd_curves_path=snakemake.input.msd,
             md_runs_path=snakemake.input.runs, top_k=snakemake.params.top_k)
