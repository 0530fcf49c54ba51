# Stage train: structure-only predictor ensemble on labels + embeddings.


rule train:
    input:
        labels=rules.collect_labels.output.labels,
        embeddings=rules.embed_training.output[0],
        structures=rules.prepare_training_structures.output.structures,
    output:
        model=f"{R}/model/model.pt",
        model_json=f"{R}/model/model.json",
        metrics=report(f"{R}/train/metrics.parquet", category="Model"),
        predictions=f"{R}/train/predictions.parquet",
    params:
        settings=config["train"],
        embedding=lambda wc: {"model": config["mlip"]["model"], "layer": config["embed"]["layer"], "variant": config["embed"]["variant"]},
        version=VERSION,
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=0,
    log:
        log_path("train", "train"),
    benchmark:
        bench_path("train", "train")
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/train.py"
