"""Rule shim: the training-set tables from the configured source."""

from ionscreen import logs
from ionscreen.learn.trainset import build_trainset

logs.setup(snakemake.log[0])
build_trainset(snakemake.input, snakemake.output, snakemake.params.source)
