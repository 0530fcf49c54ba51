# Stage embed: SevenNet structure embeddings (one row per Li atom), batched.


rule embed_training:
    input:
        structures=rules.prepare_training_structures.output.structures,
    output:
        f"{R}/embeddings/structures.parquet",
    params:
        settings=lambda wc: config["embed"] | {"model": config["mlip"]["model"], "device": config["mlip"]["device"]},
        version=VERSION,
    threads: config["embed"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
        mlip_jobs=MLIP_SLOT,
    log:
        log_path("embed", "embed_training"),
    benchmark:
        bench_path("embed", "embed_training")
    conda:
        "../envs/embed.yaml"
    script:
        "../workflow_scripts/embed.py"


use rule embed_training as embed_candidates with:
    input:
        structures=rules.prepare_candidates.output.structures,
    output:
        f"{R}/screening/embeddings.parquet",
    log:
        log_path("embed", "embed_candidates"),
    benchmark:
        bench_path("embed", "embed_candidates")
