# Stage campaign: rounds r = 1..campaign.rounds of train -> predict the pool -> pick -> label
# (ionscreen.campaign). A round is a checkpoint: its picks (and their md batch jobs) are known only
# once it has run, so Snakemake re-evaluates the DAG after it; the picks are then prepared,
# simulated in batch jobs (the md rule, the stop rule and the ladder as configured) and labelled
# (the label rule) as the training materials are. Round r reads the labels of rounds < r; a
# finished round is never recomputed (its inputs are frozen: ancient gathers, the pool's shards as
# they were at the first round), and raising campaign.rounds runs only the new rounds.
# Settings, checks and input functions: rules/campaign_inputs.smk.


checkpoint campaign_round:
    """Round r: the surrogate on every label so far, the pool predicted, the picks and their md batch jobs."""
    input:
        unpack(campaign_round_inputs),
    output:
        picks=campaign_path("{round}", "picks.parquet"),
        pool=campaign_path("{round}", "pool.parquet"),
        model=campaign_path("{round}", "surrogate.npz"),
        batches=campaign_path("{round}", "batches.json"),
    log:
        log_path("campaign", "round_{round}"),
    benchmark:
        bench_path("campaign", "round_{round}")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=campaign_settings(),
        target=config["train"]["target"],
        temperature=CAMPAIGN_T,
        temperatures=TEMPS,
        batch_size=md_runs_per_job(),
        stage_version=STAGE_VERSIONS["campaign"],
    script:
        "../workflow_scripts/campaign_round.py"


rule campaign_labels:
    """Round r's picks labelled by the oracle (the picks' MD and labels, or the table), with their MD cost."""
    input:
        unpack(campaign_label_inputs),
    output:
        labels=campaign_path("{round}", "labels.parquet"),
    log:
        log_path("campaign", "labels_{round}"),
    benchmark:
        bench_path("campaign", "labels_{round}")
    conda:
        "../envs/train.yaml"
    params:
        settings=campaign_settings(),
        target=config["train"]["target"],
        temperature=CAMPAIGN_T,
        label_files=campaign_label_files,
        run_files=campaign_run_files,
        stage_version=STAGE_VERSIONS["campaign"],
    script:
        "../workflow_scripts/campaign_labels.py"


rule campaign:
    """The campaign: every round's picks and labels, and the summary round by round."""
    input:
        unpack(campaign_start_inputs),
        picks=[campaign_path(r, "picks.parquet") for r in range(1, CAMPAIGN.rounds + 1)],
        round_labels=[campaign_path(r, "labels.parquet") for r in range(1, CAMPAIGN.rounds + 1)],
    output:
        summary=f"{CAMPAIGN_DIR}/summary.parquet",
        html=f"{CAMPAIGN_DIR}/report.html",
    log:
        log_path("campaign", "summary"),
    benchmark:
        bench_path("campaign", "summary")
    conda:
        "../envs/train.yaml"
    params:
        settings=campaign_settings(),
        target=config["train"]["target"],
        temperature=CAMPAIGN_T,
    script:
        "../workflow_scripts/campaign.py"


# A round's labels and the summary read a few small tables: on a cluster they run in the main process.
localrules:
    campaign_labels,
    campaign,
