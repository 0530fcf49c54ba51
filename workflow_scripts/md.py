"""Rule shim: MD of one batch of runs (materials x temperatures) with the batched engine."""

from ionscreen import logs
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.md.engine import MDSettings
from ionscreen.md.stage import md_batch_job

logs.setup(snakemake.log[0])
settings = MDSettings(**snakemake.params.settings, **snakemake.params.engine)
settings.threads = snakemake.threads
md_batch_job(
    list(snakemake.input.structures),
    [tuple(r) for r in snakemake.params.runs],
    settings,
    snakemake.output.runs,
    snakemake.params.resume,
    above=dict(snakemake.params.above),
    label=LabelSettings(**snakemake.params.label) if snakemake.params.label else None,
)
