# Stage label: MSD, kinisi D* with credible interval, Nernst-Einstein sigma, Arrhenius; one job
# per material over its temperatures.


rule label:
    """MSD, kinisi D with its 95 % interval, sigma and the Arrhenius fit of one material's MD runs."""
    input:
        batches=material_md_batches,
    output:
        labels=f"{R}/labels/{{material}}.parquet",
        arrhenius=f"{R}/labels/{{material}}.arrhenius.parquet",
        msd=f"{R}/labels/{{material}}.msd.json",
    log:
        log_path("label", "{material}"),
    benchmark:
        bench_path("label", "{material}")
    conda:
        "../envs/label.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        trajectories=material_trajectories,
        settings=label_settings(),
        stage_version=STAGE_VERSIONS["label"],
    script:
        "../workflow_scripts/label.py"


rule collect_labels:
    """Every training material's labels and Arrhenius fits in one table each, with the MSD curves."""
    input:
        labels=per_material(f"{R}/labels/{{material}}.parquet"),
        arrhenius=per_material(f"{R}/labels/{{material}}.arrhenius.parquet"),
        msd=per_material(f"{R}/labels/{{material}}.msd.json"),
    output:
        labels=f"{R}/labels/labels.parquet",
        arrhenius=f"{R}/labels/arrhenius.parquet",
        msd=f"{R}/labels/msd_curves.json",
    log:
        log_path("label", "collect_labels"),
    benchmark:
        bench_path("label", "collect_labels")
    conda:
        "../envs/label.yaml"
    script:
        "../workflow_scripts/collect_labels.py"
