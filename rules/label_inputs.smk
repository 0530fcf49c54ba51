# Stage label: the settings and inputs of rules/label.smk.
# Included after rules/common.smk and before the stage files, whose rules call these while the DAG is parsed.


def label_settings():
    return canonical(config["label"])


def material_trajectories(wildcards):
    return [md_run_file(wildcards.material, t) for t in TEMPS]
