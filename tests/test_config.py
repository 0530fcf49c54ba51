"""config.yaml and .test/config.yaml against the JSON schema; bad values are refused."""

from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml

from tests.conftest import REPO

SCHEMA = yaml.safe_load((REPO / "config/config.schema.yaml").read_text())


def load(name):
    return yaml.safe_load((REPO / name).read_text())


def test_shipped_configs_are_valid():
    jsonschema.validate(load("config.yaml"), SCHEMA)
    jsonschema.validate({**load("config.yaml"), **load(".test/config.yaml")}, SCHEMA)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("md", "thermostat"), "langevin", "is not one of"),
        (("md", "timestep_fs"), 20, "is greater than the maximum"),
        (("train", "target"), "speed", "is not one of"),
        (("md", "nsteps"), 10, "Additional properties"),
    ],
)
def test_bad_values_are_refused(path, value, message):
    cfg = copy.deepcopy(load("config.yaml"))
    cfg[path[0]][path[1]] = value
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate(cfg, SCHEMA)


def test_every_key_is_documented():
    def walk(node, where):
        for key, sub in node.get("properties", {}).items():
            if sub.get("type") == "object" and "properties" in sub:
                walk(sub, f"{where}.{key}")
            elif "$ref" not in sub and sub.get("type") != "array":
                assert "default" in sub or key in ("path", "paths", "type"), f"{where}.{key} has no default"

    walk(SCHEMA, "config")
