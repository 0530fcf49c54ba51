# Stage md: one NVT run per material and temperature; rejected inputs give 'skipped' runs.


rule md:
    input:
        structures=rules.prepare_training_structures.output.structures,
    output:
        trajectory=f"{R}/md/{{material}}/{{temperature}}K.parquet",
        run=f"{R}/md/{{material}}/{{temperature}}K.run.parquet",
    params:
        settings=lambda wc: {
            k: v for k, v in config["md"].items() if k != "temperatures_K"
        }
        | mlip_settings(),
        version=VERSION,
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
        "../envs/md.yaml"
    script:
        "../workflow_scripts/md.py"


rule collect_md_runs:
    input:
        expand(f"{R}/md/{{material}}/{{temperature}}K.run.parquet", material=TRAIN, temperature=TEMPS),
    output:
        f"{R}/md/runs.parquet",
    params:
        table="md_runs",
        version=VERSION,
    log:
        log_path("md", "collect_md_runs"),
    benchmark:
        bench_path("md", "collect_md_runs")
    conda:
        "../envs/md.yaml"
    script:
        "../workflow_scripts/collect.py"
