# Stage ingest: existing MD (a LiFlow data archive) into the project's tables, then the paper's table.
# Used when train.labels is liflow (config/liflow.yaml); nothing here runs otherwise.

LIFLOW_DIR = config["liflow"]["data_dir"]
INGEST = f"{R}/ingest"


rule ingest_liflow:
    """Structures, labels (with the archive's split) and trajectories, streamed; resumes."""
    input:
        csvs=liflow_csvs,
    output:
        structures=f"{INGEST}/structures.parquet",
        labels=f"{INGEST}/labels.parquet",
    log:
        log_path("ingest", "ingest_liflow"),
    benchmark:
        bench_path("ingest", "ingest_liflow")
    conda:
        "../envs/label.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        data_dir=LIFLOW_DIR,
        settings=ingest_label_settings(),
        timestep_fs=config["liflow"]["timestep_fs"],
        interval=config["liflow"]["interval"],
        stage_version=STAGE_VERSIONS["label"],
    script:
        "../workflow_scripts/ingest_liflow.py"


use rule embed_structure as embed_ingested with:
    input:
        structures=rules.ingest_liflow.output.structures,
    output:
        f"{R}/embeddings/ingested_structures.parquet",
    log:
        log_path("embed", "embed_ingested"),
    benchmark:
        bench_path("embed", "embed_ingested")


rule embed_ingested_trajectories:
    """Trajectory embeddings of every ingested run (training data for the AML trainer)."""
    input:
        labels=rules.ingest_liflow.output.labels,
    output:
        f"{R}/embeddings/ingested_trajectories.parquet",
    log:
        log_path("embed", "embed_ingested_trajectories"),
    benchmark:
        bench_path("embed", "embed_ingested_trajectories")
    conda:
        "../envs/embed.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=0,
    params:
        stage_version=STAGE_VERSIONS["trajembed"],
        trajectories=f"{INGEST}/trajectories",
        settings=trajectory_embed_settings(),
    script:
        "../workflow_scripts/embed_ingested_trajectories.py"


rule paper_table:
    """MAE per temperature on the archive's test split, with inference time, next to docs/method.md section 5."""
    input:
        model=rules.train.output.model,
        structures=rules.ingest_liflow.output.structures,
        labels=rules.ingest_liflow.output.labels,
    output:
        table=report(f"{R}/train/paper_table.parquet", category="Model"),
        markdown=f"{R}/train/paper_table.md",
    log:
        log_path("train", "paper_table"),
    benchmark:
        bench_path("train", "paper_table")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=0,
    script:
        "../workflow_scripts/paper_table.py"
