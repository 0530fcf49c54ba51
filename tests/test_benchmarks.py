"""The device check (benchmarks/device_check.sh) runs on this CPU with its small cases and prints
its one table: the promise that a lent GPU can be measured with one prepared command."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_device_check_runs_quick_on_a_cpu(tmp_path):
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks/device_check.sh"), "--quick", "--out", str(tmp_path / "dc")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"ionscreen device check on (cpu|cuda): .+ \(quick\)", out)
    rows = {ln.split()[0]: ln for ln in out.splitlines()[2:6]}
    assert set(rows) == {"md", "plan", "embed", "screen"}, out
    # Each check's figure came back (not 'failed'), with its plain baseline and ratio where it has one.
    assert re.search(r"md\s+[\d,]+ atom-steps/s \(4 x 16 atoms\)\s+[\d,]+\s+[\d.]+x", rows["md"]), out
    assert re.search(r"plan\s+probe: \d+ runs x \d+ atoms .* ms/step; LiFlow md max", rows["plan"]), out
    assert re.search(r"embed\s+[\d.]+ structures/s\s+[\d.]+\s+[\d.]+x", rows["embed"]), out
    assert re.search(r"screen\s+[\d.]+ materials/s\s+[\d.]+\s+[\d.]+x", rows["screen"]), out
    assert (tmp_path / "dc" / "rates.parquet").is_file()
    from ionscreen.md.rates import read_rates

    (rate,) = read_rates(tmp_path / "dc" / "rates.parquet")
    assert rate.mlip == "7net-0" and rate.batch_atoms == 200 and rate.edge_step_s > 0
