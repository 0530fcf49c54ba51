"""Rule shim: labels of one material at every temperature, and its Arrhenius fit."""

from ionscreen import logs
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.labels.stage import label_files

logs.setup(snakemake.log[0])
label_files(
    list(snakemake.params.trajectories),
    LabelSettings(**snakemake.params.settings),
    snakemake.output.labels,
    snakemake.output.arrhenius,
    snakemake.output.msd,
)
