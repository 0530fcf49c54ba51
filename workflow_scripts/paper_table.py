"""Rule shim: the AML paper's table for this run."""

from pathlib import Path

from ionscreen import logs, mlip
from ionscreen.learn.evaluate import paper_table

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
paper_table(
    Path(snakemake.input.model).parent,
    snakemake.input.structures,
    snakemake.input.labels,
    snakemake.output.table,
    markdown_out=snakemake.output.markdown,
    device=snakemake.config["mlip"]["device"],  # engine-only: read from the config, not a param
    batch_atoms=snakemake.config["embed"]["batch_atoms"],
)
