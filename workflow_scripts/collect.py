"""Rule shim: concatenate per-job tables of one declared table."""
from ionscreen import logs, schema

logs.setup(snakemake.log[0])
schema.write_table(schema.concat_tables(snakemake.input, snakemake.params.table),
                   snakemake.output[0], snakemake.params.table)
