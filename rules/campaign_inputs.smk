# The campaign stage's settings, start-up checks and input functions (rules/campaign.smk).
import json
import os
import sys

from ionscreen.campaign.acquire import CampaignError, CampaignSettings, check_settings
from ionscreen.md.stage import runs_per_job


def campaign_table(path):
    """The oracle table: as given when it exists from the working directory, else from the
    workflow's folder (where config.yaml's other relative paths point)."""
    if not path or Path(path).is_absolute() or Path(path).exists():
        return path
    return str(Path(workflow.basedir) / path)


config["campaign"]["table"] = campaign_table(config["campaign"]["table"])
CAMPAIGN = CampaignSettings(**config["campaign"])
CAMPAIGN_DIR = f"{R}/campaign"
CAMPAIGN_T = float(CAMPAIGN.temperature_K or max(config["md"]["temperatures_K"]))
CAMPAIGN_POOL = f"{CAMPAIGN_DIR}/pool_shards.json"
# Whether this invocation asked for the campaign (Snakemake knows its targets only after parsing,
# so the command line is read): the checks that need the pool or the oracle table run only then.
WANTS_CAMPAIGN = config["default_target"] == "campaign" or any(
    (a.startswith("campaign") or f"{os.sep}campaign{os.sep}" in a)
    and not a.endswith((".yaml", ".yml", ".json"))
    for a in sys.argv[1:]
)


def campaign_pool_size():
    """Candidates that are not training materials (before preparation rejects any)."""
    return len(set(CANDIDATES) - set(TRAIN))


try:  # bad settings fail at start, one line each
    check_settings(CAMPAIGN, campaign_pool_size() if WANTS_CAMPAIGN else None)
    if WANTS_CAMPAIGN and CAMPAIGN.oracle == "md" and not RUN_MD:
        raise CampaignError(
            "campaign.oracle md labels picks with this workflow's MD: it needs train.labels md"
        )
    if (
        WANTS_CAMPAIGN
        and CAMPAIGN.oracle == "md"
        and CAMPAIGN_T not in [float(t) for t in config["md"]["temperatures_K"]]
    ):
        raise CampaignError(
            f"campaign.temperature_K {CAMPAIGN_T:g} is not one of md.temperatures_K"
        )
    if WANTS_CAMPAIGN and CAMPAIGN.oracle == "table":
        from ionscreen.campaign.stage import read_oracle_table

        read_oracle_table(CAMPAIGN.table, CAMPAIGN.table_column)
except CampaignError as e:
    raise WorkflowError(str(e)) from None


def campaign_shards():
    """The pool's screening shards as they were when the campaign's first round was scheduled
    (campaign/pool_shards.json): candidates added later do not reopen finished rounds."""
    p = Path(CAMPAIGN_POOL)
    return json.loads(p.read_text()) if p.is_file() else sorted(SHARDS)


if (
    WANTS_CAMPAIGN
    and MAIN_PROCESS
    and not getattr(workflow.output_settings, "dryrun", False)
    and not Path(CAMPAIGN_POOL).is_file()
):
    Path(CAMPAIGN_DIR).mkdir(parents=True, exist_ok=True)
    Path(CAMPAIGN_POOL).write_text(json.dumps(sorted(SHARDS)) + "\n")


def campaign_path(round_, name):
    return f"{CAMPAIGN_DIR}/round_{round_}/{name}"


_CAMPAIGN_BATCHES = {}


def campaign_batches():
    """{batch: runs} of every campaign round's picks (round_<r>/batches.json; they exist once the
    round's checkpoint has run), re-read when a file changes."""
    files = sorted(Path(CAMPAIGN_DIR).glob("round_*/batches.json"))
    key = tuple((str(f), f.stat().st_mtime_ns) for f in files)
    if key not in _CAMPAIGN_BATCHES:
        out = {}
        for f in files:
            out.update(json.loads(f.read_text()))
        _CAMPAIGN_BATCHES.clear()
        _CAMPAIGN_BATCHES[key] = out
    return _CAMPAIGN_BATCHES[key]


def campaign_batch_of():
    return {run: b for b, runs in campaign_batches().items() for run in runs}


def campaign_round_inputs(wildcards):
    """What round r reads: the training set's structures, embeddings (and MD labels), the pool
    (frozen shards) and the labels of every earlier round."""
    r = int(wildcards.round)
    d = campaign_start_inputs(wildcards) | {
        "pool_candidates": [
            ancient(f"{R}/screening/shards/{k}/candidates.parquet") for k in campaign_shards()
        ],
        "pool_embeddings": [
            ancient(f"{R}/screening/shards/{k}/embeddings.parquet") for k in campaign_shards()
        ],
        "earlier": [campaign_path(k, "labels.parquet") for k in range(1, r)],
    }
    return d


def campaign_start_inputs(wildcards):
    """What the campaign starts from: the training set's structures, embeddings (and MD labels)."""
    d = {
        "structures": ancient(rules.collect_structures.output.structures),
        "embeddings": ancient(rules.collect_embeddings.output.embeddings),
    }
    if CAMPAIGN.oracle == "md":
        d["labels"] = ancient(rules.collect_labels.output.labels)
    return d


def md_runs_per_job():
    return runs_per_job(config["md"], config["prepare"]["max_atoms"])


def campaign_picks(round_):
    """Round ``round_``'s picks (its checkpoint must have run: Snakemake runs it first)."""
    import pandas as pd

    path = checkpoints.campaign_round.get(round=round_).output.picks
    return sorted(pd.read_parquet(path, columns=["material_id"])["material_id"])


def campaign_label_inputs(wildcards):
    """Round r's picks and, for the md oracle, their label files and md batch folders."""
    d = {"picks": campaign_path(wildcards.round, "picks.parquet")}
    if CAMPAIGN.oracle == "md":
        picks = campaign_picks(wildcards.round)
        d["labels"] = [f"{R}/labels/{m}.parquet" for m in picks]
        d["batches"] = sorted({md_run_batch_dir(f"{m}/{t}K") for m in picks for t in TEMPS})
    return d


def campaign_label_files(wildcards):
    if CAMPAIGN.oracle != "md":
        return {}
    return {m: f"{R}/labels/{m}.parquet" for m in campaign_picks(wildcards.round)}


def campaign_run_files(wildcards):
    if CAMPAIGN.oracle != "md":
        return {}
    return {
        m: [md_run_file(m, t, ".run.parquet") for t in TEMPS]
        for m in campaign_picks(wildcards.round)
    }


def campaign_settings():
    """What decides a round (campaign.rounds does not: raising it leaves finished rounds alone)."""
    return canonical({k: v for k, v in config["campaign"].items() if k != "rounds"})
