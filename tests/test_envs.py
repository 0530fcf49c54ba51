"""envs/*.yaml stay valid for `--sdm conda` users and agree with requirements.txt."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO
from tests.test_imports import all_modules


def pins(lines):
    return dict(re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", line).groups() for line in lines if "==" in line)


def test_env_pins_agree_with_requirements():
    req = {k.lower(): v for k, v in pins((REPO / "requirements.txt").read_text().splitlines()).items()}
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert {e.stem for e in envs} >= {"fetch", "md", "label", "embed", "train", "screen", "mace"}
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        assert "python=3.11" in spec["dependencies"]
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        for name, version in pins(pip).items():
            if env.stem == "mace" and name in ("mace-torch",):
                continue  # only in the MACE environment
            assert req[name.lower()] == version, (
                f"{env.name}: {name}=={version} but requirements.txt has {req[name.lower()]}"
            )


ENV_EXTRA = {
    "fetch": "sevenn",
    "md": "sevenn",
    "embed": "sevenn",
    "screen": "sevenn",
    "label": None,
    "train": None,
    "mace": "mace",
}


@pytest.mark.slow
def test_every_environment_resolves(tmp_path):
    """pip's resolver on each envs/<stage>.yaml pip part (``pip install --dry-run``, all seven at
    once): a conflict such as mace-torch's e3nn 0.4.4 against sevenn's e3nn >= 0.5 fails here.
    Each stage gets its MLIP stack and no other: the MACE environment has no sevenn."""
    import json
    import subprocess
    import sys

    procs = {}
    for env in sorted((REPO / "envs").glob("*.yaml")):
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        lines = [f"-e {REPO}{line.split('..', 1)[1].lstrip('/')}" if line.startswith("-e ..") else line for line in pip]
        req, report = tmp_path / f"{env.stem}.txt", tmp_path / f"{env.stem}.json"
        req.write_text("\n".join(lines) + "\n")
        procs[env.stem] = (
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--dry-run",
                    "--ignore-installed",
                    "--quiet",
                    "--no-input",
                    "--disable-pip-version-check",
                    "--report",
                    str(report),
                    "-r",
                    str(req),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            report,
        )
    assert set(procs) == set(ENV_EXTRA)
    for name, (proc, report) in procs.items():
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"envs/{name}.yaml does not resolve: {err[-2000:]}"
        installed = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
        assert "ionscreen" in installed and "torch" in installed, name
        assert ("sevenn" in installed) == (ENV_EXTRA[name] == "sevenn"), name
        assert ("mace-torch" in installed) == (ENV_EXTRA[name] == "mace"), name


# Every module: no MLIP stack at import. ``ionscreen.cli.__main__`` runs the command when imported
# (``python -m ionscreen.cli``), so it is the one module not imported here.
CORE = tuple(m for m in all_modules() if m != "ionscreen" and not m.endswith(".__main__"))


def test_core_modules_import_no_mlip_stack():
    """Importing a module of the core never imports sevenn or e3nn (MLIP stacks are extras)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sevenn', 'e3nn', 'mace', 'torch_geometric'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
