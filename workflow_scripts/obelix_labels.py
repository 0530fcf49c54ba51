"""Rule shim: OBELiX conductivities as an external labels table."""

from ionscreen import logs
from ionscreen.structures.obelix import training_labels

logs.setup(snakemake.log[0])
training_labels(snakemake.params.folder, snakemake.output[0])
