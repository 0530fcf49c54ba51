# Stage label: MSD, kinisi D* with credible interval, Nernst-Einstein sigma, Arrhenius.


rule label:
    input:
        trajectories=expand(f"{R}/md/{{{{material}}}}/{{temperature}}K.parquet", temperature=TEMPS),
    output:
        labels=f"{R}/labels/{{material}}.parquet",
        arrhenius=f"{R}/labels/{{material}}.arrhenius.parquet",
        msd=f"{R}/labels/{{material}}.msd.json",
    params:
        settings=config["label"],
        version=VERSION,
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    log:
        log_path("label", "{material}"),
    benchmark:
        bench_path("label", "{material}")
    conda:
        "../envs/label.yaml"
    script:
        "../workflow_scripts/label.py"


rule collect_labels:
    input:
        labels=expand(f"{R}/labels/{{material}}.parquet", material=TRAIN),
        arrhenius=expand(f"{R}/labels/{{material}}.arrhenius.parquet", material=TRAIN),
        msd=expand(f"{R}/labels/{{material}}.msd.json", material=TRAIN),
    output:
        labels=f"{R}/labels/labels.parquet",
        arrhenius=f"{R}/labels/arrhenius.parquet",
        msd=f"{R}/labels/msd_curves.json",
    params:
        version=VERSION,
    log:
        log_path("label", "collect_labels"),
    benchmark:
        bench_path("label", "collect_labels")
    conda:
        "../envs/label.yaml"
    script:
        "../workflow_scripts/collect_labels.py"
