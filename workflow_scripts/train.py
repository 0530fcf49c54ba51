"""Rule shim: train the predictor ensemble (AML, transfer or structure-only)."""

from pathlib import Path

from ionscreen import logs, mlip
from ionscreen.learn.config import TrainConfig
from ionscreen.learn.dataset import read_training_tables
from ionscreen.learn.train import train

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
t = read_training_tables(snakemake.input)
train(
    t.labels,
    t.embeddings,
    t.structures,
    TrainConfig(**snakemake.params.settings),
    Path(snakemake.output.model).parent,
    snakemake.output.metrics,
    snakemake.output.predictions,
    trajectories=t.trajectories,
    embedding_meta=snakemake.params.embedding,
)
