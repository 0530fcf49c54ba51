# Stage screen: predictions for the candidates (no MD), one job per shard, then one merge into the
# ranking, the gathered candidate tables and the report.


rule predict:
    """Predictions for one shard of prepared, embedded candidates."""
    input:
        model=rules.train.output.model,
        structures=f"{R}/screening/shards/{{shard}}/candidates.parquet",
        embeddings=f"{R}/screening/shards/{{shard}}/embeddings.parquet",
    output:
        predictions=f"{R}/screening/shards/{{shard}}/predictions.parquet",
    log:
        log_path("screen", "predict_{shard}"),
    benchmark:
        bench_path("screen", "predict_{shard}")
    conda:
        "../envs/screen.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        temperatures=config["screen"]["temperatures_K"],
        rank_temperature=config["screen"]["rank_temperature_K"],
        room_temperature_model=config["screen"]["room_temperature_model"],
        stage_version=STAGE_VERSIONS["predict"],
    script:
        "../workflow_scripts/predict.py"


rule rank:
    """Every shard's predictions ranked together; candidates and rejections gathered."""
    input:
        predictions=per_shard("predictions"),
        structures=per_shard("candidates"),
        rejected=per_shard("rejected"),
        model=rules.train.output.model_json,
    output:
        ranking=f"{R}/screening/ranking.parquet",
        structures=f"{R}/screening/candidates.parquet",
        rejected=f"{R}/screening/rejected.parquet",
    log:
        log_path("screen", "rank"),
    benchmark:
        bench_path("screen", "rank")
    conda:
        "../envs/screen.yaml"
    params:
        rank_temperature=config["screen"]["rank_temperature_K"],
        rank_by=config["screen"]["rank_by"],
        room_temperature_model=config["screen"]["room_temperature_model"],
    script:
        "../workflow_scripts/rank.py"


rule report:
    """The HTML screening report: the ranking first, the models' skill, the training data."""
    input:
        unpack(report_inputs),
    output:
        html=report(f"{R}/screening/report.html", category="Screening"),
    log:
        log_path("screen", "report"),
    benchmark:
        bench_path("screen", "report")
    conda:
        "../envs/screen.yaml"
    params:
        top_k=config["screen"]["top_k"],
        plan=f"{R}/plan/plan.parquet",  # shown when the campaign was planned (snakemake plan)
    script:
        "../workflow_scripts/report.py"
