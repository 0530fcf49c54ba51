"""The md stage's entries around the engine (``ionscreen.md.batch``): the temperature ladder
(``ladder_skip``, and ``run_ladder`` for the command line), the campaign's batch jobs
(``md_batches``), the workflow's batch job (``md_batch_job``: one batch of runs of prepared
structures, each written where the workflow expects it) and the campaign's cost plan
(``plan_job``, with ``ionscreen.md.plan`` and ``ionscreen.md.probe``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ase import Atoms

from ionscreen import schema
from ionscreen.md.batch import RunSpec, run_batch
from ionscreen.md.engine import MDSettings
from ionscreen.md.potentials import BatchedPotential
from ionscreen.md.recorder import skipped_run

if TYPE_CHECKING:
    import pandas as pd

    from ionscreen.md.plan import PlanSettings
    from ionscreen.md.probe import Rate


def ladder_skip(above: dict[str, Any] | None) -> str:
    """Why the run below ``above`` (the same material's md_runs row at the next higher
    temperature) is not run, or '' to run it. A skip needs what is known, not a guess: the run
    above ran to its full length (not stopped early), was labelled (a failed label decides
    nothing), was not diffusive, and its host framework stayed intact
    (``stopping.framework_intact``: a framework that fell apart or reordered is where MLIP MD is
    least trustworthy, and says nothing about the temperature below); or it was itself skipped by
    the ladder. A failed or unfinished run above decides nothing.

    Why a skip is safe: for an activated process D(T) = D0 exp(-Ea / kB T) falls monotonically as
    T falls, so a run that shows no diffusion at T shows none below it, and the run above's upper
    limit of D bounds D at every lower temperature. That holds while the mechanism does not change
    between the temperatures: a phase transition on cooling into a more conductive phase (rare;
    and a fixed-cell NVT run mostly suppresses transitions) would break it.
    """
    import math

    if not above:
        return ""
    if above.get("stop_reason") == "ladder":
        return str(above.get("reason") or "")

    def known(x: Any) -> bool:
        return x is not None and not (isinstance(x, float) and math.isnan(x))

    diffusive, intact = above.get("diffusive"), above.get("framework_intact")
    if (
        above.get("status") == "ok"
        and above.get("stop_reason") in ("max_length", "fixed")
        and known(diffusive)
        and not bool(diffusive)
        and known(intact)
        and bool(intact)
    ):
        return (
            f"not diffusive at {float(above['temperature_K']):g} K within {float(above['length_ps']):g} ps "
            f"with the host framework intact ({above.get('framework', '')}), and D only falls as T falls"
        )
    return ""


def run_ladder(
    structures: list[tuple[str, Atoms]],
    temperatures_K: list[float],
    settings: MDSettings,
    out_path: Any,
    potential: BatchedPotential,
    *,
    label: Any = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Every structure at every temperature, ``out_path(material_id, T)`` for each trajectory.
    With ``settings.ladder`` the temperatures run from the highest down, one batch each, and a
    material's lower temperatures are skipped (``ladder_skip``); otherwise all runs are one batch.
    Rows come back in (structure, temperature) order."""
    temps = sorted({float(t) for t in temperatures_K}, reverse=True)
    rungs = [temps] if not settings.ladder else [[t] for t in temps]
    rows: dict[tuple[str, float], dict[str, Any]] = {}
    for rung in rungs:
        specs = []
        for mid, atoms in structures:
            for t in rung:
                s = replace(settings, temperature_K=t)
                above = rows.get((mid, temps[temps.index(t) - 1])) if temps.index(t) else None
                why = ladder_skip(above) if settings.ladder else ""
                if why:
                    rows[mid, t] = skipped_run(out_path(mid, t), mid, s, why, stop_reason="ladder")
                else:
                    specs.append(RunSpec(atoms, s, out_path(mid, t), mid))
        for spec, row in zip(specs, run_batch(specs, potential, label=label, progress=progress), strict=True):
            rows[spec.material_id, spec.settings.temperature_K] = row
    return [rows[mid, float(t)] for mid, _ in structures for t in temperatures_K]


def runs_per_job(md: dict[str, Any], max_atoms: int) -> int:
    """Runs one md batch job holds (``md.runs_per_job``, else as many as fit ``md.batch_atoms``
    at once: ``batch_atoms // max_atoms``, since no run has more than ``prepare.max_atoms`` atoms).
    More runs than fit at once make the job a queue that keeps its batch full (in-flight
    batching) while runs stop at different times."""
    fit = max(1, int(md["batch_atoms"]) // int(max_atoms))
    return max(1, int(md.get("runs_per_job") or fit))


def md_batches(
    config: dict[str, Any],
    materials: list[str],
    *,
    update: bool = True,
    write: bool = True,
) -> dict[str, list[str]]:
    """{batch name "<T>K-<n>": runs "<material>/<T>K"}: the md batch jobs of a campaign.

    Runs go to batch jobs the way candidates go to shards: frozen the first time they are seen
    (``<results>/md/batches-<T>K.json``), new runs fill new batches, so a grown campaign re-runs
    nothing. A batch holds runs of one temperature (a material's lower temperatures can then wait
    for its higher one: the temperature ladder), ``runs_per_job`` of them. A changed size applies
    to new batches only. ``update=False`` (a submitted cluster job, or a plan made elsewhere)
    reads the record and leaves unknown runs out; ``write=False`` (a dry run) records nothing.
    The workflow (rules/md_inputs.smk) and ``ionscreen plan`` both call this.
    """
    from ionscreen.structures.sources import assign_shards

    size = runs_per_job(config["md"], config["prepare"]["max_atoms"])
    out: dict[str, list[str]] = {}
    for t in temperature_names(config["md"]["temperatures_K"]):
        for k, runs in assign_shards(
            [f"{m}/{t}K" for m in materials],
            size,
            Path(config["results"]) / "md" / f"batches-{t}K.json",
            update=update,
            write=write,
            regroup=False,
        ).items():
            out[f"{t}K-{k}"] = runs
    return out


def temperature_names(temperatures_K: list[float]) -> list[int | float]:
    """Temperatures as they appear in run names and paths (800, not 800.0)."""
    return [int(t) if float(t).is_integer() else t for t in temperatures_K]


def workflow_md_settings(config: dict[str, Any]) -> MDSettings:
    """The md jobs' ``MDSettings`` from the workflow's config (its ``md:`` and ``mlip:`` sections).
    The md rule's params hold only what decides a trajectory (``trajectory_params``); a job reads
    the engine-only keys (``engine.ENGINE_ONLY``: threads, device, batch sizes, skin, chunking) from
    the config, so changing them reschedules no finished run."""
    md = {k: v for k, v in config["md"].items() if k != "temperatures_K"}
    return MDSettings(
        **md,
        mlip=config["mlip"]["model"],
        device=config["mlip"]["device"],
        accelerator=config["mlip"].get("accelerator", MDSettings.accelerator),
    )


def trajectory_params(settings: MDSettings) -> dict[str, Any]:
    """What decides a run's trajectory, less its temperature (each run has its own): the md
    rule's params, compared by Snakemake to decide what is stale."""
    out = settings.trajectory_settings()
    out.pop("temperature_K")
    return out


def md_batch_job(
    structure_files: list[str | Path],
    runs: list[tuple[str, float]],
    settings: MDSettings,
    out_dir: str | Path,
    resume_root: str | Path,
    *,
    above: dict[str, str] | None = None,
    label: Any = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Workflow entry: one batch of (material id, temperature K) runs of prepared structures.

    Writes ``out_dir/<id>/<T>K.parquet`` (trajectory) and ``<T>K.run.parquet`` (its md_runs row)
    for every run; resume stores live in ``resume_root/<id>/<T>K`` (outside ``out_dir``, which
    Snakemake deletes before it reruns a killed job). A material rejected at fetch gives
    'skipped' runs; an MD error fails its run alone. ``above`` (the ladder): material id -> the
    md_runs file of its run at the next higher temperature; a run that ``ladder_skip`` skips
    ends at once as 'skipped' with the reason, without a single MD step.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from ionscreen import mlip
    from ionscreen.md.potentials import get_potential
    from ionscreen.structures.prepare import structure_from_row

    prepared: dict[str, Any] = {}
    for path in structure_files:
        table = schema.read_table(path, "structures")
        for _, row in table.iterrows():
            prepared[row["material_id"]] = row
    out_dir, resume_root = Path(out_dir), Path(resume_root)
    rows: dict[tuple[str, float], dict[str, Any]] = {}
    specs: list[RunSpec] = []
    for mid, temp in runs:
        s = replace(settings, temperature_K=float(temp))
        out = out_dir / mid / f"{temp:g}K.parquet"
        if mid not in prepared:
            rows[mid, float(temp)] = skipped_run(out, mid, s, "rejected at fetch (see rejected table)")
            continue
        why = ladder_skip(schema.read_table(above[mid], "md_runs").iloc[0].to_dict()) if above and mid in above else ""
        if why:
            rows[mid, float(temp)] = skipped_run(out, mid, s, why, stop_reason="ladder")
            continue
        specs.append(
            RunSpec(
                AseAtomsAdaptor.get_atoms(structure_from_row(prepared[mid])),
                s,
                out,
                mid,
                resume_root / mid / f"{temp:g}K",
            )
        )
    if specs:
        mlip.set_threads(settings.threads)
        potential = get_potential(
            settings.mlip, settings.device, batch_atoms=settings.batch_atoms, accelerator=settings.accelerator
        )
        done = run_batch(specs, potential, label=label, progress=progress, atoms_in_flight=settings.batch_atoms)
        for spec, row in zip(specs, done, strict=True):
            rows[spec.material_id, spec.settings.temperature_K] = row
    for (mid, temp), row in rows.items():
        schema.write_table([row], out_dir / mid / f"{temp:g}K.run.parquet", "md_runs", mlip=settings.mlip)
    return [rows[mid, float(temp)] for mid, temp in runs]


def plan_job(
    structure_files: list[str | Path],
    batches: dict[str, list[str]],
    settings: MDSettings,
    temperatures_K: list[float],
    out_plan: str | Path,
    out_batches: str | Path,
    *,
    plan: PlanSettings | None = None,
    rates_file: str | Path | None = None,
    label: Any = None,
    potential: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, Rate]:
    """Workflow and command-line entry: probe the engine on the campaign's prepared structures
    (or take the rate of ``plan.rates``), plan every batch, write the plan and plan_batches tables
    and add the probe's rate to ``rates_file``. Starts no MD of the campaign."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from ionscreen import mlip
    from ionscreen.md.plan import PlanSettings, campaign_runs, plan_campaign
    from ionscreen.md.probe import edges, probe
    from ionscreen.md.rates import find_rate, read_rates, write_rate
    from ionscreen.structures.prepare import structure_from_row

    plan = plan or PlanSettings()
    atoms_of = {}
    for path in structure_files:
        for _, row in schema.read_table(path, "structures").iterrows():
            atoms_of[row["material_id"]] = AseAtomsAdaptor.get_atoms(structure_from_row(row))
    top = replace(settings, temperature_K=max(float(t) for t in temperatures_K))
    rate = find_rate(read_rates(plan.rates), settings) if plan.rates else None
    cutoff = rate.cutoff_A if rate else mlip.cutoff_A(settings.mlip)
    sizes = {m: (len(a), edges(a, cutoff)) for m, a in atoms_of.items()}
    if rate is None:
        in_flight = max((len(b) for b in batches.values()), default=1)
        edges_of = {m: e for m, (_, e) in sizes.items()}
        rate = probe(
            atoms_of, top, probe_s=plan.probe_s, label=label, potential=potential, max_runs=in_flight, edges_of=edges_of
        )
        if rates_file:
            write_rate(rates_file, rate)
    runs = campaign_runs(batches, sizes, temperatures_K)
    table, per_batch = plan_campaign(runs, settings, rate, plan)
    meta = {"rate": rate.device_name, "mlip": rate.mlip}
    schema.write_table(table, out_plan, "plan", **meta)
    schema.write_table(per_batch, out_batches, "plan_batches", **meta)
    return table, per_batch, rate


def batch_runtimes(path: str | Path) -> dict[str, int]:
    """{batch: time limit, min} from a plan_batches table ({} when there is none yet)."""
    if not Path(path).is_file():
        return {}
    t = schema.read_table(path, "plan_batches")
    return dict(zip(t["batch"], (int(x) for x in t["runtime_min"]), strict=True))
