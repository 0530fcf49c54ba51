"""Rule shim: trajectory embeddings of every ingested trajectory table."""

from pathlib import Path

from ionscreen import logs, mlip
from ionscreen.embed.trajectory import embed_trajectories

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
paths = sorted(Path(snakemake.params.trajectories).glob("*/*K.parquet"))
embed_trajectories(paths, snakemake.output[0], **snakemake.params.settings)
