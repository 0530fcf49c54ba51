"""Rule shim: every MD run's md_runs row (in the batch folders) in one table."""

from ionscreen import logs, schema

logs.setup(snakemake.log[0])
schema.concat_files(snakemake.params.files, snakemake.output.runs, "md_runs")
