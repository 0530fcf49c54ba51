"""Rule shim: the campaign's cost plan (probe, then every md batch job's hours and time limit)."""

from ionscreen import logs
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.md.engine import MDSettings
from ionscreen.md.plan import PlanSettings, render
from ionscreen.md.stage import plan_job

logs.setup(snakemake.log[0])
settings = MDSettings(**snakemake.params.settings)
settings.threads = snakemake.threads
table, _, rate = plan_job(
    list(snakemake.input.structures),
    {k: list(v) for k, v in snakemake.params.batches.items()},
    settings,
    list(snakemake.params.temperatures),
    snakemake.output.plan,
    snakemake.output.batches,
    plan=PlanSettings(**snakemake.params.plan),
    rates_file=snakemake.params.rates,
    label=LabelSettings(**snakemake.params.label),
)
text = render(table, rate, title=f"ionscreen plan ({snakemake.output.plan})")
print(text)  # on the terminal of `snakemake plan`, and in the job's log
with open(snakemake.log[0], "a") as log:
    log.write(text + "\n")
