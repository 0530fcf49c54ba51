# Stage embed: the settings of rules/embed.smk.
# Included after rules/common.smk and before the stage files, whose rules call these while the DAG is parsed.


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
