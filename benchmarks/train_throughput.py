"""Training cost at the AML paper's sizes: the closed-form initialisation against gradient
distillation (the alternative a user would otherwise write), and seconds per epoch of the
structure predictor with the paper's 3 x 4000 decoder against the small 3 x 64 one.

Inputs are random with the paper's shapes: 2,935 structure-temperature features and 512
trajectory features per Li atom, d_h = 8. Both initialisations fit the same hidden-state target;
the distillation runs until it is within 1 % of the ridge optimum's residual, or --max-epochs.

    python benchmarks/train_throughput.py [--rows 20000] [--materials 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000, help="Li-atom rows (materials x temperatures x Li atoms)")
    ap.add_argument("--materials", type=int, default=200, help="materials per epoch (1 material per step)")
    ap.add_argument("--li-per-material", type=int, default=24)
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from ionscreen.learn.model import StructurePredictor, ridge_closed_form, segment_mean

    rng = np.random.default_rng(0)
    f, d_h = 2935, 8
    # Correlated features (as real embeddings are): a low-rank part plus noise.
    x = torch.from_numpy(
        (rng.normal(0, 1, (a.rows, 64)) @ rng.normal(0, 1, (64, f)) / 8 + rng.normal(0, 0.3, (a.rows, f))).astype(
            np.float32
        )
    )
    h = x @ torch.from_numpy(rng.normal(0, 0.02, (f, d_h)).astype(np.float32)) + 0.1 * torch.randn(a.rows, d_h)

    t = time.perf_counter()
    w = ridge_closed_form(x, h, 1e-5)
    t_cf = time.perf_counter() - t
    target = float(((x.double() @ w - h.double()) ** 2).mean())

    enc = torch.nn.Linear(f, d_h, bias=False)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    t = time.perf_counter()
    mse, epochs = float("inf"), 0
    while epochs < a.max_epochs and mse > 1.01 * target:
        for s in torch.randperm(a.rows).split(4096):
            opt.zero_grad()
            torch.nn.functional.mse_loss(enc(x[s]), h[s]).backward()
            opt.step()
        epochs += 1
        with torch.no_grad():
            mse = float(torch.nn.functional.mse_loss(enc(x), h))
    t_gd = time.perf_counter() - t
    print(f"hidden-state fit, {a.rows} rows x {f} features -> {d_h}:")
    print(f"  closed form (float64 Cholesky): {t_cf:7.2f} s, residual MSE {target:.5f}")
    print(
        f"  gradient distillation (Adam):   {t_gd:7.2f} s, residual MSE {mse:.5f} after {epochs} epochs"
        f"{'' if mse <= 1.01 * target else ' (not yet within 1 %)'}"
    )
    print(f"  ratio: closed form is {t_gd / t_cf:.1f}x faster")

    n_li = a.li_per_material
    xb = x[:n_li]
    seg = torch.zeros(n_li, dtype=torch.long)
    print(f"\nseconds per epoch, {a.materials} materials, 1 material ({n_li} Li atoms) per Adam step:")
    per_epoch = {}
    for widths in ([4000, 4000, 4000], [64, 64, 64]):
        torch.manual_seed(0)
        m = StructurePredictor(f, d_h, widths)
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        steps = min(a.materials, 40)
        t = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            out = m.decoder(segment_mean(m.norm(m.encoder(xb)), seg, 1)).squeeze(-1)
            torch.nn.functional.l1_loss(out, torch.zeros(1)).backward()
            opt.step()
        per_epoch[len(widths) and widths[0]] = (time.perf_counter() - t) / steps * a.materials
        n_par = sum(p.numel() for p in m.parameters())
        print(f"  decoder {widths}: {n_par / 1e6:6.2f} M parameters, {per_epoch[widths[0]]:7.2f} s/epoch")
    print(f"  ratio: the paper's width costs {per_epoch[4000] / per_epoch[64]:.0f}x the small one per epoch")


if __name__ == "__main__":
    main()
