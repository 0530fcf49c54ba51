"""Rule shim: ingest a LiFlow data archive."""

from pathlib import Path

from ionscreen import logs
from ionscreen.ingest.liflow import ingest_liflow
from ionscreen.labels.diffusion import LabelSettings

logs.setup(snakemake.log[0])
ingest_liflow(
    snakemake.params.data_dir,
    Path(snakemake.output.labels).parent,
    settings=LabelSettings(**snakemake.params.settings),
    timestep_fs=snakemake.params.timestep_fs,
    interval=snakemake.params.interval,
)
