"""The plan against what the campaign then costs, in one run: ``snakemake plan``, then the MD it
planned (``snakemake collect_md_runs``), then the plan's md device-hours beside the batch jobs'
MD wall time from md_runs (each batch's longest row: its runs share one loop).

Baseline: the estimate a user would write without a probe: atom-steps over all runs / the
per-thread rate this project quotes for SevenNet-0 on a CPU (190 atom-steps/s, the middle of
160-220). The plan should be within 20 % of the measured wall; the baseline has no such promise.

    python benchmarks/plan_accuracy.py --configfile .test/config.yaml
    python benchmarks/plan_accuracy.py --configfile .test/plan-8runs.yaml
    python benchmarks/plan_accuracy.py --configfile .test/plan-8runs.yaml --set md.stop=converged

Each call works in a fresh results folder (``--results``, default a temporary one).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
QUOTED_CPU_RATE = 190.0  # atom-steps/s per thread, SevenNet-0, the batched engine (README)


def snakemake(target: str, args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([SNAKEMAKE, target, "--cores", "2", "-q", *args], cwd=REPO, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", nargs="+", required=True)
    p.add_argument("--set", nargs="*", default=[], help="config overrides, dotted: md.stop=converged (YAML values)")
    p.add_argument("--results", default=None, help="results folder (default: a fresh temporary one)")
    a = p.parse_args()

    import yaml

    from ionscreen.md.plan import batch_wall_s, compare

    results = Path(a.results or tempfile.mkdtemp(prefix="ionscreen-plan-"))
    overlay: dict = {"results": str(results)}
    for item in a.set:
        key, _, value = item.partition("=")
        *path, last = key.split(".")
        d = overlay
        for k in path:
            d = d.setdefault(k, {})
        d[last] = yaml.safe_load(value)
    extra = results / "overrides.yaml"
    results.mkdir(parents=True, exist_ok=True)
    extra.write_text(yaml.safe_dump(overlay))
    args = ["--configfile", *[str(Path(f).resolve()) for f in a.configfile], str(extra)]
    plan_wall = snakemake("plan", args)
    md_wall = snakemake("collect_md_runs", args)
    plan = pd.read_parquet(results / "plan/plan.parquet")
    rates = pd.read_parquet(results / "plan/rates.parquet")
    runs = pd.read_parquet(results / "md/runs.parquet")
    c = compare(plan, runs).iloc[0]
    ran = runs[runs["status"] != "skipped"]
    atom_steps = float((ran["n_atoms"] * ran["n_steps"]).sum())
    baseline_h = atom_steps / QUOTED_CPU_RATE / 3600
    md = plan.set_index("stage").loc["md"]
    print(f"config: {' '.join(a.configfile)} {' '.join(a.set)}")
    print(f"device: {md['device_name']}; probe {rates['probe_s'].iloc[0]:.0f} s (the plan job: {plan_wall:.0f} s)")
    print(
        f"runs: {len(runs)} ({(runs['status'] == 'ok').sum()} ok), {len(batch_wall_s(runs))} batch jobs; md jobs took {md_wall:.0f} s of wall"
    )
    print(f"stop reasons: {runs['stop_reason'].value_counts().to_dict()}")
    print()
    print(f"{'':<28}{'device-hours':>14}{'s':>10}{'actual / it':>14}")
    for name, h in [
        ("plan, min", c["min_hours"]),
        ("plan, expected", c["expected_hours"]),
        ("plan, max", c["max_hours"]),
        ("baseline (190 atom-steps/s)", baseline_h),
    ]:
        print(f"{name:<28}{h:>14.4f}{h * 3600:>10.1f}{c['actual_hours'] / h:>14.2f}")
    print(f"{'actual (md_runs)':<28}{c['actual_hours']:>14.4f}{c['actual_hours'] * 3600:>10.1f}")
    inside = c["min_hours"] <= c["actual_hours"] <= c["max_hours"]
    print(
        f"\nactual / max = {c['actual_over_max']:.3f} (target for md.stop fixed: 0.8-1.2); "
        f"actual / min = {c['actual_hours'] / c['min_hours']:.3f}; inside [min, max]: {inside}"
    )
    print(f"probe: steady to +-{100 * rates['spread'].iloc[0]:.1f} %; {rates['sample'].iloc[0]}")
    print(f"(batches: {batch_wall_s(runs).round(1).to_dict()})")


if __name__ == "__main__":
    main()
