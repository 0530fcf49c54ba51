# Stage embed: SevenNet structure embeddings (one row per Li atom), batched.


rule embed_training:
    input:
        structures=rules.prepare_training_structures.output.structures,
    output:
        f"{R}/embeddings/structures.parquet",
    params:
        settings=lambda wc: {
            "layer": config["embed"]["layer"],
            "variant": config["embed"]["variant"],
            "batch_atoms": config["embed"]["batch_atoms"],
            "model": config["mlip"]["model"],
            "device": config["mlip"]["device"],
        },
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


rule embed_trajectories:
    """Trajectory embeddings of one material at every temperature (training only)."""
    input:
        trajectories=expand(f"{R}/md/{{{{material}}}}/{{temperature}}K.parquet", temperature=TEMPS),
    output:
        f"{R}/embeddings/trajectories/{{material}}.parquet",
    params:
        settings=lambda wc: {
            "weights_dir": config["embed"]["trajectory"]["moment_weights"],
            "mode": config["embed"]["trajectory"]["mode"],
            "specie": config["label"]["specie"],
        },
        version=VERSION,
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=0,
    log:
        log_path("embed", "trajectories_{material}"),
    benchmark:
        bench_path("embed", "trajectories_{material}")
    conda:
        "../envs/embed.yaml"
    script:
        "../workflow_scripts/embed_trajectories.py"


rule collect_trajectory_embeddings:
    input:
        expand(f"{R}/embeddings/trajectories/{{material}}.parquet", material=TRAIN),
    output:
        f"{R}/embeddings/trajectories.parquet",
    params:
        table="trajectory_embeddings",
        version=VERSION,
    log:
        log_path("embed", "collect_trajectory_embeddings"),
    benchmark:
        bench_path("embed", "collect_trajectory_embeddings")
    conda:
        "../envs/embed.yaml"
    script:
        "../workflow_scripts/collect.py"


use rule embed_trajectories as embed_trajectories_fourier with:
    output:
        f"{R}/embeddings/trajectories_fourier/{{material}}.parquet",
    params:
        settings=lambda wc: {"weights_dir": None, "mode": "window512", "specie": config["label"]["specie"]},
        version=VERSION,
    log:
        log_path("embed", "trajectories_fourier_{material}"),
    benchmark:
        bench_path("embed", "trajectories_fourier_{material}")


use rule collect_trajectory_embeddings as collect_fourier_trajectory_embeddings with:
    input:
        expand(f"{R}/embeddings/trajectories_fourier/{{material}}.parquet", material=TRAIN),
    output:
        f"{R}/embeddings/trajectories_fourier.parquet",
    log:
        log_path("embed", "collect_fourier_trajectory_embeddings"),
    benchmark:
        bench_path("embed", "collect_fourier_trajectory_embeddings")
