"""Rule shim: rank every shard's predictions together; gather candidates and rejections."""

from pathlib import Path

from ionscreen import logs, schema
from ionscreen.screen.predict import merge_predictions

logs.setup(snakemake.log[0])
merge_predictions(
    snakemake.input.predictions,
    snakemake.output.ranking,
    snakemake.params.rank_temperature,
    rank_by=snakemake.params.rank_by,
    model_dir=Path(snakemake.input.model).parent,
    room_temperature_model=snakemake.params.room_temperature_model,
)
schema.concat_files(snakemake.input.structures, snakemake.output.structures, "structures")
schema.concat_files(snakemake.input.rejected, snakemake.output.rejected, "rejected")
