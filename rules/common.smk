# Shared definitions: result paths, wildcard constraints, material lists, version param.
from pathlib import Path

import ionscreen
from ionscreen.sources import MATERIAL_ID_PATTERN, material_files

R = config["results"]
import ionscreen.schema

VERSION = f"{ionscreen.__version__}+schema{ionscreen.schema.SCHEMA_VERSION}"

# Material ids are known when the DAG is built (file stems), so a dry run lists every job.
TRAIN = material_files(config["train_sources"], workflow.basedir)
CANDIDATES = material_files(config["candidate_sources"], workflow.basedir)
TEMPS = [int(t) if float(t).is_integer() else t for t in config["md"]["temperatures_K"]]


wildcard_constraints:
    material=MATERIAL_ID_PATTERN,
    temperature=r"\d+(\.\d+)?",


def log_path(stage, name):
    return f"{R}/logs/{stage}/{name}.log"


def bench_path(stage, name):
    return f"{R}/benchmarks/{stage}/{name}.tsv"


def mlip_settings():
    return {"mlip": config["mlip"]["model"], "device": config["mlip"]["device"]}


# One slot of the local mlip_jobs cap (profiles/default). The executor is not known while the
# Snakefile is parsed (workflow.local_exec is always True here), so the cluster profiles set
# mlip_jobs to 0 on these rules (set-resources), where the cap must not bind.
MLIP_SLOT = 1
