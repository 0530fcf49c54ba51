# ionscreen: screen crystal structures for fast Li-ion transport.
#   snakemake --cores 8 screen_candidates         (the main job)
#   snakemake screen_candidates --cores 2 --configfile .test/config.yaml   (tiny end-to-end)
#   snakemake train --configfile config/obelix.yaml   (target first: --configfile takes several files)
# Entry only: configuration, validation, includes, targets. Science lives in src/ionscreen.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: f"{workflow.basedir}/config.yaml"


validate(config, "config/config.schema.yaml")


include: "rules/common.smk"
include: "rules/fetch_inputs.smk"
include: "rules/md_inputs.smk"
include: "rules/label_inputs.smk"
include: "rules/embed_inputs.smk"
include: "rules/train_inputs.smk"
include: "rules/screen_inputs.smk"
include: "rules/ingest_inputs.smk"
include: "rules/campaign_inputs.smk"  # before md.smk: the md rules look campaign batches up
include: "rules/fetch.smk"
include: "rules/md.smk"
include: "rules/label.smk"
include: "rules/embed.smk"
include: "rules/train.smk"
include: "rules/screen.smk"
include: "rules/ingest.smk"
include: "rules/campaign.smk"


rule embed_trajectories_all:
    """Trajectory embeddings of every training run (MOMENT, or the labelled Fourier-only fallback)."""
    input:
        rules.collect_trajectory_embeddings.output.embeddings,


rule screen_candidates:
    """The main target: ranked predictions for the candidates, and the report."""
    input:
        rules.rank.output.ranking,
        rules.report.output.html,
# fmt: off
# (snakefmt 2.1 moves default_target above the docstring, then cannot parse what it wrote)
rule default:
    """What a bare `snakemake` builds: the rule named by config default_target (screen_candidates)."""
    input:
        getattr(rules, config["default_target"]).output or getattr(rules, config["default_target"]).input,
    default_target: True
# fmt: on
