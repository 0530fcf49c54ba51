"""Stage versions: what decides whether a finished result is out of date."""

from __future__ import annotations

# What decides whether a finished result is out of date: one version per stage, bumped by hand
# when what the stage computes would change (a new ordering rule, another integrator, a fixed
# label formula). The package version is recorded in every file's provenance but never makes a
# result stale: installing a patch release must not re-run weeks of MD. The rules pass
# ``STAGE_VERSIONS[stage]`` as a param, so Snakemake re-runs exactly the stages whose number moved.
STAGE_VERSIONS: dict[str, int] = {
    "prepare": 2,  # read, order disorder, supercell, relax (structures/prepare.py); 2: split sites separated
    "md": 2,  # NVT MD (md/engine.py, md/batch.py); 2: thermostat on 3N - 3 degrees of freedom, velocities seeded per temperature, evidence-based stop rule, framework check before a ladder skip
    "label": 3,  # MSD, kinisi D, sigma, Arrhenius (labels/diffusion.py); 2: D_upper a 95 % limit on every run (labels/bounds.py), n_hops; 3: limit on hop events (concerted hops), hop length seen or a prior, frames that kinisi cannot unwrap refused
    "embed": 2,  # SevenNet structure embeddings (embed/structure.py); 2: default variant invariant, frame column
    "trajembed": 1,  # MOMENT / Fourier trajectory embeddings (embed/trajectory.py)
    "trainset": 1,  # the training-set tables (learn/trainset.py)
    "train": 3,  # models and their metrics (learn/train.py, learn/dataset.py); 2: rounding-noise columns constant; 3: embedding frame in model.json
    "predict": 4,  # predictions of one candidate shard (screen/predict.py); 2: obelix-rt columns; 3: obelix-rt fits ln(-log10 sigma); 4: rank_by, skill and temperature-dependence flags
    "campaign": 1,  # active campaigns: rounds, their labels, the summary (campaign/stage.py)
}
