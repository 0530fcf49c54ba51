"""Rule shim: predictions for one shard of candidates with the trained predictor."""

from pathlib import Path

from ionscreen import logs
from ionscreen.screen.predict import screen_tables

logs.setup(snakemake.log[0])
screen_tables(
    Path(snakemake.input.model).parent,
    snakemake.input.structures,
    snakemake.input.embeddings,
    snakemake.params.temperatures,
    snakemake.output.predictions,
    snakemake.params.rank_temperature,
    room_temperature_model=snakemake.params.room_temperature_model,
)
