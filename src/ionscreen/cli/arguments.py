"""Each ``ionscreen`` subcommand's arguments, one function per subcommand (``build_parser`` calls
them). A function gets the subcommand's parser from ``command``, or None when the command line
asks for another subcommand: then it returns before importing its stage's modules, whose
dataclasses give the defaults."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ionscreen.cli.commands import (
    cmd_embed,
    cmd_ingest,
    cmd_ingest_liflow,
    cmd_label,
    cmd_md,
    cmd_plan,
    cmd_predict,
    cmd_prepare,
    cmd_train,
    cmd_train_rt,
)

DEVICES = ("auto", "cpu", "cuda")
DIMENSIONS = ("xyz", "xy", "xz", "yz", "x", "y", "z")


def _md_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    m = command("md", help="NVT MD of structures as given (no supercell, no relaxation), all runs in one batch")
    if m is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    from ionscreen.md.engine import STOP_RULES, TRANSPORT_THERMOSTATS, MDSettings

    md = MDSettings
    m.add_argument("structure", nargs="+", help="CIF, POSCAR or pymatgen JSON files, or folders of them")
    m.add_argument("--temperature", type=pos_float, nargs="+", required=True, help="thermostat set points, K")
    m.add_argument(
        "--steps", type=pos_int, required=True, help="MD steps of a run (the most a run takes with --stop converged)"
    )
    m.add_argument("--timestep-fs", type=pos_float, default=md.timestep_fs, help="MD time step, fs")
    m.add_argument(
        "--interval", type=pos_int, default=md.interval, help="steps between saved frames (the demo config.yaml uses 5)"
    )
    m.add_argument("--mlip", default=md.mlip, help="SevenNet name, MACE .model file, or 'lj'")
    m.add_argument("--seed", type=int, default=md.seed, help="seed of the Maxwell-Boltzmann velocities")
    m.add_argument(
        "--thermostat",
        default=md.thermostat,
        metavar="{" + ",".join(TRANSPORT_THERMOSTATS) + "}",
        help="Langevin and Andersen are refused: they suppress diffusion",
    )
    m.add_argument("--device", default=md.device, choices=list(DEVICES), help="auto: cuda when a GPU is visible")
    m.add_argument("--threads", type=pos_int, default=md.threads, help="torch threads")
    m.add_argument(
        "--chunk-frames", type=pos_int, default=md.chunk_frames, help="frames per saved chunk (resume point)"
    )
    m.add_argument(
        "--engine",
        default="batched",
        choices=["batched", "ase"],
        help="batched: every run advanced together (ionscreen.md.batch); ase: ASE's loop, one run after "
        "another, --steps each (no stop rule, no ladder)",
    )
    m.add_argument("--skin-A", type=float, default=md.skin_A, help="Verlet-list skin of the batched engine, A")
    m.add_argument(
        "--stop",
        default=md.stop,
        choices=list(STOP_RULES),
        help="fixed: --steps always; converged: stop once the hop rate is steady, D's 95 %% interval is within "
        "--target-rel-error, the MSD reaches --min-msd-hops squared hop lengths and the check before agreed "
        "(--steps is then the maximum)",
    )
    m.add_argument("--segment-ps", type=pos_float, default=md.segment_ps, help="converged: ps between label checks")
    m.add_argument("--min-ps", type=float, default=md.min_ps, help="converged: no stop before this many ps")
    m.add_argument(
        "--target-rel-error",
        type=pos_float,
        default=md.target_rel_error,
        help="converged: relative half-width of D's 95 %% interval to stop at",
    )
    m.add_argument(
        "--min-msd-hops",
        type=float,
        default=md.min_msd_hops,
        help="converged: no stop before the MSD at the longest fitted lag is this many squared hop lengths",
    )
    m.add_argument(
        "--ladder",
        action=argparse.BooleanOptionalAction,
        default=md.ladder,
        help="temperatures from the highest down; skip those below a run that was not diffusive with its host "
        "framework intact",
    )
    m.add_argument("--runs-out", help="also write the md_runs rows here")
    m.add_argument(
        "--out",
        required=True,
        help="trajectory .parquet for one structure at one temperature, else a folder: <out>/<id>/<T>K.parquet",
    )
    m.set_defaults(func=cmd_md)


def _label_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    lab = command("label", help="transport labels of trajectories (MSD, kinisi D with 95 %% interval, sigma)")
    if lab is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    from ionscreen.labels.diffusion import LabelSettings

    lab.add_argument("traj", nargs="+", help="trajectory .parquet, any file ASE reads, or a VASP XDATCAR(.gz)")
    lab.add_argument("--specie", default=LabelSettings.specie, help="diffusing element")
    lab.add_argument(
        "--start-dt-ps",
        type=pos_float,
        default=LabelSettings.start_dt_ps,
        help="start of the diffusive window, ps (default: found automatically)",
    )
    lab.add_argument("--dimension", default=LabelSettings.dimension, choices=list(DIMENSIONS))
    lab.add_argument(
        "--n-dt",
        type=pos_int,
        default=LabelSettings.n_dt,
        help="time intervals in kinisi's fit (cost ~ n_dt^2; the demo config.yaml uses 100)",
    )
    lab.add_argument("--timestep-fs", type=pos_float, default=None, help="MD time step, fs (non-Parquet input)")
    lab.add_argument("--interval", type=pos_int, default=None, help="steps between frames (non-Parquet input)")
    lab.add_argument("--temperature", type=pos_float, default=None, help="K, for sigma (non-Parquet input)")
    lab.add_argument("--out", required=True, help="labels .parquet")
    lab.set_defaults(func=cmd_label)


def _prepare_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    pp = command(
        "prepare",
        help="read, check, order disorder, build supercells and relax structures (the prepare rule's function)",
    )
    if pp is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    from ionscreen.structures.prepare import PrepareSettings

    pp.add_argument("structure", nargs="+", help="structure files or folders (id = file stem)")
    pp.add_argument(
        "--candidates",
        action="store_true",
        help="candidate defaults: no supercell, no relaxation, 1000-atom budget, ordering fallback",
    )
    units = {
        "min_width_A": "A",
        "relax_fmax_eV_A": "eV/A",
        "min_distance_A": "A",
        "max_atoms": "atoms",
        "relax_steps": "FIRE steps",
        "order_seed": "seed",
        "mlip": "name or path",
        "device": "auto/cpu/cuda",
    }
    for f in dataclasses.fields(PrepareSettings):
        if f.name != "ordering_fallback":
            pp.add_argument(
                f"--{f.name.replace('_', '-')}",
                dest=f.name,
                type=type(f.default),
                default=None,
                help=f"{units.get(f.name, '')}; default {f.default} (--candidates: the candidate "
                "default; the demo config.yaml: see its prepare section)",
            )
    pp.add_argument("--rejected-out", required=True, help="rejected .parquet")
    pp.add_argument("--out", required=True, help="structures .parquet")
    pp.set_defaults(func=cmd_prepare)


def _embed_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    e = command(
        "embed",
        help="SevenNet structure embeddings (Li rows) of a prepared structures table, or of "
        "structure files (prepared as candidates first: disorder ordered)",
    )
    if e is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    from ionscreen.embed.graph import VARIANTS
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.sevennet.graph import FRAMES

    emb = SevenNetEmbedder.__init__.__defaults__
    e.add_argument("structure", nargs="+", help="a structures .parquet, or structure files / folders")
    e.add_argument("--mlip", default=emb[0], help="SevenNet model whose layer is read")
    e.add_argument("--layer", type=int, default=emb[1], help="module index the forward pass stops at")
    e.add_argument(
        "--variant",
        default=emb[2],
        choices=list(VARIANTS),
        help="invariant: 456 rotation-invariant values; full: the AML paper's 977 values, which change "
        "with the cell's orientation unless --frame standard",
    )
    e.add_argument(
        "--frame",
        default=emb[5],
        choices=list(FRAMES),
        help="Cartesian frame embedded: given (as written) or standard (rotated first to the orientation "
        "the lattice parameters define)",
    )
    e.add_argument("--device", default=emb[3], choices=list(DEVICES), help="auto: cuda when a GPU is visible")
    e.add_argument("--threads", type=pos_int, default=2, help="torch threads")
    e.add_argument("--out", required=True, help="embeddings .parquet")
    e.set_defaults(func=cmd_embed)


def _predict_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    pr = command("predict", help="a trained predictor on new structures (no MD)")
    if pr is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    from ionscreen.roomtemp.descriptors import SHIPPED

    pr.add_argument("structure", nargs="+", help="structure files or folders (id = file stem; ids must be unique)")
    pr.add_argument(
        "--model",
        required=True,
        help=f"model folder written by the train rule, or a shipped model ({', '.join(SHIPPED)}: "
        "room-temperature conductivity from OBELiX; --temperature 300 only; structures used as given)",
    )
    pr.add_argument("--temperature", type=pos_float, nargs="+", required=True, help="K; one or more")
    pr.add_argument("--rank-temperature", type=pos_float, default=None, help="K (default: the lowest --temperature)")
    pr.add_argument("--relax-steps", type=int, default=0, help="MLIP relaxation steps (0: structures as given)")
    pr.add_argument(
        "--max-atoms",
        type=pos_int,
        default=None,
        help="atom budget for ordering disorder (default: the workflow's screen.max_atoms default, 1000)",
    )
    pr.add_argument("--device", default="auto", choices=list(DEVICES), help="auto: cuda when a GPU is visible")
    pr.add_argument(
        "--threads", type=pos_int, default=None, help="torch threads (default: the cores the readers leave)"
    )
    pr.add_argument(
        "--workers",
        type=int,
        default=None,
        help="reader processes that parse and order files while torch embeds (default: one per core "
        "with the firstblock embedding engine, otherwise 1; 0 on one core)",
    )
    pr.add_argument(
        "--room-temperature-model",
        default="obelix-rt",
        help="with a workflow model: also this shipped model's 300 K sigma per structure (the sigma_rt_* "
        "columns, as the workflow's screen.room_temperature_model); '' for none",
    )
    pr.add_argument("--rejected-out", default=None, help="rejected .parquet")
    pr.add_argument("--out", required=True, help="predictions .parquet")
    pr.set_defaults(func=cmd_predict)


def _train_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    tr = command("train", help="train the predictor ensemble on a trainset folder (the train rule's function)")
    if tr is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    tr.add_argument(
        "trainset",
        help="folder with labels, structures, embeddings, trajectory_embeddings .parquet (results/trainset/ of a run)",
    )
    tr.add_argument(
        "--config",
        nargs="+",
        default=None,
        help="config YAML files whose train: sections set TrainConfig (later ones override)",
    )
    tr.add_argument("--out", required=True, help="model folder")
    tr.set_defaults(func=cmd_train)


def _train_rt_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    rt = command(
        "train-rt",
        help="the room-temperature conductivity model (obelix-rt) from OBELiX, with its grouped CV and model card",
    )
    if rt is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    from ionscreen.roomtemp.fit import RoomTempConfig

    rt.add_argument("obelix_dir", help="OBELiX folder with train.csv (e.g. resources/obelix)")
    rt.add_argument("--trees", type=pos_int, default=RoomTempConfig.n_trees, help="trees in the ensemble")
    rt.add_argument("--seed", type=int, default=RoomTempConfig.seed)
    rt.add_argument("--out", required=True, help="model folder (the shipped one: src/ionscreen/models/obelix-rt)")
    rt.set_defaults(func=cmd_train_rt)


def _plan_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    pl = command(
        "plan",
        help="what a campaign's MD costs, before any of it runs: a probe of the engine on its prepared "
        "structures, hours per stage, each md batch job's time limit (as `snakemake plan`)",
    )
    if pl is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    pl.add_argument(
        "--configfile", nargs="+", default=None, help="config files over the workflow's config.yaml (as snakemake)"
    )
    pl.add_argument("--directory", default=".", help="the workflow's folder (with config.yaml)")
    pl.add_argument(
        "--rates", default=None, help="a rates.parquet measured earlier on the campaign's device: no probe here"
    )
    pl.add_argument("--devices", type=pos_int, default=None, help="devices sharing the md batch jobs (plan.devices)")
    pl.add_argument("--probe-s", type=pos_float, default=None, help="most seconds of the probe (plan.probe_s)")
    pl.add_argument("--threads", type=pos_int, default=None, help="torch threads of the probe (md.threads)")
    pl.add_argument(
        "--out",
        default=None,
        help="folder of plan.parquet, plan_batches.parquet, rates.parquet (default <results>/plan)",
    )
    pl.set_defaults(func=cmd_plan)


def _ingest_liflow_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    il = command(
        "ingest-liflow",
        help="a LiFlow data archive -> structures, labels (with split), trajectories",
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
        "reference_msd_per_time_A2_ps) and OUT/trajectories/<name>/<T>K.parquet; resumes.",
    )
    if il is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    from ionscreen.labels.diffusion import LabelSettings

    il.add_argument("data_dir")
    il.add_argument("--out", required=True, help="output folder")
    il.add_argument("--timestep-fs", type=pos_float, default=1.0, help="MD time step, fs (LiFlow: 1)")
    il.add_argument("--interval", type=pos_int, default=10, help="MD steps between saved frames (LiFlow: 10)")
    il.add_argument("--specie", default=LabelSettings.specie)
    il.add_argument("--n-dt", type=pos_int, default=LabelSettings.n_dt, help="time intervals in kinisi's fit")
    il.add_argument("--limit", type=pos_int, default=None, help="only the first N structures (a quick look)")
    il.set_defaults(func=cmd_ingest_liflow)


def _ingest_command(command: Any, pos_float: Any, pos_int: Any) -> None:
    ig = command(
        "ingest",
        help="your own trajectories, listed in a CSV manifest "
        "(material_id, temperature_K, path, timestep_fs, interval[, split])",
    )
    if ig is None:
        return  # listed by `ionscreen --help`; its arguments load only when it is asked for
    from ionscreen.labels.diffusion import LabelSettings

    ig.add_argument("manifest")
    ig.add_argument("--out", required=True, help="output folder")
    ig.add_argument("--specie", default=LabelSettings.specie)
    ig.add_argument("--n-dt", type=pos_int, default=LabelSettings.n_dt, help="time intervals in kinisi's fit")
    ig.set_defaults(func=cmd_ingest)


COMMAND_NAMES = ("md", "label", "prepare", "embed", "predict", "train", "train-rt", "plan", "ingest-liflow", "ingest")
COMMANDS = (
    _md_command,
    _label_command,
    _prepare_command,
    _embed_command,
    _predict_command,
    _train_command,
    _train_rt_command,
    _plan_command,
    _ingest_liflow_command,
    _ingest_command,
)
