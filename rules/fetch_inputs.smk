# Stage fetch: the input functions and settings of rules/fetch.smk.
# Included after rules/common.smk and before the stage files, whose rules call these while the DAG is parsed.


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
