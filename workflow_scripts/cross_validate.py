"""Rule shim: grouped cross-validation against a random forest."""
from ionscreen import logs, mlip, schema
from ionscreen.train import TrainConfig, cross_validate

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
traj = snakemake.input.get("trajectories")
ev = snakemake.params.evaluate
cross_validate(
    schema.read_table(snakemake.input.labels),
    schema.read_table(snakemake.input.embeddings, "embeddings"),
    schema.read_table(snakemake.input.structures, "structures"),
    TrainConfig(**snakemake.params.settings),
    snakemake.output[0],
    n_folds=ev["cv_folds"], seed=ev["cv_seed"], rf_trees=ev["rf_trees"],
    trajectories=schema.read_table(traj, "trajectory_embeddings") if traj else None,
)
