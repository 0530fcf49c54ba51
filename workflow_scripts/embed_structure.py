"""Rule shim: SevenNet structure embeddings of a structures table."""

from ionscreen import logs
from ionscreen.embed.structure import embed_job_settings, embed_table

logs.setup(snakemake.log[0])
# The whole settings from the config (params hold only what decides the embeddings), the rule's threads.
settings = {**embed_job_settings(snakemake.config), "threads": snakemake.threads}
embed_table(snakemake.input.structures, snakemake.output[0], **settings)
