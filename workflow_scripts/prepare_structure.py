"""Rule shim: prepare structures (one training material, or one candidate shard)."""

from ionscreen import logs, mlip
from ionscreen.structures.prepare import PrepareSettings, prepare_sources

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
prepare_sources(
    snakemake.params.files,
    PrepareSettings(**snakemake.params.settings, device=snakemake.config["mlip"]["device"]),  # device: not a param
    snakemake.output.structures,
    snakemake.output.rejected,
    stage=snakemake.params.stage,
    progress=False,
)
