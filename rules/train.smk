# Stage train: one training-set contract (trainset/), whatever the source; two-level AML
# (trainer g -> closed-form f1 -> fine-tuning), data-level transfer, or the structure-only
# predictor; plus the ablation table and grouped cross-validation. All of them read trainset/
# (input functions in rules/train_inputs.smk).


rule obelix_labels:
    """OBELiX room-temperature conductivities of the entries with a CIF (training split only)."""
    input:
        csv=f"{OBELIX_DIR}/train.csv",
    output:
        f"{R}/external/obelix_labels.parquet",
    log:
        log_path("train", "obelix_labels"),
    benchmark:
        bench_path("train", "obelix_labels")
    conda:
        "../envs/train.yaml"
    params:
        folder=OBELIX_DIR,
    script:
        "../workflow_scripts/obelix_labels.py"


rule trainset:
    """The training-set tables every training rule reads, from whichever source is configured."""
    input:
        unpack(trainset_sources),
    output:
        **TRAINSET,
    log:
        log_path("train", "trainset"),
    benchmark:
        bench_path("train", "trainset")
    conda:
        "../envs/train.yaml"
    params:
        source=TRAIN_LABELS,
        stage_version=STAGE_VERSIONS["trainset"],
    script:
        "../workflow_scripts/trainset.py"


rule train:
    """The predictor ensemble on the trainset (AML, structure-only or transfer), with its held-out skill."""
    input:
        unpack(trainset_tables),
    output:
        model=f"{R}/model/model.pt",
        model_json=f"{R}/model/model.json",
        metrics=report(f"{R}/train/metrics.parquet", category="Model"),
        predictions=f"{R}/train/predictions.parquet",
    log:
        log_path("train", "train"),
    benchmark:
        bench_path("train", "train")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=0,
    params:
        settings=TRAIN_SETTINGS,
        stage_version=STAGE_VERSIONS["train"],
        embedding=embedding_meta(),
    script:
        "../workflow_scripts/train.py"


rule ablations:
    """The AML paper's ablations on one grouped split and the same seeds (snakemake ablations)."""
    input:
        unpack(ablation_inputs),
    output:
        report(f"{R}/train/ablations.parquet", category="Model"),
    log:
        log_path("train", "ablations"),
    benchmark:
        bench_path("train", "ablations")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=0,
    params:
        settings=TRAIN_SETTINGS,
        stage_version=STAGE_VERSIONS["train"],
    script:
        "../workflow_scripts/ablations.py"


rule cross_validate:
    """k-fold composition-grouped CV of the configured predictor next to a composition random forest."""
    input:
        unpack(trainset_tables),
    output:
        report(f"{R}/train/cross_validation.parquet", category="Model"),
    log:
        log_path("train", "cross_validate"),
    benchmark:
        bench_path("train", "cross_validate")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=0,
    params:
        settings=TRAIN_SETTINGS,
        stage_version=STAGE_VERSIONS["train"],
        evaluate=EVALUATE_SETTINGS,
    script:
        "../workflow_scripts/cross_validate.py"
