"""Rule shim: SevenNet structure embeddings of a structures table."""

from ionscreen import logs
from ionscreen.embed.structure import embed_table

logs.setup(snakemake.log[0])
settings = {**snakemake.params.settings, "threads": snakemake.threads}
embed_table(snakemake.input.structures, snakemake.output[0], **settings)
