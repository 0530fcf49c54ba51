# Stage md: batch members and directories, the ladder's inputs, time limits from the plan (rules/md.smk).
# Included after rules/common.smk and before the stage files, whose rules call these while the DAG is parsed.

# Each md batch job's time limit comes from the campaign's plan (snakemake plan), read when the
# DAG is built: its planned maximum x (1 + plan.margin) + start-up; a batch the plan does not know
# gets plan.default_runtime_min.
PLAN_BATCHES = f"{R}/plan/plan_batches.parquet"
PLAN_RUNTIMES = batch_runtimes(PLAN_BATCHES)


def md_batch_runtime(wildcards):
    """The md batch job's time limit, min."""
    return PLAN_RUNTIMES.get(wildcards.batch, config["plan"]["default_runtime_min"])


def md_settings():
    """What decides every MD run's trajectory (ionscreen.md.stage.trajectory_params); the job
    reads threads, device, batch size, skin and chunking from the config."""
    return canonical(trajectory_params(workflow_md_settings(config)))


def md_label_settings():
    """The label settings the stop rule and the ladder judge runs by (the label stage's own), or
    none when neither is on: then changing label: leaves finished MD alone."""
    md = config["md"]
    return label_settings() if md["stop"] == "converged" or md["ladder"] else {}


def batch_members(batch):
    """Runs "<material>/<T>K" of an md batch: the training set's (frozen when the DAG is built), or
    a campaign round's (batches.json, written by the round's checkpoint)."""
    return MD_BATCHES.get(batch) or campaign_batches().get(batch, [])


def batch_runs(wildcards):
    """[[material, temperature K]] of one MD batch."""
    return [
        [run_material(run), float(TEMP_OF[Path(run).name])]
        for run in batch_members(wildcards.batch)
    ]


def batch_structures(wildcards):
    return sorted(
        {
            f"{R}/structures/prepared/{run_material(run)}.parquet"
            for run in batch_members(wildcards.batch)
        }
    )


def run_material(run):
    """The material of a run "<material>/<T>K"."""
    return Path(run).parts[0]


def batch_temperature_above(batch):
    """The next higher temperature than the batch's (None at the top, or without the ladder)."""
    t = TEMP_OF[batch.split("-")[0]]
    higher = sorted(x for x in TEMPS if float(x) > float(t))
    return higher[0] if LADDER and higher else None


def batch_above(wildcards):
    """Input of a ladder batch: the folders of its materials' runs one temperature up."""
    t = batch_temperature_above(wildcards.batch)
    if t is None:
        return []
    return sorted(
        {md_run_batch_dir(f"{run_material(run)}/{t}K") for run in batch_members(wildcards.batch)}
    )


def batch_above_runs(wildcards):
    """{material: its md_runs file one temperature up} of a ladder batch ({} otherwise)."""
    t = batch_temperature_above(wildcards.batch)
    if t is None:
        return {}
    return {
        run_material(run): md_run_file(run_material(run), t, ".run.parquet")
        for run in batch_members(wildcards.batch)
    }


def md_batch_dir(batch):
    return f"{R}/md/batches/{batch}"


def md_run_batch_dir(run):
    """The folder of the batch that runs ``run`` ("<material>/<T>K"). Snakemake also tries the
    per-material rules on paths that are not materials (labels/labels.parquet): those get a folder
    no rule makes, so the candidate job is dropped quietly."""
    batch = MD_BATCH_OF.get(run) or campaign_batch_of().get(run)
    return md_batch_dir(batch) if batch else f"{R}/md/no-batch/{run_material(run)}"


def md_run_file(material, temperature, suffix=".parquet"):
    """Where a run's trajectory (or, suffix '.run.parquet', its md_runs row) lies: in the folder
    of the batch that ran it."""
    run = f"{material}/{temperature}K"
    return f"{md_run_batch_dir(run)}/{run}{suffix}"


def all_md_batches():
    return [md_batch_dir(b) for b in MD_BATCHES]


def all_md_run_files():
    return [md_run_file(m, t, ".run.parquet") for m in TRAIN for t in TEMPS] if RUN_MD else []


def material_md_batches(wildcards):
    """The batch folders holding one material's runs (a rule's input: a file inside a folder
    output cannot be one)."""
    return sorted({md_run_batch_dir(f"{wildcards.material}/{t}K") for t in TEMPS})
