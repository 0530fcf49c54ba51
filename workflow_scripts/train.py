"""Rule shim: train the predictor ensemble."""
from pathlib import Path

from ionscreen import logs, mlip, schema
from ionscreen.train import TrainConfig, train

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
train(
    schema.read_table(snakemake.input.labels, "labels"),
    schema.read_table(snakemake.input.embeddings, "embeddings"),
    schema.read_table(snakemake.input.structures, "structures"),
    TrainConfig(**snakemake.params.settings),
    Path(snakemake.output.model).parent,
    snakemake.output.metrics,
    snakemake.output.predictions,
    embedding_meta=snakemake.params.embedding,
)
