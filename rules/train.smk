# Stage train: two-level AML (trainer g -> closed-form f1 -> fine-tuning), or data-level transfer,
# or the structure-only predictor; plus the ablation table and grouped cross-validation.

TRAIN_LABELS = config["train"]["labels"]  # defaults filled by the schema; md: this workflow's MD labels; obelix: OBELiX sigma
USE_TRAJECTORIES = (  # the MD labels (own or ingested) come with trajectories
    TRAIN_LABELS in ("md", "liflow") and config["train"]["aml"] and not config["train"]["transfer_from"]
)
OBELIX_DIR = Path(workflow.basedir) / config["train"]["obelix_dir"]
TRAIN_SETTINGS = {k: v for k, v in config["train"].items() if k not in ("labels", "obelix_dir")}


def train_inputs(wildcards):
    """Labels (MD or OBELiX), structure embeddings, structures; trajectory embeddings for AML."""
    if TRAIN_LABELS == "liflow":  # an ingested archive: its structures, labels and trajectories
        d = {
            "embeddings": rules.embed_ingested.output[0],
            "structures": rules.ingest_liflow.output.structures,
            "labels": rules.ingest_liflow.output.labels,
        }
        if USE_TRAJECTORIES:
            d["trajectories"] = rules.embed_ingested_trajectories.output[0]
        return d
    d = {
        "embeddings": rules.embed_training.output[0],
        "structures": rules.prepare_training_structures.output.structures,
        "labels": rules.obelix_labels.output[0] if TRAIN_LABELS == "obelix" else rules.collect_labels.output.labels,
    }
    if USE_TRAJECTORIES:
        d["trajectories"] = rules.collect_trajectory_embeddings.output[0]
    return d


rule obelix_labels:
    """OBELiX room-temperature conductivities of the entries with a CIF (training split only)."""
    input:
        csv=f"{OBELIX_DIR}/train.csv",
    output:
        f"{R}/external/obelix_labels.parquet",
    params:
        folder=OBELIX_DIR,
        version=VERSION,
    log:
        log_path("train", "obelix_labels"),
    benchmark:
        bench_path("train", "obelix_labels")
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/obelix_labels.py"


rule train:
    input:
        unpack(train_inputs),
    output:
        model=f"{R}/model/model.pt",
        model_json=f"{R}/model/model.json",
        metrics=report(f"{R}/train/metrics.parquet", category="Model"),
        predictions=f"{R}/train/predictions.parquet",
    params:
        settings=TRAIN_SETTINGS,
        embedding=lambda wc: {"model": config["mlip"]["model"], "layer": config["embed"]["layer"], "variant": config["embed"]["variant"]},
        version=VERSION,
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=0,
    log:
        log_path("train", "train"),
    benchmark:
        bench_path("train", "train")
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/train.py"


def ablation_inputs(wildcards):
    if TRAIN_LABELS == "obelix":
        raise WorkflowError("ablations compare ways of using MD trajectories; OBELiX (train.labels: obelix) has none")
    d = train_inputs(wildcards)
    if TRAIN_LABELS == "liflow":
        d["trajectories"] = rules.embed_ingested_trajectories.output[0]
    else:
        d["trajectories"] = rules.collect_trajectory_embeddings.output[0]
    if config["embed"]["trajectory"]["moment_weights"]:  # MOMENT is configured: compare with Fourier-only
        d["fourier"] = rules.collect_fourier_trajectory_embeddings.output[0]
    return d


rule ablations:
    """The AML paper's ablations on one grouped split and the same seeds (snakemake ablations)."""
    input:
        unpack(ablation_inputs),
    output:
        report(f"{R}/train/ablations.parquet", category="Model"),
    params:
        settings=TRAIN_SETTINGS,
        version=VERSION,
    threads: 2
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=0,
    log:
        log_path("train", "ablations"),
    benchmark:
        bench_path("train", "ablations")
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/ablations.py"


rule cross_validate:
    """k-fold composition-grouped CV of the configured predictor next to a composition random forest."""
    input:
        unpack(train_inputs),
    output:
        report(f"{R}/train/cross_validation.parquet", category="Model"),
    params:
        settings=TRAIN_SETTINGS,
        evaluate=config["evaluate"],
        version=VERSION,
    threads: 2
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=0,
    log:
        log_path("train", "cross_validate"),
    benchmark:
        bench_path("train", "cross_validate")
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/cross_validate.py"
