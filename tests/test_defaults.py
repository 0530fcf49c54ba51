"""One source of defaults: the dataclasses. The config schema's defaults and the command line's
follow them; these tests fail when one drifts."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import yaml

from ionscreen.campaign.acquire import CampaignSettings
from ionscreen.cli import build_parser
from ionscreen.embed.structure import SevenNetEmbedder
from ionscreen.labels.diffusion import LabelSettings
from ionscreen.learn.config import TrainConfig
from ionscreen.md.engine import MDSettings
from ionscreen.md.plan import PlanSettings
from ionscreen.structures.prepare import CANDIDATE_MAX_ATOMS, PrepareSettings
from tests.conftest import REPO

SCHEMA = yaml.safe_load((REPO / "config/config.schema.yaml").read_text())["properties"]
NOT_FIELDS = {("md", "temperatures_K"), ("train", "labels"), ("train", "obelix_dir")}  # workflow-only keys


def defaults(cls: type) -> dict[str, object]:
    return {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(cls)
    }


@pytest.mark.parametrize(
    ("section", "cls"),
    [
        ("prepare", PrepareSettings),
        ("md", MDSettings),
        ("plan", PlanSettings),
        ("campaign", CampaignSettings),
        ("label", LabelSettings),
        ("train", TrainConfig),
    ],
)
def test_schema_defaults_equal_the_dataclass(section, cls):
    fields = defaults(cls)
    props = SCHEMA[section]["properties"]
    checked = 0
    for key, spec in props.items():
        if (section, key) in NOT_FIELDS:
            continue
        assert key in fields, f"config {section}.{key} is no field of {cls.__name__}"
        assert spec.get("default") == fields[key], (
            f"{section}.{key}: schema {spec.get('default')!r}, {cls.__name__} {fields[key]!r}"
        )
        checked += 1
    assert checked >= 4


def test_candidate_budget_has_one_default():
    assert SCHEMA["screen"]["properties"]["max_atoms"]["default"] == CANDIDATE_MAX_ATOMS


def _parser_defaults(command: str, *required: str) -> dict[str, object]:
    """The parsed defaults of ``command``, the same from the whole parser and from the parser
    that ``ionscreen <command>`` builds (only that subcommand's arguments)."""
    full = vars(build_parser().parse_args([command, *required]))
    assert vars(build_parser(only=command).parse_args([command, *required])) == full
    return full


def test_command_line_defaults_equal_the_dataclasses():
    md = _parser_defaults("md", "POSCAR", "--temperature", "1000", "--steps", "10", "--out", "x")
    for name in (
        "timestep_fs",
        "interval",
        "mlip",
        "seed",
        "thermostat",
        "device",
        "threads",
        "chunk_frames",
        "skin_A",
        "stop",
        "segment_ps",
        "min_ps",
        "target_rel_error",
        "min_msd_hops",
        "ladder",
    ):
        assert md[name] == getattr(MDSettings, name), name
    lab = defaults(LabelSettings)
    label = _parser_defaults("label", "t.parquet", "--out", "x")
    for name in ("specie", "dimension", "start_dt_ps", "n_dt"):
        assert label[name] == lab[name], name
    for command, extra in (("ingest-liflow", ["d"]), ("ingest", ["m.csv"])):
        args = _parser_defaults(command, *extra, "--out", "x")
        assert args["n_dt"] == lab["n_dt"] and args["specie"] == lab["specie"]
    emb = _parser_defaults("embed", "s.cif", "--out", "x")
    params = inspect.signature(SevenNetEmbedder.__init__).parameters
    for name in ("layer", "variant", "frame", "device"):
        assert emb[name] == params[name].default, name
    assert emb["mlip"] == params["model"].default  # the MLIP is --mlip in every subcommand
