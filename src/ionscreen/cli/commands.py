"""What each ``ionscreen`` subcommand does (``cli.parser`` parses the line): one function per command that
calls the same package function as the workflow rule, and the checks of outputs made before any
work."""

from __future__ import annotations

import argparse
import logging
import sys


class CLIError(Exception):
    """A mistake in what was asked: printed as one line that says what to do, exit status 2."""


# Options that name output files, and the commands whose --out is a folder.
OUTPUT_FILES = ("out", "rejected_out", "runs_out")


FOLDER_OUT = {"train", "train-rt", "ingest-liflow", "ingest", "plan"}


def check_output(path: str, folder: bool = False) -> None:
    """Refuse an output path that cannot be written, before any work: its folder (created if
    missing) must be writable, and a file output must not be an existing folder."""
    import os
    from pathlib import Path

    p = Path(path)
    if not folder and p.is_dir():
        raise CLIError(f"{p} is a folder: give a file path (e.g. {p / 'out.parquet'})")
    parent = p if folder else p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create the folder {parent} for {p} ({exc.strerror}): choose another path") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write to {parent} (permission denied): choose another path for {p}")


def cmd_md(a: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from pymatgen.io.ase import AseAtomsAdaptor

    from ionscreen import schema
    from ionscreen.labels.diffusion import LabelSettings
    from ionscreen.md.engine import MDSettings, run_md
    from ionscreen.structures.prepare import read_structure
    from ionscreen.structures.sources import files_by_id

    structures = files_by_id(a.structure)
    temps = list(dict.fromkeys(a.temperature))
    single = len(structures) * len(temps) == 1
    if not single and Path(a.out).suffix == ".parquet":
        raise CLIError(
            f"{len(structures)} structures x {len(temps)} temperatures: --out is a folder "
            f"(<folder>/<id>/<T>K.parquet), not {a.out}"
        )
    check_output(a.out, folder=not single)
    s = MDSettings(
        temperature_K=temps[0],
        n_steps=a.steps,
        timestep_fs=a.timestep_fs,
        interval=a.interval,
        mlip=a.mlip,
        seed=a.seed,
        thermostat=a.thermostat,
        device=a.device,
        threads=a.threads,
        chunk_frames=a.chunk_frames,
        skin_A=a.skin_A,
        stop=a.stop,
        segment_ps=a.segment_ps,
        min_ps=a.min_ps,
        target_rel_error=a.target_rel_error,
        min_msd_hops=a.min_msd_hops,
        ladder=a.ladder,
    )
    s.check()
    atoms = [(mid, AseAtomsAdaptor.get_atoms(read_structure(path))) for mid, path in structures.items()]

    def out_path(mid: str, t: float) -> Path:
        return Path(a.out) if single else Path(a.out) / mid / f"{t:g}K.parquet"

    if a.engine == "ase":  # the plain loop: one run after another, each of --steps (no stop rule, no ladder)
        s.stop, s.ladder = "fixed", False
        rows = []
        for mid, at in atoms:
            for t in temps:
                rows.append(run_md(at, replace(s, temperature_K=t), out_path(mid, t), material_id=mid))
    else:
        from ionscreen.md.potentials import get_potential
        from ionscreen.md.stage import run_ladder
        from ionscreen.mlip import set_threads

        set_threads(s.threads)
        rows = run_ladder(atoms, temps, s, out_path, get_potential(s.mlip, s.device))
    if a.runs_out:
        schema.write_table(rows, a.runs_out, "md_runs")
    for row in rows:
        print(
            f"{row['material_id']} {row['temperature_K']:g} K: {row['status']}{': ' + row['reason'] if row['reason'] else ''}"
            f", {row['n_steps']} steps, {row['steps_per_s']:.2f} steps/s -> {row['trajectory_path']}"
        )
    frames = s.n_steps // s.interval + 1
    if any(r["status"] == "ok" for r in rows) and frames < LabelSettings.min_frames:
        need = (LabelSettings.min_frames - 1) * s.interval
        print(
            f"note: {frames} frames saved; ionscreen label needs >= {LabelSettings.min_frames}: use --steps >= {need} "
            f"or a smaller --interval",
            file=sys.stderr,
        )
    # A run the ladder skipped is the ladder working, not a failure.
    return 0 if all(r["status"] == "ok" or r["stop_reason"] == "ladder" for r in rows) else 1


def cmd_label(a: argparse.Namespace) -> int:
    from ionscreen.labels.diffusion import LabelSettings
    from ionscreen.labels.stage import label_files

    s = LabelSettings(specie=a.specie, dimension=a.dimension, start_dt_ps=a.start_dt_ps, n_dt=a.n_dt)
    opts = {"timestep_fs": a.timestep_fs, "interval": a.interval, "temperature_K": a.temperature}
    rows = label_files(a.traj, s, a.out, read_options=opts)
    for r in rows:
        print(label_line(r))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def label_line(r: dict[str, object]) -> str:
    """One line per labels row: D with its interval, or the upper bound of a run that never
    became diffusive, or why the run could not be labelled."""
    import math

    head = f"{r['material_id']} {float(r['temperature_K']):g} K: {r['status']}"
    if r["status"] != "ok":
        return f"{head}: {r.get('reason') or 'no reason recorded'}"
    msd = f"msd_final={float(r.get('msd_final_A2', math.nan)):.4g} A^2"
    d = float(r.get("D_cm2_s", math.nan))
    if math.isfinite(d):
        return (
            f"{head} {msd} D={d:.4g} cm2/s (95 % {float(r.get('D_ci95_low_cm2_s', math.nan)):.3g} to "
            f"{float(r.get('D_ci95_high_cm2_s', math.nan)):.3g})"
        )
    upper = float(r.get("D_upper_cm2_s", math.nan))
    bound = f"D <= {upper:.3g} cm2/s (upper bound, D_upper_cm2_s)" if math.isfinite(upper) else "no D"
    return f"{head} {msd}, not diffusive: {bound}; {r.get('reason') or 'the MSD never reached a slope of 1'}"


def cmd_ingest_liflow(a: argparse.Namespace) -> int:
    from ionscreen.ingest.liflow import ingest_liflow
    from ionscreen.labels.diffusion import LabelSettings

    n = ingest_liflow(
        a.data_dir,
        a.out,
        settings=LabelSettings(specie=a.specie, n_dt=a.n_dt),
        timestep_fs=a.timestep_fs,
        interval=a.interval,
        limit=a.limit,
    )
    print(f"{n['structures']} structures, {n['trajectories']} trajectories ({n['labelled']} labelled) -> {a.out}")
    return 0


def cmd_ingest(a: argparse.Namespace) -> int:
    from ionscreen.ingest.liflow import ingest_manifest
    from ionscreen.labels.diffusion import LabelSettings

    n = ingest_manifest(a.manifest, a.out, settings=LabelSettings(specie=a.specie, n_dt=a.n_dt))
    print(f"{n['structures']} structures, {n['trajectories']} trajectories ({n['labelled']} labelled) -> {a.out}")
    return 0 if n["labelled"] == n["trajectories"] else 1


def prepare_settings(a: argparse.Namespace) -> object:
    from ionscreen.structures.prepare import PrepareSettings, candidate_settings

    given = {
        k: getattr(a, k)
        for k in (
            "mlip",
            "device",
            "min_width_A",
            "max_atoms",
            "relax_steps",
            "relax_fmax_eV_A",
            "order_seed",
            "min_distance_A",
        )
        if getattr(a, k) is not None
    }
    return candidate_settings(**given) if a.candidates else PrepareSettings(**given)


def cmd_prepare(a: argparse.Namespace) -> int:
    from ionscreen.structures.prepare import prepare_sources
    from ionscreen.structures.sources import files_by_id

    n_ok, n_bad = prepare_sources(files_by_id(a.structure), prepare_settings(a), a.out, a.rejected_out, stage="fetch")
    if not n_ok:
        print(f"nothing prepared: all {n_bad} structures rejected (reasons in {a.rejected_out})", file=sys.stderr)
        return 1
    print(f"{n_ok} structures prepared, {n_bad} rejected -> {a.out}, {a.rejected_out}")
    return 0


def cmd_embed(a: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from ionscreen.embed.structure import embed_table
    from ionscreen.structures.prepare import candidate_settings, prepare_sources
    from ionscreen.structures.sources import files_by_id

    with tempfile.TemporaryDirectory() as tmp:
        table = a.structure[0] if len(a.structure) == 1 and a.structure[0].endswith(".parquet") else None
        if table is None:  # structure files: prepared (disorder ordered) as candidates are, then embedded
            files = files_by_id(a.structure)
            table = str(Path(tmp) / "structures.parquet")
            n_ok, n_bad = prepare_sources(
                files,
                candidate_settings(mlip=a.mlip, device=a.device),
                table,
                Path(tmp) / "rejected.parquet",
                stage="embed",
                relax=False,
                progress=False,
            )
            if not n_ok:
                raise CLIError(f"nothing embedded: all {n_bad} structures were rejected (see the log lines above)")
            if n_bad:
                print(f"{n_bad} structures rejected (see the log lines above)", file=sys.stderr)
        n = embed_table(
            table,
            a.out,
            model=a.mlip,
            layer=a.layer,
            variant=a.variant,
            frame=a.frame,
            device=a.device,
            threads=a.threads,
        )
    print(f"{n} Li rows -> {a.out}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd
    import yaml

    from ionscreen.embed.structure import embedding_meta_of
    from ionscreen.learn.config import TrainConfig
    from ionscreen.learn.dataset import read_training_tables
    from ionscreen.learn.train import train

    settings: dict[str, object] = {}
    for path in a.config or []:  # later files override earlier ones, as snakemake's --configfile does
        settings.update((yaml.safe_load(Path(path).read_text()) or {}).get("train") or {})
    settings = {k: v for k, v in settings.items() if k not in ("labels", "obelix_dir")}
    paths = {
        name: Path(a.trainset) / f"{name}.parquet"
        for name in ("labels", "structures", "embeddings", "trajectory_embeddings")
    }
    t = read_training_tables(paths)
    cfg = TrainConfig(**settings)
    values = {
        c
        for c in t.labels.columns
        if c.endswith(("_A2", "_cm2_s", "_S_cm", "_A2_ps")) and (pd.to_numeric(t.labels[c], errors="coerce") > 0).any()
    }
    if cfg.target not in values:
        raise CLIError(
            f"the target {cfg.target!r} has no positive values in {paths['labels']}: set train.target "
            f"in a --config file to one of {sorted(values) or 'the label columns'}"
        )
    embedding = embedding_meta_of(t.embeddings) if len(t.embeddings) else None  # the embeddings say what made them
    out = Path(a.out)
    res = train(
        t.labels,
        t.embeddings,
        t.structures,
        cfg,
        out,
        out / "metrics.parquet",
        out / "training_predictions.parquet",
        trajectories=t.trajectories,
        embedding_meta=embedding,
    )
    print(f"{res.meta.route}: {len(res.members)} members on {len(res.meta.training_materials)} materials -> {out}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from pathlib import Path

    from ionscreen.learn.meta import ModelMeta
    from ionscreen.roomtemp.model import SHIPPED, resolve
    from ionscreen.screen.screener import predict_paths

    if not a.verbose:  # the rejections are printed below, once each
        logging.getLogger("ionscreen.structures.prepare").setLevel(logging.ERROR)
    if resolve(a.model) is None:  # a workflow model; a room-temperature one (obelix-rt) needs no checks
        if not (Path(a.model) / "model.pt").is_file():
            raise CLIError(
                f"no model {a.model!r}: give a model folder the train rule wrote (with model.pt, e.g. "
                f"results/model) or a shipped model: {', '.join(SHIPPED)}"
            )
        meta = ModelMeta.from_json(a.model)
        lo, hi = meta.temperature_range_K
        outside = sorted({t for t in a.temperature if not lo <= t <= hi})
        if outside:
            print(
                f"warning: {', '.join(f'{t:g}' for t in outside)} K lie outside the model's training temperatures "
                f"({lo:g}-{hi:g} K): those rows are extrapolations, flagged temperature_outside_training",
                file=sys.stderr,
            )
    df, bad = predict_paths(
        a.model,
        a.structure,
        a.temperature,
        a.out,
        rejected_out=a.rejected_out,
        rank_temperature_K=a.rank_temperature,
        relax_steps=a.relax_steps,
        max_atoms=a.max_atoms,
        device=a.device,
        threads=a.threads,
        workers=a.workers,
        room_temperature_model=a.room_temperature_model or None,
    )
    for b in bad:
        print(f"rejected {b['material_id']}: {b['reason']}", file=sys.stderr)
    print(f"{df['material_id'].nunique() if len(df) else 0} structures predicted, {len(bad)} rejected -> {a.out}")
    return 0


def cmd_train_rt(a: argparse.Namespace) -> int:
    from ionscreen.roomtemp.fit import RoomTempConfig
    from ionscreen.roomtemp.train import train_room_temperature

    meta, summary = train_room_temperature(a.obelix_dir, a.out, RoomTempConfig(n_trees=a.trees, seed=a.seed))
    for model, r in summary.iterrows():
        print(
            f"{model}: grouped {meta.cv['n_folds']}-fold CV MAE {r['mae_mean']:.3f} +- {r['mae_std']:.3f} (log10 S/cm)"
        )
    print(f"{meta.name}: {meta.n_train} entries -> {a.out} (model card: {a.out}/MODEL_CARD.md)")
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from ionscreen.configdoc import workflow_config
    from ionscreen.labels.diffusion import LabelSettings
    from ionscreen.md.plan import PlanSettings, render
    from ionscreen.md.stage import md_batches, plan_job, workflow_md_settings
    from ionscreen.structures.sources import material_files

    config = workflow_config(a.directory, a.configfile)
    plan = PlanSettings(**config["plan"])  # type: ignore[arg-type]
    plan = replace(
        plan, rates=a.rates or plan.rates, devices=a.devices or plan.devices, probe_s=a.probe_s or plan.probe_s
    )
    root = Path(a.directory)
    results = root / str(config["results"])
    materials = material_files(config["train_sources"], root, fetch=False)  # type: ignore[arg-type]
    cfg = dict(config, results=str(results))
    batches = md_batches(cfg, list(materials), update=True, write=False)
    files = {m: results / "structures" / "prepared" / f"{m}.parquet" for m in materials}
    missing = sorted(m for m, f in files.items() if not f.is_file())
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CLIError(
            f"{len(missing)} of {len(files)} training structures are not prepared yet ({shown}); the plan needs "
            "their atoms: run `snakemake --cores 8 plan` with the same config files (it prepares them first, "
            "never starts MD)"
        )
    settings = workflow_md_settings(config)
    if a.threads:
        settings.threads = a.threads
    out = Path(a.out) if a.out else results / "plan"
    table, _, rate = plan_job(
        sorted(files.values()),
        batches,
        settings,
        list(config["md"]["temperatures_K"]),  # type: ignore[index]
        out / "plan.parquet",
        out / "plan_batches.parquet",
        plan=plan,
        rates_file=out / "rates.parquet",
        label=LabelSettings(**config["label"]),  # type: ignore[arg-type]
    )
    print(render(table, rate, title=f"ionscreen plan ({out / 'plan.parquet'})"))
    return 0
