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


def test_every_key_is_described_where_it_is_declared():
    from ionscreen.configdoc import leaves

    keys = dict(leaves(SCHEMA))
    assert len(keys) >= 80 and "md.batch_atoms" in keys and "embed.trajectory.mode" in keys
    missing = [k for k, spec in keys.items() if not str(spec.get("description", "")).strip()]
    assert not missing, f"config keys without a description in config/config.schema.yaml: {missing}"


def test_configuration_page_is_generated_from_the_schema():
    from ionscreen.configdoc import markdown

    page = (REPO / "docs/configuration.md").read_text()
    assert page == markdown(SCHEMA), (
        "docs/configuration.md is stale: python -m ionscreen.configdoc "
        "config/config.schema.yaml > docs/configuration.md"
    )
    assert '| `md.stop` | string: `fixed`, `converged` | `"converged"` |' in page
