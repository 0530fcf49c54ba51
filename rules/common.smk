# Shared definitions: result paths, wildcard constraints, material lists and shards, stage
# versions, and what every rule uses (log and benchmark paths, canonical params, environments).
# Each stage's own input and params functions are in rules/<stage>_inputs.smk.
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
