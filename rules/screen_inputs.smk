# Stage screen: the report's inputs (rules/screen.smk).
# Included after rules/common.smk and before the stage files, whose rules call these while the DAG is parsed.


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
