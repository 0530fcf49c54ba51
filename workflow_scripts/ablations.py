"""Rule shim: the ablation table."""
from ionscreen import logs, mlip, schema
from ionscreen.train import TrainConfig, ablations

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
fourier = snakemake.input.get("fourier")
ablations(
    schema.read_table(snakemake.input.labels),
    schema.read_table(snakemake.input.embeddings, "embeddings"),
    schema.read_table(snakemake.input.structures, "structures"),
    TrainConfig(**snakemake.params.settings),
    snakemake.output[0],
    trajectories=schema.read_table(snakemake.input.trajectories, "trajectory_embeddings"),
    other_trajectories={"fourier_only": schema.read_table(fourier, "trajectory_embeddings")} if fourier else None,
)
