"""envs/*.yaml stay valid for `--sdm conda` users and agree with requirements.txt."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO


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
            assert req[name.lower()] == version, f"{env.name}: {name}=={version} but requirements.txt has {req[name.lower()]}"
