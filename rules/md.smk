# Stage md: one NVT run per material and temperature, reading only that material's prepared
# structure; rejected inputs give 'skipped' runs.


rule md:
    """NVT MD of one prepared material at one temperature; resumes from its last saved frame."""
    input:
        structures=f"{R}/structures/prepared/{{material}}.parquet",
    output:
        trajectory=f"{R}/md/{{material}}/{{temperature}}K.parquet",
        run=f"{R}/md/{{material}}/{{temperature}}K.run.parquet",
    params:
        settings=md_settings(),
        stage_version=STAGE_VERSIONS["md"],
    threads: config["md"]["threads"]
    resources:
        mem_mb=3000,
        runtime=720,
        gpu=0,
        mlip_jobs=MLIP_SLOT,
    log:
        log_path("md", "{material}_{temperature}K"),
    benchmark:
        bench_path("md", "{material}_{temperature}K")
    conda:
        MD_ENV
    script:
        "../workflow_scripts/md.py"


rule collect_md_runs:
    """Every MD run's row (status, speed, reason) in one table."""
    input:
        runs=[f"{R}/md/{m}/{t}K.run.parquet" for m in TRAIN for t in TEMPS],
    output:
        runs=f"{R}/md/runs.parquet",
    params:
        tables={"runs": "md_runs"},
    log:
        log_path("md", "collect_md_runs"),
    benchmark:
        bench_path("md", "collect_md_runs")
    conda:
        MD_ENV
    script:
        "../workflow_scripts/collect.py"
