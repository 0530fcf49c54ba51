"""Rule shim: the campaign round by round (summary.parquet)."""

from ionscreen import logs
from ionscreen.campaign.acquire import CampaignSettings
from ionscreen.campaign.stage import campaign_summary

logs.setup(snakemake.log[0])
campaign_summary(
    CampaignSettings(**snakemake.params.settings),
    trainset={k: snakemake.input[k] for k in ("structures", "embeddings", "labels") if k in snakemake.input.keys()},
    rounds=list(zip(snakemake.input.picks, snakemake.input.round_labels, strict=True)),
    out=snakemake.output.summary,
    target=snakemake.params.target,
    temperature_K=float(snakemake.params.temperature),
)
