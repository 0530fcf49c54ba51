"""Campaign-scale DAG: how long Snakemake takes to build (dry-run) the workflow for N training
materials x 4 temperatures, per job, and how many SLURM submissions the cluster profile makes.

    python benchmarks/dag_scale.py [--materials 4186] [--profile profiles/slurm]

The plain baseline is the figure measured on the workflow before per-material jobs (one
preparation job for all materials, package version in every rule's params): 134 s for 25,127
jobs at LiFlow's 4,186 materials (5.3 ms a job) and 31 s at 1,000.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = {4186: (134.0, 25127), 1000: (31.0, None)}  # seconds, jobs: the workflow before per-material jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--materials", type=int, default=4186)
    ap.add_argument("--profile", default=None, help="e.g. profiles/slurm: also count group submissions")
    a = ap.parse_args()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "structs").mkdir()
        src = REPO / "resources/structures/train/Li2O.json"
        for i in range(a.materials):
            shutil.copyfile(src, tmp / "structs" / f"m{i:05d}.json")
        (tmp / "cfg.yaml").write_text(
            f"train_sources: [{{type: directory, path: {tmp / 'structs'}}}]\n"
            "md: {temperatures_K: [600, 800, 1000, 1200]}\n"
        )
        cmd = [
            snakemake,
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(tmp / "work"),
            "-n",
            "screen_candidates",
            "--configfile",
            str(tmp / "cfg.yaml"),
        ]
        cmd += ["--profile", str(REPO / a.profile)] if a.profile else ["--cores", "8"]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - t0
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)}
    jobs = counts.get("total", 0)
    print(f"{a.materials} materials x 4 T: {jobs} jobs, dry run {wall:.1f} s = {1000 * wall / jobs:.2f} ms/job")
    for rule in ("prepare_structure", "md", "label", "embed_structure", "embed_trajectories", "predict"):
        print(f"  {rule:20s} {counts.get(rule, 0)}")
    base = BASELINE.get(a.materials)
    if base and base[1]:
        print(
            f"baseline (one prepare job, version params): {base[1]} jobs, {base[0]:.0f} s = "
            f"{1000 * base[0] / base[1]:.2f} ms/job; ratio per job {1000 * wall / jobs / (1000 * base[0] / base[1]):.2f}x"
        )
    if a.profile:
        groups = re.findall(r"Group job (\w+)", out)
        grouped = {
            "prepare_structure",
            "embed_structure",
            "md",
            "label",
            "embed_trajectories",
            "prepare_candidates",
            "embed_candidates",
            "predict",
        }
        local = {
            "collect_structures",
            "collect_embeddings",
            "collect_md_runs",
            "collect_labels",
            "collect_trajectory_embeddings",
            "trainset",
            "rank",
            "report",
            "screen_candidates",
        }
        single = {k: v for k, v in counts.items() if k not in grouped | local | {"total"}}
        print(
            "group submissions:",
            {g: groups.count(g) for g in sorted(set(groups))},
            f"+ single jobs {single}: {len(groups) + sum(single.values())} SLURM submissions",
        )


if __name__ == "__main__":
    main()
