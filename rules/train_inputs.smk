# Stage train: the trainset contract and the inputs of rules/train.smk.
# Included after rules/common.smk and before the stage files, whose rules call these while the DAG is parsed.

USE_TRAJECTORIES = (  # the MD labels (own or ingested) come with trajectories; AML uses them
    TRAIN_LABELS in ("md", "liflow")
    and config["train"]["aml"]
    and not config["train"]["transfer_from"]
)
OBELIX_DIR = Path(workflow.basedir) / config["train"]["obelix_dir"]
TRAIN_SETTINGS = canonical(
    {k: v for k, v in config["train"].items() if k not in ("labels", "obelix_dir")}
)
EVALUATE_SETTINGS = canonical(config["evaluate"])
TRAINSET = {
    name: f"{R}/trainset/{name}.parquet"
    for name in ("labels", "structures", "embeddings", "trajectory_embeddings")
}


def trainset_sources(wildcards):
    """The source's tables: labels, structures, embeddings (+ trajectory embeddings for AML)."""
    if TRAIN_LABELS == "liflow":  # an ingested archive: its structures, labels and trajectories
        d = {
            "labels": rules.ingest_liflow.output.labels,
            "structures": rules.ingest_liflow.output.structures,
            "embeddings": rules.embed_ingested.output[0],
        }
        if USE_TRAJECTORIES:
            d["trajectories"] = rules.embed_ingested_trajectories.output[0]
        return d
    d = {
        "labels": (
            rules.obelix_labels.output[0]
            if TRAIN_LABELS == "obelix"
            else rules.collect_labels.output.labels
        ),
        "structures": rules.collect_structures.output.structures,
        "embeddings": rules.collect_embeddings.output.embeddings,
    }
    if USE_TRAJECTORIES:
        d["trajectories"] = rules.collect_trajectory_embeddings.output.embeddings
    return d


def trainset_tables(wildcards):
    return TRAINSET


def ablation_inputs(wildcards):
    if not USE_TRAJECTORIES:
        raise WorkflowError(
            "ablations compare ways of using MD trajectories: they need train.labels md or liflow "
            "and train.aml true"
        )
    d = dict(TRAINSET)
    if (
        config["embed"]["trajectory"]["moment_weights"] and TRAIN_LABELS == "md"
    ):  # MOMENT configured: compare with Fourier-only
        d["fourier"] = rules.collect_fourier_trajectory_embeddings.output.embeddings
    return d


def embedding_meta():
    return {
        "model": config["embed"]["model"],
        "layer": config["embed"]["layer"],
        "variant": config["embed"]["variant"],
        "frame": config["embed"]["frame"],
    }
