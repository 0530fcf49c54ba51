"""Rule shim: train the predictor ensemble (AML, transfer or structure-only)."""
from pathlib import Path

from ionscreen import logs, mlip, schema
from ionscreen.train import TrainConfig, train

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
traj = snakemake.input.get("trajectories")
train(
    schema.read_table(snakemake.input.labels),
    schema.read_table(snakemake.input.embeddings, "embeddings"),
    schema.read_table(snakemake.input.structures, "structures"),
    TrainConfig(**snakemake.params.settings),
    Path(snakemake.output.model).parent,
    snakemake.output.metrics,
    snakemake.output.predictions,
    trajectories=schema.read_table(traj, "trajectory_embeddings") if traj else None,
    embedding_meta=snakemake.params.embedding,
)
