"""Everything a GPU should be measured on, in one short run, and one table with the device's name.

Four checks, each a benchmark of this folder run as its own process (so a GPU's memory is free
between them), each printing its figure next to the plain baseline a user would otherwise write:

- md: ``md_throughput.py``, the batched engine against the plain ASE loop (GPU: 64 runs of 100
  atoms, 100 steps; ``--quick``: 4 runs of 16 atoms, 10 steps);
- plan: ``plan_liflow.py``, the plan's probe on prepared OBELiX structures at ``md.batch_atoms``
  (GPU 8192), and the LiFlow protocol's device-hours from it; the rate is kept in
  ``<out>/rates.parquet`` for plans made elsewhere (``ionscreen plan --rates``);
- embed: ``embed_throughput.py``, batched SevenNet-0 embeddings against one structure per call;
- screen: ``screen_throughput.py``, the Screener against the plain path, with a small model
  trained here on random embeddings (its speed, not its skill, is measured).

    bash benchmarks/device_check.sh [--out DIR]          # GPU: under 8 minutes
    bash benchmarks/device_check.sh --quick --out DIR    # CPU: small cases (tests/test_benchmarks.py)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def device_name() -> tuple[str, str]:
    """('cuda' or 'cpu', the card's or the CPU's name)."""
    import torch

    from ionscreen.md.probe import device_name as name

    if torch.cuda.is_available():
        return "cuda", name("cuda")
    return "cpu", name("cpu", 1).removeprefix("cpu: ").removesuffix(", 1 thread")


def tiny_model(out: Path) -> Path:
    """A small structure-only model on random 456-d invariant embeddings (24 materials, 3 epochs):
    what the screening check runs, so that it needs no finished workflow."""
    import numpy as np
    import pandas as pd

    from ionscreen.learn.config import TrainConfig
    from ionscreen.learn.train import train

    rng = np.random.default_rng(0)
    emb, labels, structures = [], [], []
    for m in range(24):
        e = rng.normal(0, 1, (3, 456)).astype(np.float32)
        structures.append({"material_id": f"m{m}", "reduced_formula": f"Li{m + 1}O", "ordering": "none"})
        emb += [
            {"material_id": f"m{m}", "atom_index": k, "species": "Li", "embedding": e[k], "model": "7net-0"}
            | {"layer": 10, "variant": "invariant"}
            for k in range(3)
        ]
        labels += [
            {"material_id": f"m{m}", "temperature_K": t, "status": "ok", "diffusive": True}
            | {"msd_final_A2": 10 ** (float(e[:, 0].mean()) + t / 1000)}
            for t in (600.0, 1000.0)
        ]
    for s in structures:
        s["structure_json"] = "{}"
    train(
        pd.DataFrame(labels),
        pd.DataFrame(emb),
        pd.DataFrame(structures),
        TrainConfig(decoder_widths=[16, 16], epochs=3, seeds=[0], val_fraction=0.25, aml=False),
        out / "model",
        out / "metrics.parquet",
        out / "pred.parquet",
        embedding_meta={"model": "7net-0", "layer": 10, "variant": "invariant", "frame": "given"},
    )
    return out / "model"


def run(name: str, args: list[str], out: Path, timeout: float) -> tuple[str, float]:
    """Run one benchmark; its output goes to <out>/<name>.txt. (stdout, seconds)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(HERE / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout
        )
        text = proc.stdout + (f"\n[exit {proc.returncode}]\n{proc.stderr[-2000:]}" if proc.returncode else "")
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        text += f"\n[timed out after {timeout:.0f} s]"
    (out / f"{name}.txt").write_text(text)
    return text, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="device-check", help="folder of each check's full output and rates.parquet")
    ap.add_argument("--quick", action="store_true", help="small cases (a CPU, or a first look)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    kind, card = device_name()
    gpu = kind == "cuda" and not a.quick
    t_all = time.perf_counter()
    rows: list[tuple[str, str, str, str, float]] = []  # check, figure, baseline, ratio, seconds

    text, secs = run(
        "md",
        ["md_throughput.py", "--cases", *(["64x100", "--steps", "100"] if gpu else ["4x16", "--steps", "10"])]
        + ["--interval", "5" if not gpu else "10"],
        out,
        240,
    )
    last = [ln.split() for ln in text.splitlines() if re.match(r"\s*\d+\s+\d", ln)]
    if last:
        runs, atoms, plain, ours, ratio = last[-1][:5]
        rows.append(
            ("md", f"{float(ours):,.0f} atom-steps/s ({runs} x {atoms} atoms)", f"{float(plain):,.0f}", ratio, secs)
        )
    else:
        rows.append(("md", "failed: see md.txt", "", "", secs))

    plan_args = ["plan_liflow.py", "--rates-out", str(out / "rates.parquet")]
    plan_args += ["--probe-s", "60"] if gpu else ["--probe-s", "8", "--limit", "12", "--batch-atoms", "200"]
    text, secs = run("plan", plan_args, out, 200)
    rate = re.search(r"rate: (.*?): (\d+ runs x \d+ atoms.*?ms/step)", text)
    hours = re.findall(r"^\s+md\s+\d+\s+\d+\s+\S+ / \S+ / \S+\s+(.*? / .*? / \S+ h?)", text, flags=re.M)
    base = re.search(r"plain baseline .*?: ([\d,]+ h)", text)
    if rate:
        fig = f"probe: {rate.group(2).split(',')[0]}"
        if hours:
            fig += f"; LiFlow md max {hours[0].split(' / ')[-1]}"
        rows.append(("plan", fig, base.group(1) if base else "", "", secs))
    else:
        rows.append(("plan", "failed: see plan.txt", "", "", secs))

    text, secs = run("embed", ["embed_throughput.py", *([] if gpu else ["--limit", "12", "--repeats", "1"])], out, 240)
    m = re.search(r"batched .*? ([\d.]+) structures/s .*?one at a time ([\d.]+) structures/s .*?ratio ([\d.]+)x", text)
    rows.append(
        ("embed", f"{m.group(1)} structures/s", m.group(2), m.group(3) + "x", secs)
        if m
        else ("embed", "failed: see embed.txt", "", "", secs)
    )

    model = tiny_model(out / "tiny")
    text, secs = run(
        "screen",
        ["screen_throughput.py", "--model", str(model), "--device", kind]
        + ([] if gpu else ["--limit", "12", "--temperatures", "800"]),
        out,
        240,
    )
    total = re.search(r"^total\s+([\d.]+)\s+([\d.]+)\s+ratio ([\d.]+)x", text, flags=re.M)
    rate_s = re.search(r"Screener: ([\d.]+) materials/s", text)
    plain_s = re.search(r"plain path: ([\d.]+) materials/s", text)
    rows.append(
        (
            "screen",
            f"{rate_s.group(1)} materials/s",
            f"{plain_s.group(1) if plain_s else ''}",
            total.group(3) + "x",
            secs,
        )
        if total and rate_s
        else ("screen", "failed: see screen.txt", "", "", secs)
    )

    print(f"ionscreen device check on {kind}: {card}{' (quick)' if a.quick else ''}")
    print(f"{'check':<8} {'figure':<58} {'plain baseline':>16} {'ratio':>7} {'s':>6}")
    for check, fig, base_fig, ratio, secs in rows:
        print(f"{check:<8} {fig:<58} {base_fig:>16} {ratio:>7} {secs:>6.0f}")
    print(f"total {time.perf_counter() - t_all:.0f} s; each check's output in {out}/")
    if any(r[1].startswith("failed") for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
