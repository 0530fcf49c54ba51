"""Rule shim: MD of one material at one temperature."""
from ionscreen import logs
from ionscreen.md import MDSettings, md_for_material

logs.setup(snakemake.log[0])
settings = MDSettings(temperature_K=float(snakemake.wildcards.temperature), **snakemake.params.settings)
settings.threads = snakemake.threads
md_for_material(snakemake.input.structures, snakemake.wildcards.material, settings,
                snakemake.output.trajectory, snakemake.output.run)
