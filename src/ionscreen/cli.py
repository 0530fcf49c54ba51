"""The ``ionscreen`` command line (README "The command line"). Each subcommand calls the same package function
as the workflow rule. Exit status 0 on success; otherwise one line saying why."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

log = logging.getLogger("ionscreen")


def _md(a: argparse.Namespace) -> int:
    from ionscreen import schema
    from ionscreen.md import MDSettings, run_md
    from ionscreen.sources import list_structure_files, material_id
    from ionscreen.structures import read_structure

    files = list_structure_files([a.structure])
    if len(files) != 1:
        raise SystemExit(f"ionscreen md: expected one structure file, got {len(files)}")
    s = MDSettings(temperature_K=a.temperature, n_steps=a.steps, timestep_fs=a.timestep_fs,
                   interval=a.interval, mlip=a.mlip, seed=a.seed, thermostat=a.thermostat,
                   device=a.device, threads=a.threads, chunk_frames=a.chunk_frames)
    row = run_md(read_structure(files[0]), s, a.out, material_id=material_id(files[0]))
    if a.runs_out:
        schema.write_table([row], a.runs_out, "md_runs")
    print(f"{row['status']}: {row['n_steps']} steps, {row['steps_per_s']:.2f} steps/s -> {a.out}")
    return 0 if row["status"] == "ok" else 1


def _label(a: argparse.Namespace) -> int:
    from ionscreen.labels import LabelSettings, label_files

    s = LabelSettings(specie=a.specie, dimension=a.dimension, start_dt_ps=a.start_dt_ps, n_dt=a.n_dt)
    opts = {"timestep_fs": a.timestep_fs, "interval": a.interval, "temperature_K": a.temperature}
    rows = label_files(a.traj, s, a.out, read_options=opts)
    for r in rows:
        print(f"{r['material_id']} {r['temperature_K']:g} K: {r['status']} "
              f"msd_final={r.get('msd_final_A2', float('nan')):.4g} A^2 D={r.get('D_cm2_s', float('nan')):.4g} cm2/s "
              f"{r.get('reason', '')}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def _ingest_liflow(a: argparse.Namespace) -> int:
    from ionscreen.ingest import ingest_liflow
    from ionscreen.labels import LabelSettings

    n = ingest_liflow(a.data_dir, a.out, settings=LabelSettings(specie=a.specie, n_dt=a.n_dt),
                      timestep_fs=a.timestep_fs, interval=a.interval, limit=a.limit)
    print(f"{n['structures']} structures, {n['trajectories']} trajectories ({n['labelled']} labelled) -> {a.out}")
    return 0


def _ingest(a: argparse.Namespace) -> int:
    from ionscreen.ingest import ingest_manifest
    from ionscreen.labels import LabelSettings

    n = ingest_manifest(a.manifest, a.out, settings=LabelSettings(specie=a.specie, n_dt=a.n_dt))
    print(f"{n['structures']} structures, {n['trajectories']} trajectories ({n['labelled']} labelled) -> {a.out}")
    return 0 if n["labelled"] == n["trajectories"] else 1


def _prepare_settings(a: argparse.Namespace) -> object:
    from ionscreen.structures import PrepareSettings, candidate_settings

    given = {k: getattr(a, k) for k in ("mlip", "device", "min_width_A", "max_atoms", "relax_steps",
                                         "relax_fmax_eV_A", "order_seed", "min_distance_A") if getattr(a, k) is not None}
    return candidate_settings(**given) if a.candidates else PrepareSettings(**given)


def _prepare(a: argparse.Namespace) -> int:
    from ionscreen.sources import list_structure_files, material_id
    from ionscreen.structures import prepare_sources

    files = {material_id(p): p for p in list_structure_files(a.structure)}
    n_ok, n_bad = prepare_sources(files, _prepare_settings(a), a.out, a.rejected_out, stage="fetch")
    print(f"{n_ok} structures prepared, {n_bad} rejected -> {a.out}, {a.rejected_out}")
    return 0


def _embed(a: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from ionscreen.embed import embed_table
    from ionscreen.sources import list_structure_files, material_id
    from ionscreen.structures import candidate_settings, prepare_sources

    with tempfile.TemporaryDirectory() as tmp:
        table = a.structure[0] if len(a.structure) == 1 and a.structure[0].endswith(".parquet") else None
        if table is None:  # structure files: prepared (disorder ordered) as candidates are, then embedded
            files = {material_id(p): p for p in list_structure_files(a.structure)}
            table = str(Path(tmp) / "structures.parquet")
            _, n_bad = prepare_sources(files, candidate_settings(mlip=a.model, device=a.device), table,
                                       Path(tmp) / "rejected.parquet", stage="embed", relax=False, progress=False)
            if n_bad:
                print(f"{n_bad} structures rejected (see the log lines above)", file=sys.stderr)
        n = embed_table(table, a.out, model=a.model, layer=a.layer, variant=a.variant, frame=a.frame,
                        device=a.device, threads=a.threads)
    print(f"{n} Li rows -> {a.out}")
    return 0


def _train(a: argparse.Namespace) -> int:
    from pathlib import Path

    import yaml

    from ionscreen.dataset import read_training_tables
    from ionscreen.embed import embedding_meta_of
    from ionscreen.train import TrainConfig, train

    settings: dict[str, object] = {}
    for path in a.config or []:  # later files override earlier ones, as snakemake's --configfile does
        settings.update((yaml.safe_load(Path(path).read_text()) or {}).get("train") or {})
    settings = {k: v for k, v in settings.items() if k not in ("labels", "obelix_dir")}
    paths = {name: Path(a.trainset) / f"{name}.parquet"
             for name in ("labels", "structures", "embeddings", "trajectory_embeddings")}
    t = read_training_tables(paths)
    first = t.embeddings.iloc[0] if len(t.embeddings) else None  # the embeddings say what made them
    embedding = embedding_meta_of(t.embeddings) if first is not None else None
    out = Path(a.out)
    res = train(t.labels, t.embeddings, t.structures, TrainConfig(**settings), out, out / "metrics.parquet",
                out / "training_predictions.parquet", trajectories=t.trajectories, embedding_meta=embedding)
    print(f"{res.meta.route}: {len(res.members)} members on {len(res.meta.training_materials)} materials -> {out}")
    return 0


def _predict(a: argparse.Namespace) -> int:
    from ionscreen import roomtemp
    from ionscreen.predict import predict_paths

    if roomtemp.resolve(a.model) is not None:  # a shipped room-temperature model (obelix-rt)
        df, bad = roomtemp.predict_paths(a.model, a.structure, a.temperature, a.out, rejected_out=a.rejected_out)
    else:
        df, bad = predict_paths(a.model, a.structure, a.temperature, a.out, rejected_out=a.rejected_out,
                                rank_temperature_K=a.rank_temperature, relax_steps=a.relax_steps,
                                max_atoms=a.max_atoms, device=a.device, threads=a.threads, workers=a.workers)
    for b in bad:
        print(f"rejected {b['material_id']}: {b['reason']}", file=sys.stderr)
    print(f"{df['material_id'].nunique() if len(df) else 0} structures predicted, {len(bad)} rejected -> {a.out}")
    return 0


def _train_rt(a: argparse.Namespace) -> int:
    from ionscreen.roomtemp import RoomTempConfig, train_room_temperature

    meta, summary = train_room_temperature(a.obelix_dir, a.out, RoomTempConfig(n_trees=a.trees, seed=a.seed))
    for model, r in summary.iterrows():
        print(f"{model}: grouped {meta.cv['n_folds']}-fold CV MAE {r['mae_mean']:.3f} +- {r['mae_std']:.3f} (log10 S/cm)")
    print(f"{meta.name}: {meta.n_train} entries -> {a.out} (model card: {a.out}/MODEL_CARD.md)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser; every default comes from the dataclass the subcommand fills (one source of
    defaults: tests/test_defaults.py checks it)."""
    from ionscreen.embed import FRAMES, VARIANTS, SevenNetEmbedder
    from ionscreen.labels import LabelSettings
    from ionscreen.md import MDSettings
    from ionscreen.roomtemp import RoomTempConfig
    from ionscreen.structures import PrepareSettings

    md, emb = MDSettings, SevenNetEmbedder.__init__.__defaults__

    p = argparse.ArgumentParser(prog="ionscreen", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("md", help="NVT MD of one structure as given")
    m.add_argument("structure")
    m.add_argument("--temperature", type=float, required=True, help="K")
    m.add_argument("--steps", type=int, required=True)
    m.add_argument("--timestep-fs", type=float, default=md.timestep_fs)
    m.add_argument("--interval", type=int, default=md.interval, help="steps between saved frames")
    m.add_argument("--mlip", default=md.mlip, help="SevenNet name, MACE .model file, or 'lj'")
    m.add_argument("--seed", type=int, default=md.seed)
    m.add_argument("--thermostat", default=md.thermostat)
    m.add_argument("--device", default=md.device)
    m.add_argument("--threads", type=int, default=md.threads)
    m.add_argument("--chunk-frames", type=int, default=md.chunk_frames, help="frames per saved chunk (resume point)")
    m.add_argument("--runs-out", help="also write the md_runs row here")
    m.add_argument("--out", required=True)
    m.set_defaults(func=_md)

    lab = sub.add_parser("label", help="transport labels of trajectories")
    lab.add_argument("traj", nargs="+")
    lab.add_argument("--specie", default=LabelSettings.specie)
    lab.add_argument("--start-dt-ps", type=float, default=LabelSettings.start_dt_ps)
    lab.add_argument("--dimension", default=LabelSettings.dimension)
    lab.add_argument("--n-dt", type=int, default=LabelSettings.n_dt, help="time intervals in kinisi's fit")
    lab.add_argument("--timestep-fs", type=float, default=None, help="MD time step (non-Parquet input)")
    lab.add_argument("--interval", type=int, default=None, help="steps between frames (non-Parquet input)")
    lab.add_argument("--temperature", type=float, default=None, help="K, for sigma (non-Parquet input)")
    lab.add_argument("--out", required=True)
    lab.set_defaults(func=_label)

    pp = sub.add_parser("prepare", help="read, check, order disorder, supercell and relax structures "
                        "(the prepare rule's function)")
    pp.add_argument("structure", nargs="+")
    pp.add_argument("--candidates", action="store_true",
                    help="candidate defaults (no supercell, no relaxation, 1000-atom budget, ordering fallback)")
    for f in dataclasses.fields(PrepareSettings):
        if f.name != "ordering_fallback":
            pp.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default), default=None,
                            help=f"default {f.default} (PrepareSettings; --candidates: candidate_settings())")
    pp.add_argument("--rejected-out", required=True)
    pp.add_argument("--out", required=True)
    pp.set_defaults(func=_prepare)

    e = sub.add_parser("embed", help="SevenNet structure embeddings (Li rows) of a prepared structures table, or "
                       "of structure files (prepared as candidates first: disorder ordered)")
    e.add_argument("structure", nargs="+", help="a structures .parquet, or structure files / folders")
    e.add_argument("--layer", type=int, default=emb[1])
    e.add_argument("--model", default=emb[0])
    e.add_argument("--variant", default=emb[2], choices=list(VARIANTS),
                   help="default %(default)s (rotation invariant, 456 values); full: the AML paper's 977 values, "
                        "which change with the cell's orientation unless --frame standard")
    e.add_argument("--frame", default=emb[5], choices=list(FRAMES),
                   help="Cartesian frame embedded: given (as written) or standard (rotated to the orientation the "
                        "lattice parameters define first); default %(default)s")
    e.add_argument("--device", default=emb[3])
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--out", required=True)
    e.set_defaults(func=_embed)

    pr = sub.add_parser("predict", help="trained predictor on new structures")
    pr.add_argument("structure", nargs="+")
    pr.add_argument("--model", required=True,
                    help="model directory written by the train rule, or 'obelix-rt': the shipped room-temperature "
                    "conductivity model (OBELiX; --temperature 300 only; structures used as given)")
    pr.add_argument("--temperature", type=float, nargs="+", required=True)
    pr.add_argument("--rank-temperature", type=float, default=None, help="default: lowest --temperature")
    pr.add_argument("--relax-steps", type=int, default=0, help="MLIP relaxation steps (0: structures as given)")
    pr.add_argument("--max-atoms", type=int, default=None,
                    help="atom budget for ordering disorder (default: the workflow's screen.max_atoms default, 1000)")
    pr.add_argument("--device", default="auto")
    pr.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores the readers leave)")
    pr.add_argument("--workers", type=int, default=None,
                    help="reader processes that parse and order files while torch embeds (default: one per core "
                         "with the firstblock embedding engine, otherwise 1; 0 on one core)")
    pr.add_argument("--rejected-out", default=None)
    pr.add_argument("--out", required=True)
    pr.set_defaults(func=_predict)

    tr = sub.add_parser("train", help="train the predictor ensemble on a trainset folder (the train rule's function)")
    tr.add_argument("trainset", help="folder with labels, structures, embeddings, trajectory_embeddings .parquet "
                    "(results/trainset/ of a run)")
    tr.add_argument("--config", nargs="+", default=None,
                    help="config YAML files whose train: sections set TrainConfig (later ones override)")
    tr.add_argument("--out", required=True, help="model directory")
    tr.set_defaults(func=_train)

    rt = sub.add_parser("train-rt", help="the room-temperature conductivity model (obelix-rt) from OBELiX, "
                        "with its grouped CV and model card")
    rt.add_argument("obelix_dir", help="OBELiX folder with train.csv (e.g. resources/obelix)")
    rt.add_argument("--trees", type=int, default=RoomTempConfig.n_trees)
    rt.add_argument("--seed", type=int, default=RoomTempConfig.seed)
    rt.add_argument("--out", required=True, help="model directory (the shipped one: src/ionscreen/models/obelix-rt)")
    rt.set_defaults(func=_train_rt)

    il = sub.add_parser(
        "ingest-liflow", help="a LiFlow data archive -> structures, labels (with split), trajectories",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Reads a LiFlow data archive in the layout of LiFlow's own loader:\n"
        "  element_index.npy       element lookup table: a plain integer array [n_elements], indexed by atomic number\n"
        "  atomic_numbers.npy      pickled dict: structure name -> atomic numbers [n_atoms]\n"
        "  lattice.npy             pickled dict: structure name -> cell [3, 3] (A)\n"
        "  positions_{T}K.npz      structure name -> unwrapped positions [n_frames, n_atoms, 3] (A)\n"
        "  {train,test}_{T}K.csv   name, temp, t_start, t_end, comp, msd_t_Li (A^2/ps), ...;\n"
        "                          t_start/t_end are frame indices: frames t_start <= i < t_end are labelled\n"
        "Frame time = --timestep-fs x --interval (LiFlow's protocol: 1 fs x 10 = 10 fs).\n"
        "Writes OUT/structures.parquet, OUT/labels.parquet (with the CSVs' split, msd_t_Li kept as\n"
        "reference_msd_per_time_A2_ps) and OUT/trajectories/<name>/<T>K.parquet; resumes.")
    il.add_argument("data_dir")
    il.add_argument("--out", required=True, help="output directory")
    il.add_argument("--timestep-fs", type=float, default=1.0, help="MD time step, fs (LiFlow: 1)")
    il.add_argument("--interval", type=int, default=10, help="MD steps between saved frames (LiFlow: 10)")
    il.add_argument("--specie", default=LabelSettings.specie)
    il.add_argument("--n-dt", type=int, default=LabelSettings.n_dt, help="time intervals in kinisi's fit")
    il.add_argument("--limit", type=int, default=None, help="only the first N structures (a quick look)")
    il.set_defaults(func=_ingest_liflow)

    ig = sub.add_parser("ingest", help="your own trajectories, listed in a CSV manifest "
                        "(material_id, temperature_K, path, timestep_fs, interval[, split])")
    ig.add_argument("manifest")
    ig.add_argument("--out", required=True)
    ig.add_argument("--specie", default=LabelSettings.specie)
    ig.add_argument("--n-dt", type=int, default=LabelSettings.n_dt)
    ig.set_defaults(func=_ingest)
    return p


def main(argv: list[str] | None = None) -> int:
    from ionscreen import logs

    args = build_parser().parse_args(argv)
    logs.setup(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except SystemExit:
        raise
    except (ValueError, FileNotFoundError, RuntimeError, KeyError) as exc:
        print(f"ionscreen {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.verbose:
            raise
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
