# Shared definitions: result paths, wildcard constraints, material lists and shards, stage
# versions, and every named input/params function the rules use.
from dataclasses import asdict
from pathlib import Path

from ionscreen.embed.structure import EMBED_ENGINE_ONLY, embed_job_settings
from ionscreen.md.stage import (
    batch_runtimes,
    md_batches,
    temperature_names,
    trajectory_params,
    workflow_md_settings,
)
from ionscreen.stages import STAGE_VERSIONS
from ionscreen.structures.prepare import PREPARE_ENGINE_ONLY, candidate_settings
from ionscreen.structures.sources import MATERIAL_ID_PATTERN, assign_shards, material_files

R = config["results"]

# Only the main Snakemake process may query Materials Project or grow the shard record. A job
# that a cluster executor submits (--mode remote) or a local group job (--mode subprocess) parses
# this file again: it reads the frozen manifests and the shard record, never the network.
MAIN_PROCESS = not (workflow.remote_exec or workflow.subprocess_exec)

# Material ids are known when the DAG is built (file stems, frozen manifests), so a dry run lists
# every job, and each per-material job depends only on its own material's files.
TRAIN = material_files(config["train_sources"], workflow.basedir, fetch=MAIN_PROCESS)
CANDIDATES = material_files(config["candidate_sources"], workflow.basedir, fetch=MAIN_PROCESS)
SHARDS = assign_shards(
    CANDIDATES,
    config["screen"]["shard_size"],
    f"{R}/screening/shards.json",
    update=MAIN_PROCESS,
    write=not getattr(workflow.output_settings, "dryrun", False),
)  # a dry run writes nothing
TEMPS = temperature_names(config["md"]["temperatures_K"])

# Where the training data come from: md (this workflow's MD), obelix (measured sigma), liflow (an
# ingested archive). Each source feeds the same trainset tables (rules/train.smk).
TRAIN_LABELS = config["train"]["labels"]
RUN_MD = TRAIN_LABELS == "md"

# MD runs ("<material>/<T>K") go to batch jobs the way candidates go to shards: frozen the first
# time they are seen (md/batches-<T>K.json), so a grown campaign re-runs nothing; one temperature
# per batch (the ladder), md.runs_per_job runs (default: what md.batch_atoms holds at once).
MD_BATCHES = (
    md_batches(
        config,
        list(TRAIN),
        update=MAIN_PROCESS,
        write=not getattr(workflow.output_settings, "dryrun", False),
    )
    if RUN_MD
    else {}
)
MD_BATCH_OF = {run: b for b, runs in MD_BATCHES.items() for run in runs}
# The temperature ladder (md.ladder): a batch below the highest temperature waits for its
# materials' runs one temperature up, and skips the materials that were not diffusive there.
LADDER = RUN_MD and bool(config["md"]["ladder"])
TEMP_OF = {f"{t}K": t for t in TEMPS}


wildcard_constraints:
    material=MATERIAL_ID_PATTERN,
    temperature=r"\d+(\.\d+)?",
    shard=r"\d{5}",
    batch=r"\d+(\.\d+)?K-(r\d\d+-)?\d{5}",  # training batches, and a campaign round's (rules/campaign.smk)
    round=r"[1-9]\d*",


def log_path(stage, name):
    return f"{R}/logs/{stage}/{name}.log"


def bench_path(stage, name):
    return f"{R}/benchmarks/{stage}/{name}.tsv"


def canonical(d):
    """A settings dict with sorted keys: Snakemake compares params as written, so the order in
    which YAML files list keys must not make finished jobs look changed."""
    return {k: canonical(v) if isinstance(v, dict) else v for k, v in sorted(d.items())}


# What decides a result goes into a rule's params (Snakemake re-runs a job whose params changed);
# what only decides how fast it is computed (threads, device, batch sizes, Verlet skin, chunking:
# each stage's ENGINE_ONLY list, beside its settings) does not: the jobs read it from the config,
# so changing it reschedules no finished job (tests/test_workflow.py).


# The environment of the jobs that run the MLIP (relaxation, MD): MACE cannot share one with sevenn.
USES_MACE = str(config["mlip"]["model"]).endswith(".model")
MD_ENV = "../envs/mace.yaml" if USES_MACE else "../envs/md.yaml"
PREPARE_ENV = "../envs/mace.yaml" if USES_MACE else "../envs/fetch.yaml"


# One slot of the local mlip_jobs cap (profiles/default). The executor is not known while the
# Snakefile is parsed (workflow.local_exec is always True here), so the cluster profiles set
# mlip_jobs to 0 on these rules (set-resources), where the cap must not bind.
MLIP_SLOT = 1


# ---------------------------------------------------------------- fetch: per material, per shard


def training_file(wildcards):
    """The source file of a material that gets MD: a training material, or a candidate that a
    campaign round picked (prepared as the training materials are)."""
    m = wildcards.material
    return str(TRAIN[m] if m in TRAIN else CANDIDATES[m])


def training_file_map(wildcards):
    return {wildcards.material: training_file(wildcards)}


def training_prepare_settings():
    return canonical({**config["prepare"], "mlip": config["mlip"]["model"]})


def candidate_prepare_settings():
    """Candidates are embedded, not simulated (ionscreen.structures.prepare.candidate_settings, which
    `ionscreen predict` uses too): no supercell, the screening atom budget, the ordering fallback.
    """
    settings = candidate_settings(
        **{
            k: v
            for k, v in config["prepare"].items()
            if k not in ("min_width_A", "max_atoms", "relax_steps")
        },
        mlip=config["embed"]["model"],  # candidates are embedded (and relaxed) with SevenNet
        max_atoms=config["screen"]["max_atoms"],
        relax_steps=config["screen"]["relax_steps"],
    )
    return canonical({k: v for k, v in asdict(settings).items() if k not in PREPARE_ENGINE_ONLY})


def shard_files(wildcards):
    return [str(CANDIDATES[m]) for m in SHARDS[wildcards.shard]]


def shard_file_map(wildcards):
    return {m: str(CANDIDATES[m]) for m in SHARDS[wildcards.shard]}


def per_material(pattern):
    """Paths of a per-material pattern over the training materials."""
    return [pattern.format(material=m) for m in TRAIN]


def per_shard(name):
    return [f"{R}/screening/shards/{k}/{name}.parquet" for k in SHARDS]


# ---------------------------------------------------------------- md, label, embed


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


def label_settings():
    return canonical(config["label"])


def material_trajectories(wildcards):
    return [md_run_file(wildcards.material, t) for t in TEMPS]


def embed_settings():
    return canonical(
        {k: v for k, v in embed_job_settings(config).items() if k not in EMBED_ENGINE_ONLY}
    )


def trajectory_embed_settings():
    return canonical(
        {
            "weights_dir": config["embed"]["trajectory"]["moment_weights"],
            "mode": config["embed"]["trajectory"]["mode"],
            "specie": config["label"]["specie"],
        }
    )


def fourier_embed_settings():
    return {"weights_dir": None, "mode": "window512", "specie": config["label"]["specie"]}


# ---------------------------------------------------------------- train: the trainset contract


USE_TRAJECTORIES = (  # the MD labels (own or ingested) come with trajectories; AML uses them
    TRAIN_LABELS in ("md", "liflow")
    and config["train"]["aml"]
    and not config["train"]["transfer_from"]
)
OBELIX_DIR = Path(workflow.basedir) / config["train"]["obelix_dir"]
TRAIN_SETTINGS = canonical(
    {k: v for k, v in config["train"].items() if k not in ("labels", "obelix_dir")}
)
EVALUATE_SETTINGS = canonical(config["evaluate"])
TRAINSET = {
    name: f"{R}/trainset/{name}.parquet"
    for name in ("labels", "structures", "embeddings", "trajectory_embeddings")
}


def trainset_sources(wildcards):
    """The source's tables: labels, structures, embeddings (+ trajectory embeddings for AML)."""
    if TRAIN_LABELS == "liflow":  # an ingested archive: its structures, labels and trajectories
        d = {
            "labels": rules.ingest_liflow.output.labels,
            "structures": rules.ingest_liflow.output.structures,
            "embeddings": rules.embed_ingested.output[0],
        }
        if USE_TRAJECTORIES:
            d["trajectories"] = rules.embed_ingested_trajectories.output[0]
        return d
    d = {
        "labels": (
            rules.obelix_labels.output[0]
            if TRAIN_LABELS == "obelix"
            else rules.collect_labels.output.labels
        ),
        "structures": rules.collect_structures.output.structures,
        "embeddings": rules.collect_embeddings.output.embeddings,
    }
    if USE_TRAJECTORIES:
        d["trajectories"] = rules.collect_trajectory_embeddings.output.embeddings
    return d


def trainset_tables(wildcards):
    return TRAINSET


def ablation_inputs(wildcards):
    if not USE_TRAJECTORIES:
        raise WorkflowError(
            "ablations compare ways of using MD trajectories: they need train.labels md or liflow "
            "and train.aml true"
        )
    d = dict(TRAINSET)
    if (
        config["embed"]["trajectory"]["moment_weights"] and TRAIN_LABELS == "md"
    ):  # MOMENT configured: compare with Fourier-only
        d["fourier"] = rules.collect_fourier_trajectory_embeddings.output.embeddings
    return d


def embedding_meta():
    return {
        "model": config["embed"]["model"],
        "layer": config["embed"]["layer"],
        "variant": config["embed"]["variant"],
        "frame": config["embed"]["frame"],
    }


def report_inputs(wildcards):
    """The ranking, rejections, the model and the trainset; the MD tables only when MD ran."""
    d = {
        "ranking": rules.rank.output.ranking,
        "rejected": [rules.collect_structures.output.rejected, rules.rank.output.rejected],
        "model": rules.train.output.model_json,
        "metrics": rules.train.output.metrics,
        "predictions": rules.train.output.predictions,
        "labels": TRAINSET["labels"],
    }
    if config["screen"]["report_cross_validation"]:
        d["cross_validation"] = rules.cross_validate.output[0]
    if RUN_MD:
        d |= {
            "arrhenius": rules.collect_labels.output.arrhenius,
            "msd": rules.collect_labels.output.msd,
            "runs": rules.collect_md_runs.output.runs,
        }
    return d


def ingest_label_settings():
    return canonical({k: config["label"][k] for k in ("specie", "dimension", "n_dt")})


def liflow_csvs(wildcards):
    return sorted(str(p) for p in Path(config["liflow"]["data_dir"]).glob("*_*K.csv"))


# Gathers, the trainset copy, the ranking merge and the report only read and write tables: on a
# cluster they run in the main process instead of waiting in the queue.
localrules:
    collect_structures,
    collect_embeddings,
    collect_md_runs,
    collect_labels,
    collect_trajectory_embeddings,
    collect_fourier_trajectory_embeddings,
    trainset,
    rank,
    report,
