"""Rule shim: grouped cross-validation against a random forest."""

from ionscreen import logs, mlip
from ionscreen.learn.config import TrainConfig
from ionscreen.learn.dataset import read_training_tables
from ionscreen.learn.evaluate import cross_validate

logs.setup(snakemake.log[0])
mlip.set_threads(snakemake.threads)
t = read_training_tables(snakemake.input)
ev = snakemake.params.evaluate
cross_validate(
    t.labels,
    t.embeddings,
    t.structures,
    TrainConfig(**snakemake.params.settings),
    snakemake.output[0],
    n_folds=ev["cv_folds"],
    seed=ev["cv_seed"],
    rf_trees=ev["rf_trees"],
    trajectories=t.trajectories,
)
