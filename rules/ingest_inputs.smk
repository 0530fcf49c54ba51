# Stage ingest: the settings and inputs of rules/ingest.smk.
# Included after rules/common.smk and before the stage files, whose rules call these while the DAG is parsed.


def ingest_label_settings():
    return canonical({k: config["label"][k] for k in ("specie", "dimension", "n_dt")})


def liflow_csvs(wildcards):
    return sorted(str(p) for p in Path(config["liflow"]["data_dir"]).glob("*_*K.csv"))
