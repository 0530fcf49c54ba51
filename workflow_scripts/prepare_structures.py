"""Rule shim: prepare structures (fetch stage)."""
from ionscreen import logs, mlip
from ionscreen.structures import PrepareSettings, prepare_sources

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
prepare_sources(
    snakemake.params.files,
    PrepareSettings(**snakemake.params.settings),
    snakemake.output.structures,
    snakemake.output.rejected,
    relax=snakemake.params.relax,
    stage=snakemake.rule.replace("prepare_training_structures", "fetch").replace("prepare_candidates", "screen"),
)
