# Stage fetch: read, validate, order disorder, build supercells, relax positions.


rule prepare_training_structures:
    input:
        files=list(TRAIN.values()),
    output:
        structures=f"{R}/structures/structures.parquet",
        rejected=f"{R}/structures/rejected.parquet",
    params:
        files=TRAIN,
        settings=lambda wc: {**config["prepare"], **mlip_settings()},
        relax=True,
        version=VERSION,
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        mlip_jobs=MLIP_SLOT,
    log:
        log_path("fetch", "prepare_training_structures"),
    benchmark:
        bench_path("fetch", "prepare_training_structures")
    conda:
        "../envs/fetch.yaml"
    script:
        "../workflow_scripts/prepare_structures.py"


rule prepare_candidates:
    input:
        files=list(CANDIDATES.values()),
    output:
        structures=f"{R}/screening/candidates.parquet",
        rejected=f"{R}/screening/rejected.parquet",
    params:
        files=CANDIDATES,
        # Candidates are embedded, not simulated: no supercell, a larger atom limit.
        settings=lambda wc: {
            **config["prepare"],
            **mlip_settings(),
            "min_width_A": 0.0,
            "max_atoms": config["screen"]["max_atoms"],
            "relax_steps": config["screen"]["relax_steps"],
        },
        relax=True,
        version=VERSION,
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        mlip_jobs=MLIP_SLOT,
    log:
        log_path("fetch", "prepare_candidates"),
    benchmark:
        bench_path("fetch", "prepare_candidates")
    conda:
        "../envs/fetch.yaml"
    script:
        "../workflow_scripts/prepare_structures.py"
