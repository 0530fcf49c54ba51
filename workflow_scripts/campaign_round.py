"""Rule shim: one campaign round (surrogate, pool prediction, picks, the picks' md batch jobs)."""

from ionscreen import logs
from ionscreen.campaign.acquire import CampaignSettings
from ionscreen.campaign.stage import run_round

logs.setup(snakemake.log[0])
run_round(
    int(snakemake.wildcards.round),
    CampaignSettings(**snakemake.params.settings),
    target=snakemake.params.target,
    temperature_K=float(snakemake.params.temperature),
    trainset={k: snakemake.input[k] for k in ("structures", "embeddings", "labels") if k in snakemake.input.keys()},
    pool=list(zip(snakemake.input.pool_candidates, snakemake.input.pool_embeddings, strict=True)),
    earlier=list(snakemake.input.earlier),
    out=dict(snakemake.output.items()),
    temperatures=list(snakemake.params.temperatures),
    batch_size=int(snakemake.params.batch_size),
)
