"""Rule shim: one campaign round's picks labelled by the oracle, with their MD cost."""

from ionscreen import logs
from ionscreen.campaign.acquire import CampaignSettings
from ionscreen.campaign.stage import label_round

logs.setup(snakemake.log[0])
label_round(
    int(snakemake.wildcards.round),
    snakemake.input.picks,
    CampaignSettings(**snakemake.params.settings),
    out=snakemake.output.labels,
    target=snakemake.params.target,
    temperature_K=float(snakemake.params.temperature),
    label_files=dict(snakemake.params.label_files),
    run_files={k: list(v) for k, v in dict(snakemake.params.run_files).items()},
)
