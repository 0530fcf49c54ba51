"""Rule shim: trajectory embeddings of one material's MD runs."""

from ionscreen import logs, mlip
from ionscreen.embed.trajectory import embed_trajectories

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
embed_trajectories(list(snakemake.params.trajectories), snakemake.output[0], **snakemake.params.settings)
