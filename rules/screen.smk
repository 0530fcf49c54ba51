# Stage screen: predictions for the candidates (no MD), ranking, flags, report.


rule predict:
    input:
        model=rules.train.output.model,
        structures=rules.prepare_candidates.output.structures,
        embeddings=rules.embed_candidates.output[0],
    output:
        ranking=f"{R}/screening/ranking.parquet",
    params:
        temperatures=config["screen"]["temperatures_K"],
        rank_temperature=config["screen"]["rank_temperature_K"],
        version=VERSION,
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    log:
        log_path("screen", "predict"),
    benchmark:
        bench_path("screen", "predict")
    conda:
        "../envs/screen.yaml"
    script:
        "../workflow_scripts/predict.py"


rule report:
    input:
        ranking=rules.predict.output.ranking,
        rejected=[rules.prepare_training_structures.output.rejected, rules.prepare_candidates.output.rejected],
        model=rules.train.output.model_json,
        metrics=rules.train.output.metrics,
        predictions=rules.train.output.predictions,
        labels=rules.collect_labels.output.labels,
        arrhenius=rules.collect_labels.output.arrhenius,
        msd=rules.collect_labels.output.msd,
        runs=rules.collect_md_runs.output[0],
    output:
        html=report(f"{R}/screening/report.html", category="Screening"),
    params:
        top_k=config["screen"]["top_k"],
        version=VERSION,
    log:
        log_path("screen", "report"),
    benchmark:
        bench_path("screen", "report")
    conda:
        "../envs/screen.yaml"
    script:
        "../workflow_scripts/report.py"
