"""Screening throughput: the 254 OBELiX training CIFs at 4 temperatures, the plain path and
``ionscreen.screen.screener.Screener`` side by side in one run, per stage, with materials/s against the
AML paper's figure (419 materials in 14 s on an RTX A6000, about 30 materials/s).

    python benchmarks/screen_throughput.py --model results/model [--end-to-end 3] [--repeat 1] [--skip-plain]

The plain path is what a user would write from the package's pieces (and what ``ionscreen
predict`` did before the Screener): prepare every file (with its space group, serialised to
JSON), rebuild the Structure from JSON, embed every atom with SevenNet's own (e3nn) convolution
and keep the Li rows, expand the features of every (material, T) sample and run the ensemble on
them. Both paths share the ordering code, so its speed-up (same result, no Site objects per
supercell image) is in both columns. Model loading is timed apart.
``--repeat N`` screens the set N times under new names (N = 40: 10,160 files) and reports the
peak memory (RSS) of the run, for the linear-time, bounded-memory check. ``--end-to-end K`` first
times ``ionscreen predict`` on the CIFs K times (start-up and model loading included).
"""

from __future__ import annotations

import argparse
import resource
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[1]
PAPER_MATERIALS, PAPER_SECONDS = 419, 14.0


def plain_path(
    model_dir: str, files: list[Path], temps: list[float], device: str, max_atoms: int | None
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The path before the Screener, from public pieces; returns predictions and stage seconds."""
    from ionscreen.embed.structure import SevenNetEmbedder
    from ionscreen.learn.model import Batch, load_predictor
    from ionscreen.structures.prepare import candidate_settings, prepare_many, structure_from_row
    from ionscreen.structures.sources import material_id

    t = {}
    t0 = time.perf_counter()
    predictor = load_predictor(model_dir)
    embedder = SevenNetEmbedder(device=device, engine="e3nn")  # e3nn's own tensor product
    t["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    settings = candidate_settings(device=device, **({} if max_atoms is None else {"max_atoms": max_atoms}))
    ok, _ = prepare_many([(material_id(f), str(f), f) for f in files], settings, relax=False, progress=False)
    t["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    structures = [structure_from_row(r) for r in ok]
    embs = []
    batch, size = [], 0
    for s in [*structures, None]:
        if s is None or (batch and size + len(s) > embedder.default_batch_atoms()):
            for st, e in zip(batch, embedder.atom_embeddings(batch), strict=True):
                embs.append(e[[site.specie.symbol == "Li" for site in st]])
            batch, size = [], 0
        if s is not None:
            batch.append(s)
            size += len(s)
    t["embed"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = [(k, T) for k in range(len(ok)) for T in temps]
    mean, std, hidden = predictor.predict(Batch.build([embs[k] for k, _ in samples], [T for _, T in samples]))
    dist = np.linalg.norm(hidden[:, None] - predictor.train_hidden[None], axis=-1).min(axis=1)
    t["predict"] = time.perf_counter() - t0
    df = pd.DataFrame(
        {
            "material_id": [ok[k]["material_id"] for k, _ in samples],
            "temperature_K": [T for _, T in samples],
            "prediction": mean,
            "prediction_std": std,
            "nearest_training_distance": dist,
        }
    )
    return df, t


def end_to_end(a: argparse.Namespace, files: list[Path], tmp: Path) -> None:
    """``ionscreen predict`` as a user runs it, ``a.end_to_end`` times: wall seconds, median."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "ionscreen.cli", "predict", "--model", a.model, *map(str, files)]
    cmd += ["--temperature", *(f"{t:g}" for t in a.temperatures), "--out", str(tmp / "e2e.parquet")]
    cmd += ["--room-temperature-model", a.room_temperature_model]  # the device as users get it: auto
    walls = []
    for _ in range(a.end_to_end):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    n = pd.read_parquet(tmp / "e2e.parquet")["material_id"].nunique()
    med = float(np.median(walls))
    print(
        f"end to end (`ionscreen predict`, {a.room_temperature_model or 'no'} sigma_rt columns): "
        f"{', '.join(f'{w:.2f}' for w in walls)} s; median {med:.2f} s = {n / med:.1f} materials/s ({n} screened)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="results/model", help="model directory (make screen writes results/model)")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[600.0, 800.0, 1000.0, 1200.0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the Screener's choice)")
    ap.add_argument("--workers", type=int, default=None, help="reader processes (default: 1 on >= 2 cores)")
    ap.add_argument("--repeat", type=int, default=1, help="screen the set this many times (10,000 structures: 40)")
    ap.add_argument("--skip-plain", action="store_true", help="only the Screener (for --repeat runs)")
    ap.add_argument(
        "--max-atoms", type=int, default=None, help="ordering budget (default: the screening default, 1000)"
    )
    ap.add_argument("--limit", type=int, default=None, help="only the first N CIFs (a quick check)")
    ap.add_argument(
        "--end-to-end",
        type=int,
        default=0,
        help="also time `ionscreen predict` on the CIFs (start-up, models, the sigma_rt columns, writing) "
        "this many times, median",
    )
    ap.add_argument(
        "--room-temperature-model",
        default="obelix-rt",
        help="also screen with this model's sigma_rt columns (the default of ionscreen predict); '' to skip",
    )
    a = ap.parse_args()
    import logging

    logging.getLogger("ionscreen").setLevel(logging.ERROR)  # no line per rejected file over 10,000 files
    from ionscreen import mlip
    from ionscreen.screen.screener import Screener

    mlip.set_threads(a.threads or 2)  # the plain path: torch on both cores
    paper = PAPER_MATERIALS / PAPER_SECONDS
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(REPO / "resources/obelix/train_cifs.tar.gz") as tar:
            tar.extractall(tmp, filter="data")
        base = sorted(Path(tmp).rglob("*.cif"))[: a.limit]
        files = list(base)
        if a.repeat > 1:
            (Path(tmp) / "many").mkdir()
            files = []
            for r in range(a.repeat):
                for f in base:
                    g = Path(tmp) / "many" / f"{f.stem}-r{r:03d}.cif"
                    g.symlink_to(f)
                    files.append(g)
        if a.end_to_end:
            end_to_end(a, base, Path(tmp))
        plain = None
        if not a.skip_plain:
            plain, tp = plain_path(a.model, files, a.temperatures, a.device, a.max_atoms)
        t0 = time.perf_counter()
        screener = Screener(
            a.model, device=a.device, threads=a.threads, workers=a.workers, max_atoms=a.max_atoms
        ).load()
        # (the Screener sets torch's threads for this process; the plain path ran before it)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        fast, bad = screener.screen(files, a.temperatures, progress=False)
        t_fast = time.perf_counter() - t0
        # The default of `ionscreen predict` and the workflow: obelix-rt's columns too.
        t_rt = None
        if a.room_temperature_model:
            with_rt = Screener(
                a.model,
                device=a.device,
                threads=a.threads,
                workers=a.workers,
                max_atoms=a.max_atoms,
                room_temperature_model=a.room_temperature_model,
            ).load()
            t0 = time.perf_counter()
            rt_df, _ = with_rt.screen(files, a.temperatures, progress=False)
            t_rt = time.perf_counter() - t0
    n = fast["material_id"].nunique()
    peak_mb = (
        max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        / 1024
    )
    print(
        f"{len(files)} CIFs -> {n} screened ({int(fast.drop_duplicates('material_id').shape[0])} materials), "
        f"{len(bad)} rejected, {len(a.temperatures)} temperatures, "
        f"{screener.threads} torch thread(s) beside {screener.workers} reader process(es) (plain path: "
        f"{a.threads or 2} threads), device {a.device}"
    )
    ft = screener.timings
    print(f"{'stage':10s} {'plain (s)':>10s} {'Screener (s)':>13s}")
    if plain is not None:
        total_plain = tp["read"] + tp["embed"] + tp["predict"]
        for k in ("read", "embed", "predict"):
            print(f"{k:10s} {tp[k]:10.2f} {ft[k]:13.2f}" + ("   (waiting for the reader)" if k == "read" else ""))
        print(f"{'total':10s} {total_plain:10.2f} {t_fast:13.2f}   ratio {total_plain / t_fast:.2f}x")
        print(f"{'load':10s} {tp['load']:10.2f} {t_load:13.2f}")
        m = plain.merge(fast, on=["material_id", "temperature_K"], suffixes=("_plain", "_fast"))
        print(
            f"same predictions: {len(m)} rows, max |diff| {np.abs(m['prediction_plain'] - m['prediction_fast']).max():.2e} "
            f"(std {np.abs(m['prediction_std_plain'] - m['prediction_std_fast']).max():.2e})"
        )
        print(f"plain path: {n / total_plain:.1f} materials/s = {n / total_plain / paper:.2f}x the paper's {paper:.1f}")
    else:
        print(
            f"{'total':10s} {'':10s} {t_fast:13.2f}   (read {ft['read']:.1f}, embed {ft['embed']:.1f}, "
            f"predict {ft['predict']:.1f})"
        )
    print(
        f"Screener: {n / t_fast:.1f} materials/s = {n / t_fast / paper:.2f}x the paper's {paper:.1f} "
        f"(model loading excluded: {t_load:.1f} s); peak RSS {peak_mb:.0f} MB"
    )
    if t_rt is not None:
        n_rt = rt_df["material_id"].nunique()
        print(
            f"Screener with {a.room_temperature_model}'s sigma_rt columns: {t_rt:.2f} s, {n_rt / t_rt:.1f} materials/s "
            f"({t_rt / t_fast:.2f}x the time without them)"
        )


if __name__ == "__main__":
    main()
