"""A killed MD run (SIGKILL) resumes from its last chunk and ends with the same table.

Measured here with Lennard-Jones at 900 K: a plain rerun is bit-identical; a resumed run is
bit-identical up to a few frames past the resume point, then differs in the last bit (the restarted
calculator rebuilds its neighbour list, so pair forces are summed in another order) and that
difference grows ~10^3-fold per 400 steps, as any perturbation of a chaotic trajectory does.
So the run is short enough for float noise to stay far below the tolerance.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from ionscreen import schema
from ionscreen.md.engine import MDSettings, run_md
from tests.conftest import li3n


def _cmd(structure, out, steps=1000):
    return [
        sys.executable,
        "-m",
        "ionscreen.cli",
        "md",
        str(structure),
        "--temperature",
        "900",
        "--steps",
        str(steps),
        "--timestep-fs",
        "1",
        "--interval",
        "10",
        "--mlip",
        "lj",
        "--threads",
        "1",
        "--seed",
        "5",
        "--chunk-frames",
        "10",
        "--out",
        str(out),
    ]


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    structure = tmp_path / "Li3N.json"
    structure.write_text(json.dumps((li3n() * (2, 2, 2)).as_dict()))
    ref, out = tmp_path / "ref.parquet", tmp_path / "out.parquet"
    subprocess.run(_cmd(structure, ref), check=True, capture_output=True)

    proc = subprocess.Popen(_cmd(structure, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resume_dir = tmp_path / ".out.parquet.resume"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(resume_dir.glob("state_*.npz"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed run must not leave a finished-looking table"
    saved = len(list(resume_dir.glob("state_*.npz")))
    assert saved >= 3

    subprocess.run(_cmd(structure, out), check=True, capture_output=True)
    a, b = schema.read_table(ref, "trajectory"), schema.read_table(out, "trajectory")
    assert len(a) == len(b) == 101
    # Frames saved before the kill are bit-identical.
    pd.testing.assert_frame_equal(
        a.iloc[: 10 * saved].drop(columns="positions_A"),
        b.iloc[: 10 * saved].drop(columns="positions_A"),
        rtol=0,
        atol=0,
    )
    # The rest equals to float tolerance (lost state would differ at O(1)).
    pd.testing.assert_frame_equal(a.drop(columns="positions_A"), b.drop(columns="positions_A"), rtol=1e-8)
    np.testing.assert_allclose(np.stack(a["positions_A"]), np.stack(b["positions_A"]), rtol=0, atol=1e-5)
    assert not resume_dir.exists()


def test_resume_folder_of_other_settings_is_discarded(tmp_path):
    s = MDSettings(temperature_K=900.0, n_steps=100, timestep_fs=1.0, interval=10, mlip="lj", chunk_frames=2)
    out = tmp_path / "t.parquet"
    stale = tmp_path / ".t.parquet.resume"
    stale.mkdir()
    (stale / "key").write_text("something else")
    (stale / "state_000000.npz").write_bytes(b"junk")
    row = run_md(li3n(), s, out, progress=False)
    assert row["status"] == "ok" and row["resumed_at_frame"] == 0 and row["n_frames"] == 11
    assert not stale.exists()
