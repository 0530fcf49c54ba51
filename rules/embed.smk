# Stage embed: SevenNet structure embeddings (one row per Li atom), one job per training material
# and one per candidate shard; MOMENT / Fourier trajectory embeddings per material (training).


rule embed_structure:
    """SevenNet embeddings of one prepared structures table: a training material, a candidate shard or an ingested set."""
    input:
        structures=f"{R}/structures/prepared/{{material}}.parquet",
    output:
        f"{R}/embeddings/structures/{{material}}.parquet",
    log:
        log_path("embed", "embed_{material}"),
    benchmark:
        bench_path("embed", "embed_{material}")
    conda:
        "../envs/embed.yaml"
    threads: config["embed"]["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
        mlip_jobs=MLIP_SLOT,
    params:
        settings=embed_settings(),
        stage_version=STAGE_VERSIONS["embed"],
    script:
        "../workflow_scripts/embed_structure.py"


rule collect_embeddings:
    """Every training material's SevenNet embeddings in one table (cheap; re-runs freely)."""
    input:
        embeddings=per_material(f"{R}/embeddings/structures/{{material}}.parquet"),
    output:
        embeddings=f"{R}/embeddings/structures.parquet",
    log:
        log_path("embed", "collect_embeddings"),
    benchmark:
        bench_path("embed", "collect_embeddings")
    conda:
        "../envs/embed.yaml"
    params:
        tables={"embeddings": "embeddings"},
    script:
        "../workflow_scripts/collect.py"


use rule embed_structure as embed_candidates with:
    input:
        structures=f"{R}/screening/shards/{{shard}}/candidates.parquet",
    output:
        f"{R}/screening/shards/{{shard}}/embeddings.parquet",
    log:
        log_path("embed", "embed_candidates_{shard}"),
    benchmark:
        bench_path("embed", "embed_candidates_{shard}")
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
        mlip_jobs=MLIP_SLOT,


rule embed_trajectories:
    """Trajectory embeddings of one material at every temperature (training only)."""
    input:
        batches=material_md_batches,
    output:
        f"{R}/embeddings/trajectories/{{material}}.parquet",
    log:
        log_path("embed", "trajectories_{material}"),
    benchmark:
        bench_path("embed", "trajectories_{material}")
    conda:
        "../envs/embed.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=0,
    params:
        trajectories=material_trajectories,
        settings=trajectory_embed_settings(),
        stage_version=STAGE_VERSIONS["trajembed"],
    script:
        "../workflow_scripts/embed_trajectories.py"


rule collect_trajectory_embeddings:
    """Every training run's trajectory embeddings in one table."""
    input:
        embeddings=per_material(f"{R}/embeddings/trajectories/{{material}}.parquet"),
    output:
        embeddings=f"{R}/embeddings/trajectories.parquet",
    log:
        log_path("embed", "collect_trajectory_embeddings"),
    benchmark:
        bench_path("embed", "collect_trajectory_embeddings")
    conda:
        "../envs/embed.yaml"
    params:
        tables={"embeddings": "trajectory_embeddings"},
    script:
        "../workflow_scripts/collect.py"


use rule embed_trajectories as embed_trajectories_fourier with:
    output:
        f"{R}/embeddings/trajectories_fourier/{{material}}.parquet",
    log:
        log_path("embed", "trajectories_fourier_{material}"),
    benchmark:
        bench_path("embed", "trajectories_fourier_{material}")
    params:
        settings=fourier_embed_settings(),
        stage_version=STAGE_VERSIONS["trajembed"],


use rule collect_trajectory_embeddings as collect_fourier_trajectory_embeddings with:
    input:
        embeddings=per_material(f"{R}/embeddings/trajectories_fourier/{{material}}.parquet"),
    output:
        embeddings=f"{R}/embeddings/trajectories_fourier.parquet",
    log:
        log_path("embed", "collect_fourier_trajectory_embeddings"),
    benchmark:
        bench_path("embed", "collect_fourier_trajectory_embeddings")
