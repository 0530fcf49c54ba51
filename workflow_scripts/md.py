"""Rule shim: MD of one batch of runs (materials x temperatures) with the batched engine."""

from ionscreen import logs
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.md.stage import md_batch_job, trajectory_params, workflow_md_settings

logs.setup(snakemake.log[0])
settings = workflow_md_settings(snakemake.config)  # engine-only keys too (not in params: they decide no trajectory)
settings.threads = snakemake.threads
if trajectory_params(settings) != snakemake.params.settings:
    raise RuntimeError("the md job's settings differ from the rule's params (rules/common.smk md_settings)")
md_batch_job(
    list(snakemake.input.structures),
    [tuple(r) for r in snakemake.params.runs],
    settings,
    snakemake.output.runs,
    snakemake.params.resume,
    above=dict(snakemake.params.above),
    label=LabelSettings(**snakemake.params.label) if snakemake.params.label else None,
)
