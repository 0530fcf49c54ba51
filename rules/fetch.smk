# Stage fetch: read, validate, order disorder, build supercells, relax positions; one job per
# training material (MD of a material depends on its own prepared file only) and one per
# candidate shard; gather rules write the tables users read.


rule prepare_structure:
    """One training material: a structures row, or a rejected row with the reason."""
    input:
        training_file,
    output:
        structures=f"{R}/structures/prepared/{{material}}.parquet",
        rejected=f"{R}/structures/rejected/{{material}}.parquet",
    log:
        log_path("fetch", "prepare_{material}"),
    benchmark:
        bench_path("fetch", "prepare_{material}")
    conda:
        PREPARE_ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        mlip_jobs=MLIP_SLOT,
    params:
        files=training_file_map,
        settings=training_prepare_settings(),
        stage="fetch",
        stage_version=STAGE_VERSIONS["prepare"],
    script:
        "../workflow_scripts/prepare_structure.py"


rule collect_structures:
    """The training structures and rejected inputs, gathered (cheap; re-runs freely)."""
    input:
        structures=per_material(f"{R}/structures/prepared/{{material}}.parquet"),
        rejected=per_material(f"{R}/structures/rejected/{{material}}.parquet"),
    output:
        structures=f"{R}/structures/structures.parquet",
        rejected=f"{R}/structures/rejected.parquet",
    log:
        log_path("fetch", "collect_structures"),
    benchmark:
        bench_path("fetch", "collect_structures")
    conda:
        "../envs/fetch.yaml"
    params:
        tables={"structures": "structures", "rejected": "rejected"},
    script:
        "../workflow_scripts/collect.py"


rule prepare_candidates:
    """One shard of candidates (screen.shard_size of them)."""
    input:
        shard_files,
    output:
        structures=f"{R}/screening/shards/{{shard}}/candidates.parquet",
        rejected=f"{R}/screening/shards/{{shard}}/rejected.parquet",
    log:
        log_path("fetch", "prepare_candidates_{shard}"),
    benchmark:
        bench_path("fetch", "prepare_candidates_{shard}")
    conda:
        "../envs/fetch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        mlip_jobs=MLIP_SLOT,
    params:
        files=shard_file_map,
        settings=candidate_prepare_settings(),
        stage="screen",
        stage_version=STAGE_VERSIONS["prepare"],
    script:
        "../workflow_scripts/prepare_structure.py"
