"""Rule shim: the ablation table."""

from ionscreen import logs, mlip, schema
from ionscreen.learn.config import TrainConfig
from ionscreen.learn.dataset import read_training_tables
from ionscreen.learn.evaluate import ablations

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
t = read_training_tables(snakemake.input)
fourier = snakemake.input.get("fourier")
ablations(
    t.labels,
    t.embeddings,
    t.structures,
    TrainConfig(**snakemake.params.settings),
    snakemake.output[0],
    trajectories=t.trajectories,
    other_trajectories={"fourier_only": schema.read_table(fourier, "trajectory_embeddings")} if fourier else None,
)
