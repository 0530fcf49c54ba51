"""The ``ionscreen`` command line (docs/usage.md, "The command line"). Each subcommand calls the same package function
as the workflow rule. Exit status 0 on success; otherwise one line saying why."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

log = logging.getLogger("ionscreen")


class CLIError(Exception):
    """A mistake in what was asked: printed as one line that says what to do, exit status 2."""


def _positive(kind: type) -> object:
    """An argparse type: a number of ``kind`` above 0 (temperatures in K, steps, time steps)."""
    def parse(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} must be > 0")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


# Options that name output files, and the commands whose --out is a folder.
OUTPUT_FILES = ("out", "rejected_out", "runs_out")
FOLDER_OUT = {"train", "train-rt", "ingest-liflow", "ingest"}


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


def _md(a: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from pymatgen.io.ase import AseAtomsAdaptor

    from ionscreen import schema
    from ionscreen.labels import LabelSettings
    from ionscreen.md import LADDER, MDSettings, run_md
    from ionscreen.sources import files_by_id
    from ionscreen.structures import read_structure

    structures = files_by_id(a.structure)
    temps = list(dict.fromkeys(a.temperature))
    single = len(structures) * len(temps) == 1
    if not single and Path(a.out).suffix == ".parquet":
        raise CLIError(f"{len(structures)} structures x {len(temps)} temperatures: --out is a folder "
                       f"(<folder>/<id>/<T>K.parquet), not {a.out}")
    check_output(a.out, folder=not single)
    s = MDSettings(temperature_K=temps[0], n_steps=a.steps, timestep_fs=a.timestep_fs,
                   interval=a.interval, mlip=a.mlip, seed=a.seed, thermostat=a.thermostat,
                   device=a.device, threads=a.threads, chunk_frames=a.chunk_frames, skin_A=a.skin_A,
                   stop=a.stop, segment_ps=a.segment_ps, min_ps=a.min_ps, target_rel_error=a.target_rel_error,
                   ladder=a.ladder)
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
        from ionscreen.mdstage import run_ladder
        from ionscreen.mlip import set_threads
        from ionscreen.potentials import get_potential

        set_threads(s.threads)
        rows = run_ladder(atoms, temps, s, out_path, get_potential(s.mlip, s.device))
    if a.runs_out:
        schema.write_table(rows, a.runs_out, "md_runs")
    for row in rows:
        print(f"{row['material_id']} {row['temperature_K']:g} K: {row['status']}{': ' + row['reason'] if row['reason'] else ''}"
              f", {row['n_steps']} steps, {row['steps_per_s']:.2f} steps/s -> {row['trajectory_path']}")
    frames = s.n_steps // s.interval + 1
    if any(r["status"] == "ok" for r in rows) and frames < LabelSettings.min_frames:
        need = (LabelSettings.min_frames - 1) * s.interval
        print(f"note: {frames} frames saved; ionscreen label needs >= {LabelSettings.min_frames}: use --steps >= {need} "
              f"or a smaller --interval", file=sys.stderr)
    # A run the ladder skipped is the ladder working, not a failure.
    return 0 if all(r["status"] == "ok" or r["reason"].startswith(LADDER) for r in rows) else 1


def _label(a: argparse.Namespace) -> int:
    from ionscreen.labels import LabelSettings, label_files

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
        return (f"{head} {msd} D={d:.4g} cm2/s (95 % {float(r.get('D_ci95_low_cm2_s', math.nan)):.3g} to "
                f"{float(r.get('D_ci95_high_cm2_s', math.nan)):.3g})")
    upper = float(r.get("D_upper_cm2_s", math.nan))
    bound = f"D <= {upper:.3g} cm2/s (upper bound, D_upper_cm2_s)" if math.isfinite(upper) else "no D"
    return f"{head} {msd}, not diffusive: {bound}; {r.get('reason') or 'the MSD never reached a slope of 1'}"


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
    from ionscreen.sources import files_by_id
    from ionscreen.structures import prepare_sources

    n_ok, n_bad = prepare_sources(files_by_id(a.structure), _prepare_settings(a), a.out, a.rejected_out, stage="fetch")
    if not n_ok:
        print(f"nothing prepared: all {n_bad} structures rejected (reasons in {a.rejected_out})", file=sys.stderr)
        return 1
    print(f"{n_ok} structures prepared, {n_bad} rejected -> {a.out}, {a.rejected_out}")
    return 0


def _embed(a: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from ionscreen.embed import embed_table
    from ionscreen.sources import files_by_id
    from ionscreen.structures import candidate_settings, prepare_sources

    with tempfile.TemporaryDirectory() as tmp:
        table = a.structure[0] if len(a.structure) == 1 and a.structure[0].endswith(".parquet") else None
        if table is None:  # structure files: prepared (disorder ordered) as candidates are, then embedded
            files = files_by_id(a.structure)
            table = str(Path(tmp) / "structures.parquet")
            n_ok, n_bad = prepare_sources(files, candidate_settings(mlip=a.mlip, device=a.device), table,
                                          Path(tmp) / "rejected.parquet", stage="embed", relax=False, progress=False)
            if not n_ok:
                raise CLIError(f"nothing embedded: all {n_bad} structures were rejected (see the log lines above)")
            if n_bad:
                print(f"{n_bad} structures rejected (see the log lines above)", file=sys.stderr)
        n = embed_table(table, a.out, model=a.mlip, layer=a.layer, variant=a.variant, frame=a.frame,
                        device=a.device, threads=a.threads)
    print(f"{n} Li rows -> {a.out}")
    return 0


def _train(a: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd
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
    cfg = TrainConfig(**settings)
    values = {c for c in t.labels.columns if c.endswith(("_A2", "_cm2_s", "_S_cm", "_A2_ps")) and
              (pd.to_numeric(t.labels[c], errors="coerce") > 0).any()}
    if cfg.target not in values:
        raise CLIError(f"the target {cfg.target!r} has no positive values in {paths['labels']}: set train.target "
                       f"in a --config file to one of {sorted(values) or 'the label columns'}")
    embedding = embedding_meta_of(t.embeddings) if len(t.embeddings) else None  # the embeddings say what made them
    out = Path(a.out)
    res = train(t.labels, t.embeddings, t.structures, cfg, out, out / "metrics.parquet",
                out / "training_predictions.parquet", trajectories=t.trajectories, embedding_meta=embedding)
    print(f"{res.meta.route}: {len(res.members)} members on {len(res.meta.training_materials)} materials -> {out}")
    return 0


def _predict(a: argparse.Namespace) -> int:
    from pathlib import Path

    from ionscreen import roomtemp
    from ionscreen.model import ModelMeta
    from ionscreen.predict import predict_paths

    if not a.verbose:  # the rejections are printed below, once each
        logging.getLogger("ionscreen.structures").setLevel(logging.ERROR)
    if roomtemp.resolve(a.model) is None:  # a workflow model; a room-temperature one (obelix-rt) needs no checks
        if not (Path(a.model) / "model.pt").is_file():
            raise CLIError(f"no model {a.model!r}: give a model folder the train rule wrote (with model.pt, e.g. "
                           f"results/model) or a shipped model: {', '.join(roomtemp.SHIPPED)}")
        meta = ModelMeta.from_json(a.model)
        lo, hi = meta.temperature_range_K
        outside = sorted({t for t in a.temperature if not lo <= t <= hi})
        if outside:
            print(f"warning: {', '.join(f'{t:g}' for t in outside)} K lie outside the model's training temperatures "
                  f"({lo:g}-{hi:g} K): those rows are extrapolations, flagged temperature_outside_training",
                  file=sys.stderr)
    df, bad = predict_paths(a.model, a.structure, a.temperature, a.out, rejected_out=a.rejected_out,
                            rank_temperature_K=a.rank_temperature, relax_steps=a.relax_steps,
                            max_atoms=a.max_atoms, device=a.device, threads=a.threads, workers=a.workers,
                            room_temperature_model=a.room_temperature_model or None)
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


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line (what is wrong, where to look), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


DEVICES = ("auto", "cpu", "cuda")
DIMENSIONS = ("xyz", "xy", "xz", "yz", "x", "y", "z")


def build_parser() -> argparse.ArgumentParser:
    """The parser; every default comes from the dataclass the subcommand fills (one source of
    defaults: tests/test_defaults.py checks it), and ``--help`` shows it with its unit. Where a
    default differs from the demo ``config.yaml``, the help says so."""
    from ionscreen import __version__
    from ionscreen.embed import FRAMES, VARIANTS, SevenNetEmbedder
    from ionscreen.labels import LabelSettings
    from ionscreen.md import STOP_RULES, TRANSPORT_THERMOSTATS, MDSettings
    from ionscreen.roomtemp import SHIPPED, RoomTempConfig
    from ionscreen.structures import PrepareSettings

    md, emb = MDSettings, SevenNetEmbedder.__init__.__defaults__
    fmt = argparse.ArgumentDefaultsHelpFormatter
    common = Parser(add_help=False)  # -v works after the subcommand too
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging, and a traceback on error")
    pos_float, pos_int = _positive(float), _positive(int)

    p = Parser(prog="ionscreen", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, and a traceback on error")
    p.add_argument("--version", action="version", version=f"ionscreen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, **kw: object) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], formatter_class=kw.pop("formatter_class", fmt), **kw)

    m = command("md", help="NVT MD of structures as given (no supercell, no relaxation), all runs in one batch")
    m.add_argument("structure", nargs="+", help="CIF, POSCAR or pymatgen JSON files, or folders of them")
    m.add_argument("--temperature", type=pos_float, nargs="+", required=True, help="thermostat set points, K")
    m.add_argument("--steps", type=pos_int, required=True, help="MD steps of a run (the most a run takes with --stop converged)")
    m.add_argument("--timestep-fs", type=pos_float, default=md.timestep_fs, help="MD time step, fs")
    m.add_argument("--interval", type=pos_int, default=md.interval,
                   help="steps between saved frames (the demo config.yaml uses 5)")
    m.add_argument("--mlip", default=md.mlip, help="SevenNet name, MACE .model file, or 'lj'")
    m.add_argument("--seed", type=int, default=md.seed, help="seed of the Maxwell-Boltzmann velocities")
    m.add_argument("--thermostat", default=md.thermostat, metavar="{" + ",".join(TRANSPORT_THERMOSTATS) + "}",
                   help="Langevin and Andersen are refused: they suppress diffusion")
    m.add_argument("--device", default=md.device, choices=list(DEVICES), help="auto: cuda when a GPU is visible")
    m.add_argument("--threads", type=pos_int, default=md.threads, help="torch threads")
    m.add_argument("--chunk-frames", type=pos_int, default=md.chunk_frames, help="frames per saved chunk (resume point)")
    m.add_argument("--engine", default="batched", choices=["batched", "ase"],
                   help="batched: every run advanced together (ionscreen.batchmd); ase: ASE's loop, one run after "
                        "another, --steps each (no stop rule, no ladder)")
    m.add_argument("--skin-A", type=float, default=md.skin_A, help="Verlet-list skin of the batched engine, A")
    m.add_argument("--stop", default=md.stop, choices=list(STOP_RULES),
                   help="fixed: --steps always; converged: stop once D's 95 %% interval is within --target-rel-error "
                        "(--steps is then the maximum)")
    m.add_argument("--segment-ps", type=pos_float, default=md.segment_ps, help="converged: ps between label checks")
    m.add_argument("--min-ps", type=float, default=md.min_ps, help="converged: no stop before this many ps")
    m.add_argument("--target-rel-error", type=pos_float, default=md.target_rel_error,
                   help="converged: relative half-width of D's 95 %% interval to stop at")
    m.add_argument("--ladder", action=argparse.BooleanOptionalAction, default=md.ladder,
                   help="temperatures from the highest down; skip those below a run that was not diffusive")
    m.add_argument("--runs-out", help="also write the md_runs rows here")
    m.add_argument("--out", required=True,
                   help="trajectory .parquet for one structure at one temperature, else a folder: <out>/<id>/<T>K.parquet")
    m.set_defaults(func=_md)

    lab = command("label", help="transport labels of trajectories (MSD, kinisi D with 95 %% interval, sigma)")
    lab.add_argument("traj", nargs="+", help="trajectory .parquet, any file ASE reads, or a VASP XDATCAR(.gz)")
    lab.add_argument("--specie", default=LabelSettings.specie, help="diffusing element")
    lab.add_argument("--start-dt-ps", type=pos_float, default=LabelSettings.start_dt_ps,
                     help="start of the diffusive window, ps (default: found automatically)")
    lab.add_argument("--dimension", default=LabelSettings.dimension, choices=list(DIMENSIONS))
    lab.add_argument("--n-dt", type=pos_int, default=LabelSettings.n_dt,
                     help="time intervals in kinisi's fit (cost ~ n_dt^2; the demo config.yaml uses 100)")
    lab.add_argument("--timestep-fs", type=pos_float, default=None, help="MD time step, fs (non-Parquet input)")
    lab.add_argument("--interval", type=pos_int, default=None, help="steps between frames (non-Parquet input)")
    lab.add_argument("--temperature", type=pos_float, default=None, help="K, for sigma (non-Parquet input)")
    lab.add_argument("--out", required=True, help="labels .parquet")
    lab.set_defaults(func=_label)

    pp = command("prepare", help="read, check, order disorder, build supercells and relax structures "
                 "(the prepare rule's function)")
    pp.add_argument("structure", nargs="+", help="structure files or folders (id = file stem)")
    pp.add_argument("--candidates", action="store_true",
                    help="candidate defaults: no supercell, no relaxation, 1000-atom budget, ordering fallback")
    units = {"min_width_A": "A", "relax_fmax_eV_A": "eV/A", "min_distance_A": "A", "max_atoms": "atoms",
             "relax_steps": "FIRE steps", "order_seed": "seed", "mlip": "name or path", "device": "auto/cpu/cuda"}
    for f in dataclasses.fields(PrepareSettings):
        if f.name != "ordering_fallback":
            pp.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default), default=None,
                            help=f"{units.get(f.name, '')}; default {f.default} (--candidates: the candidate "
                                 "default; the demo config.yaml: see its prepare section)")
    pp.add_argument("--rejected-out", required=True, help="rejected .parquet")
    pp.add_argument("--out", required=True, help="structures .parquet")
    pp.set_defaults(func=_prepare)

    e = command("embed", help="SevenNet structure embeddings (Li rows) of a prepared structures table, or of "
                "structure files (prepared as candidates first: disorder ordered)")
    e.add_argument("structure", nargs="+", help="a structures .parquet, or structure files / folders")
    e.add_argument("--mlip", default=emb[0], help="SevenNet model whose layer is read")
    e.add_argument("--layer", type=int, default=emb[1], help="module index the forward pass stops at")
    e.add_argument("--variant", default=emb[2], choices=list(VARIANTS),
                   help="invariant: 456 rotation-invariant values; full: the AML paper's 977 values, which change "
                        "with the cell's orientation unless --frame standard")
    e.add_argument("--frame", default=emb[5], choices=list(FRAMES),
                   help="Cartesian frame embedded: given (as written) or standard (rotated first to the orientation "
                        "the lattice parameters define)")
    e.add_argument("--device", default=emb[3], choices=list(DEVICES), help="auto: cuda when a GPU is visible")
    e.add_argument("--threads", type=pos_int, default=2, help="torch threads")
    e.add_argument("--out", required=True, help="embeddings .parquet")
    e.set_defaults(func=_embed)

    pr = command("predict", help="a trained predictor on new structures (no MD)")
    pr.add_argument("structure", nargs="+", help="structure files or folders (id = file stem; ids must be unique)")
    pr.add_argument("--model", required=True,
                    help=f"model folder written by the train rule, or a shipped model ({', '.join(SHIPPED)}: "
                    "room-temperature conductivity from OBELiX; --temperature 300 only; structures used as given)")
    pr.add_argument("--temperature", type=pos_float, nargs="+", required=True, help="K; one or more")
    pr.add_argument("--rank-temperature", type=pos_float, default=None, help="K (default: the lowest --temperature)")
    pr.add_argument("--relax-steps", type=int, default=0, help="MLIP relaxation steps (0: structures as given)")
    pr.add_argument("--max-atoms", type=pos_int, default=None,
                    help="atom budget for ordering disorder (default: the workflow's screen.max_atoms default, 1000)")
    pr.add_argument("--device", default="auto", choices=list(DEVICES), help="auto: cuda when a GPU is visible")
    pr.add_argument("--threads", type=pos_int, default=None, help="torch threads (default: the cores the readers leave)")
    pr.add_argument("--workers", type=int, default=None,
                    help="reader processes that parse and order files while torch embeds (default: one per core "
                         "with the firstblock embedding engine, otherwise 1; 0 on one core)")
    pr.add_argument("--room-temperature-model", default="obelix-rt",
                    help="with a workflow model: also this shipped model's 300 K sigma per structure (the sigma_rt_* "
                         "columns, as the workflow's screen.room_temperature_model); '' for none")
    pr.add_argument("--rejected-out", default=None, help="rejected .parquet")
    pr.add_argument("--out", required=True, help="predictions .parquet")
    pr.set_defaults(func=_predict)

    tr = command("train", help="train the predictor ensemble on a trainset folder (the train rule's function)")
    tr.add_argument("trainset", help="folder with labels, structures, embeddings, trajectory_embeddings .parquet "
                    "(results/trainset/ of a run)")
    tr.add_argument("--config", nargs="+", default=None,
                    help="config YAML files whose train: sections set TrainConfig (later ones override)")
    tr.add_argument("--out", required=True, help="model folder")
    tr.set_defaults(func=_train)

    rt = command("train-rt", help="the room-temperature conductivity model (obelix-rt) from OBELiX, "
                 "with its grouped CV and model card")
    rt.add_argument("obelix_dir", help="OBELiX folder with train.csv (e.g. resources/obelix)")
    rt.add_argument("--trees", type=pos_int, default=RoomTempConfig.n_trees, help="trees in the ensemble")
    rt.add_argument("--seed", type=int, default=RoomTempConfig.seed)
    rt.add_argument("--out", required=True, help="model folder (the shipped one: src/ionscreen/models/obelix-rt)")
    rt.set_defaults(func=_train_rt)

    il = command(
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
    il.add_argument("--out", required=True, help="output folder")
    il.add_argument("--timestep-fs", type=pos_float, default=1.0, help="MD time step, fs (LiFlow: 1)")
    il.add_argument("--interval", type=pos_int, default=10, help="MD steps between saved frames (LiFlow: 10)")
    il.add_argument("--specie", default=LabelSettings.specie)
    il.add_argument("--n-dt", type=pos_int, default=LabelSettings.n_dt, help="time intervals in kinisi's fit")
    il.add_argument("--limit", type=pos_int, default=None, help="only the first N structures (a quick look)")
    il.set_defaults(func=_ingest_liflow)

    ig = command("ingest", help="your own trajectories, listed in a CSV manifest "
                 "(material_id, temperature_K, path, timestep_fs, interval[, split])")
    ig.add_argument("manifest")
    ig.add_argument("--out", required=True, help="output folder")
    ig.add_argument("--specie", default=LabelSettings.specie)
    ig.add_argument("--n-dt", type=pos_int, default=LabelSettings.n_dt, help="time intervals in kinisi's fit")
    ig.set_defaults(func=_ingest)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Exit status 0 on success; 1 when the work ran but produced nothing
    usable or a run failed; 2 with one line on stderr (what is wrong and what to do) for a mistake
    in what was asked, checked before any work where it can be (outputs, ids, temperatures)."""
    from ionscreen import logs

    args = build_parser().parse_args(argv)
    logs.setup(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        for name in OUTPUT_FILES:
            if name == "out" and args.command == "md":
                continue  # a file or a folder, by how many runs were asked for: _md checks it
            if getattr(args, name, None):
                check_output(getattr(args, name), folder=name == "out" and args.command in FOLDER_OUT)
        return int(args.func(args) or 0)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print(f"ionscreen {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error is one line; -v shows the traceback
        if args.verbose:
            raise
        text = " ".join(str(exc).split()) or "no message"
        kind = "" if isinstance(exc, CLIError) else f"{type(exc).__name__}: "
        print(f"ionscreen {args.command}: {kind}{text}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
