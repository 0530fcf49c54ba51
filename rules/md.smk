# Stage md: batches of runs (materials x temperatures, md.batch_atoms atoms at most) advanced
# together by the batched engine, each run reading only its material's prepared structure and
# resuming from its last saved frame; rejected inputs give 'skipped' runs. A batch's runs land in
# its folder, md/batches/<T>K-<n>/<material>/<T>K.parquet (md/batches-<T>K.json says which batch).


rule md:
    """NVT MD of one batch of runs advanced together (one MLIP call per step on a GPU)."""
    input:
        structures=batch_structures,
        above=batch_above,
    output:
        runs=directory(f"{R}/md/batches/{{batch}}"),
    log:
        log_path("md", "batch_{batch}"),
    benchmark:
        bench_path("md", "batch_{batch}")
    conda:
        MD_ENV
    threads: config["md"]["threads"]
    resources:
        mem_mb=4000,
        runtime=md_batch_runtime,  # from the plan (snakemake plan), else plan.default_runtime_min
        gpu=0,
        mlip_jobs=MLIP_SLOT,
    params:
        runs=batch_runs,
        above=batch_above_runs,
        label=md_label_settings(),
        settings=md_settings(),
        resume=f"{R}/md/resume",
        stage_version=STAGE_VERSIONS["md"],
    script:
        "../workflow_scripts/md.py"


rule collect_md_runs:
    """Every MD run's row (status, speed, reason) in one table."""
    input:
        batches=all_md_batches(),
    output:
        runs=f"{R}/md/runs.parquet",
    log:
        log_path("md", "collect_md_runs"),
    benchmark:
        bench_path("md", "collect_md_runs")
    conda:
        MD_ENV
    params:
        files=all_md_run_files(),
    script:
        "../workflow_scripts/collect_md_runs.py"


rule plan:
    """What the campaign's MD costs before any of it runs: the engine probed on the campaign's own
    prepared structures (at most plan.probe_s), then every batch job's hours and time limit. Needs
    the prepared structures (Snakemake prepares them first); starts no MD of the campaign."""
    input:
        structures=per_material(f"{R}/structures/prepared/{{material}}.parquet"),
    output:
        plan=f"{R}/plan/plan.parquet",
        batches=PLAN_BATCHES,
    log:
        log_path("plan", "plan"),
    benchmark:
        bench_path("plan", "plan")
    conda:
        MD_ENV
    threads: config["md"]["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
        mlip_jobs=MLIP_SLOT,
    params:
        batches=MD_BATCHES,
        temperatures=TEMPS,
        settings=canonical(asdict(workflow_md_settings(config))),  # engine-only keys too: they set the rate
        plan=canonical(config["plan"]),
        label=label_settings(),
        rates=f"{R}/plan/rates.parquet",
    script:
        "../workflow_scripts/plan.py"
