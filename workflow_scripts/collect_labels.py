"""Rule shim: gather per-material labels, Arrhenius fits and MSD curves."""

from ionscreen import logs
from ionscreen.labels.stage import collect_label_files

logs.setup(snakemake.log[0])
collect_label_files(
    snakemake.input.labels,
    snakemake.input.arrhenius,
    snakemake.input.msd,
    snakemake.output.labels,
    snakemake.output.arrhenius,
    snakemake.output.msd,
)
