"""Rule shim: gather per-job files of declared tables into the tables users read (streamed)."""

from ionscreen import logs, schema

logs.setup(snakemake.log[0])
for name, table in snakemake.params.tables.items():
    schema.concat_files(snakemake.input[name], snakemake.output[name], table)
