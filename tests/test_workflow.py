"""The whole DAG on the tiny .test configuration, and the workflow's static rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from ionscreen import schema
from tests.conftest import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _rule_blocks() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for f in sorted((REPO / "rules").glob("*.smk")):
        parts = re.split(r"^(?=rule |use rule )", f.read_text(), flags=re.M)
        for p in parts[1:]:
            name = re.match(r"(?:use rule \w+ as |rule )(\w+)", p).group(1)
            blocks[name] = p
    return blocks


def test_every_rule_has_log_and_benchmark():
    blocks = _rule_blocks()
    assert {
        "prepare_structure",
        "md",
        "label",
        "embed_structure",
        "trainset",
        "train",
        "predict",
        "rank",
        "report",
    } <= set(blocks)
    for name, text in blocks.items():
        assert "    log:" in text, f"rule {name} has no log"
        assert "    benchmark:" in text, f"rule {name} has no benchmark"


def _dry_run(*args, cwd=None, env=None) -> tuple[dict[str, int], str]:
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-n", *args], capture_output=True, text=True, cwd=cwd, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M)}
    return counts, proc.stdout


def test_dry_run_lists_jobs_of_every_stage(tmp_path):
    # An empty working directory: the answer must not depend on what a previous `make screen` left.
    counts, _ = _dry_run("-d", str(tmp_path), "--cores", "8", "screen_candidates")
    for rule in (
        "prepare_structure",
        "md",
        "label",
        "embed_structure",
        "trainset",
        "train",
        "predict",
        "rank",
        "report",
    ):
        assert counts.get(rule, 0) >= 1, (rule, counts)
    assert (
        counts["md"] == 6
    )  # 9 training structures at 2 temperatures: per temperature 3 batches of <= 256 // 64 = 4 runs
    assert counts["prepare_structure"] == counts["embed_structure"] == counts["label"] == 9  # one job per material
    assert counts["embed_trajectories"] == 9  # AML: the trainer sees trajectory embeddings
    assert counts["prepare_candidates"] == counts["predict"] == 1  # 10 candidates, shards of 200
    assert not any(tmp_path.rglob("*.json")), "a dry run wrote files"  # the shard record included


def test_every_rule_says_what_it_does():
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--list-rules"], capture_output=True, text=True, cwd=REPO, check=True
    )
    rules = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(rules) > 20 and all("(" in line for line in rules), [r for r in rules if "(" not in r]
    assert "training material." not in proc.stdout.split("embed_candidates")[1].splitlines()[0]


def test_contract_obelix_command_dry_run(tmp_path):
    # The README's OBELiX command, target first (--configfile takes several files).
    counts, out = _dry_run("train", "-d", str(tmp_path), "--cores", "2", "--configfile", "config/obelix.yaml", cwd=REPO)
    assert counts == {
        "obelix_labels": 1,
        "prepare_structure": 254,
        "embed_structure": 254,
        "collect_structures": 1,
        "collect_embeddings": 1,
        "trainset": 1,
        "train": 1,
        "total": 513,
    }
    assert "results/obelix/model/model.pt" in out


def test_obelix_screen_schedules_no_md(tmp_path):
    counts, _ = _dry_run(
        "screen_candidates", "-d", str(tmp_path), "--cores", "2", "--configfile", "config/obelix.yaml", cwd=REPO
    )
    assert counts["report"] == 1 and counts["predict"] == 1
    assert counts["cross_validate"] == 1  # the report shows the workflow model's grouped CV (config/obelix.yaml)
    assert not {"md", "label", "collect_md_runs", "collect_labels", "embed_trajectories"} & set(counts), counts


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    cmd = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(work),
        "screen_candidates",
        "ablations",
        "--cores",
        "2",
        "--configfile",
        str(REPO / ".test/config.yaml"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work / "results-test", cmd


@pytest.mark.slow
def test_workflow_outputs_match_their_schemas(workflow_run):
    results, _ = workflow_run
    tables = sorted(results.rglob("*.parquet"))
    assert len(tables) >= 20
    for p in tables:
        name = schema.read_provenance(p)["table"]
        schema.validate(pq.read_table(p), name)  # exactly the declared columns and types


@pytest.mark.slow
def test_workflow_ranking_flags_and_rejections(workflow_run):
    results, _ = workflow_run
    ranking = schema.read_table(results / "screening/ranking.parquet", "predictions")
    assert set(ranking["material_id"]) == {"LiBr", "Li2Se", "obelix-jqc", "LiFePO4", "LiFePO4-rotated"}
    assert sorted(ranking.drop_duplicates("material_id")["rank"]) == [1, 2, 3, 4, 5]
    assert np.isfinite(ranking["prediction"]).all() and (ranking["prediction_std"] > 0).all()
    jqc = ranking[ranking["material_id"] == "obelix-jqc"]["flags"].iloc[0]
    assert "disorder_resolved" in jqc and "elements_unseen_in_training" in jqc  # Bi never trained on
    rejected = schema.read_table(results / "screening/rejected.parquet", "rejected").set_index("material_id")
    assert set(rejected.index) == {"broken", "empty", "no-li-SiS4"}
    assert rejected.loc["no-li-SiS4", "reason"] == "no Li in SiS4"
    assert rejected["code"].to_dict() == {"broken": "unreadable", "empty": "empty_file", "no-li-SiS4": "no_li"}
    assert ranking["Ea_eV"].notna().all() and ranking["extrapolated_300K"].all()
    # the shipped OBELiX model's room-temperature sigma for every candidate: Li7BiO6 (OBELiX jqc,
    # measured 1.6e-6 S/cm) comes back near its measurement; Bi is known to OBELiX, so no flag
    assert ranking["sigma_rt_log10_S_cm"].notna().all() and (ranking["sigma_rt_std"] >= 0).all()
    jqc_rt = ranking[ranking["material_id"] == "obelix-jqc"].iloc[0]
    assert abs(jqc_rt["sigma_rt_log10_S_cm"] - np.log10(1.58489e-06)) < 0.5
    assert "elements_unseen_in_training" not in jqc_rt["sigma_rt_flags"]
    html = (results / "screening/report.html").read_text()
    assert "Route: <b>aml</b> (trajectory embeddings: fourier-only)" in html
    assert "Ranking" in html and html.count("<img") >= 3 and "obelix-jqc" in html
    assert "sigma_RT (S/cm)" in html and "obelix-rt" in html


@pytest.mark.slow
def test_workflow_logs_benchmarks_and_idempotent_rerun(workflow_run):
    results, cmd = workflow_run
    stages = {p.name for p in (results / "benchmarks").iterdir()}
    assert stages == {"fetch", "md", "label", "embed", "train", "screen"}
    for tsv in (results / "benchmarks").rglob("*.tsv"):
        assert (results / "logs" / tsv.parent.name / (tsv.stem + ".log")).exists(), tsv
    again = subprocess.run([*cmd, "-n"], capture_output=True, text=True, check=True)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_cli_predict_equals_the_rule(workflow_run, tmp_path):
    from ionscreen.cli import main

    results, _ = workflow_run
    out = tmp_path / "pred.parquet"
    files = [str(REPO / "resources/structures/candidates/LiBr.json"), str(REPO / ".test/bad/empty.cif")]
    assert (
        main(
            [
                "predict",
                "--model",
                str(results / "model"),
                *files,
                "--temperature",
                "800",
                "1000",
                "--relax-steps",
                "5",
                "--threads",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cli = schema.read_table(out, "predictions").set_index("temperature_K")
    rule = schema.read_table(results / "screening/ranking.parquet", "predictions")
    rule = rule[rule["material_id"] == "LiBr"].set_index("temperature_K")
    np.testing.assert_allclose(
        cli.loc[[800.0, 1000.0], "prediction"], rule.loc[[800.0, 1000.0], "prediction"], atol=1e-4
    )
    # the room-temperature columns too, as the rule's (LiBr is ordered: as given = as prepared)
    np.testing.assert_allclose(
        cli["sigma_rt_log10_S_cm"].to_numpy(float), rule.loc[cli.index, "sigma_rt_log10_S_cm"], atol=1e-6
    )
    assert schema.read_provenance(out)["temperatures_K"] == [800.0, 1000.0]

    # outside the model's training temperatures (800-1200 K): one warning line, flagged, 300 K extrapolated
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ionscreen.cli",
            "predict",
            "--model",
            str(results / "model"),
            files[0],
            "--temperature",
            "300",
            "600",
            "--out",
            str(tmp_path / "cold.parquet"),
        ],
        capture_output=True,
        text=True,
    )
    warn = [x for x in proc.stderr.splitlines() if x.startswith("warning:")]
    assert proc.returncode == 0 and len(warn) == 1 and "300, 600 K lie outside" in warn[0], proc.stderr[-2000:]
    cold = schema.read_table(tmp_path / "cold.parquet", "predictions")
    assert all("temperature_outside_training" in f for f in cold["flags"]) and cold["extrapolated_300K"].all()


def _sorted_rows(emb: np.ndarray) -> np.ndarray:
    """Embedding rows in a canonical order (atom order is the file's, not the crystal's)."""
    return emb[np.lexsort(np.round(emb, 4).T[::-1])]


@pytest.mark.slow
def test_rotated_crystal_gets_equal_embeddings_and_predictions(workflow_run, tmp_path):
    """The same crystal written another way (generic rotation, shift, atom order): equal embeddings
    and predictions through the workflow's rules and through the CLI, with the default settings."""
    import json

    import pandas as pd

    from ionscreen.cli import main
    from ionscreen.structures.prepare import read_structure
    from tests.conftest import rotated_copy

    results, _ = workflow_run
    original = REPO / "resources/structures/candidates/LiFePO4.json"
    rotated = REPO / ".test/rotated/LiFePO4-rotated.json"
    want = rotated_copy(read_structure(original))
    np.testing.assert_allclose(
        read_structure(rotated).cart_coords, want.cart_coords, atol=1e-9
    )  # the fixture is what it says
    assert not np.allclose(read_structure(rotated).lattice.matrix, read_structure(original).lattice.matrix, atol=0.1)
    meta = json.loads((results / "model/model.json").read_text())["embedding"]
    assert meta["variant"] == "invariant" and meta["frame"] == "given"

    # the rules: embed_candidates (after a 5-step MLIP relaxation) and predict
    emb = schema.concat_tables(sorted(results.glob("screening/shards/*/embeddings.parquet")), "embeddings")
    by = {
        m: _sorted_rows(np.stack(g.sort_values("atom_index")["embedding"].to_list()))
        for m, g in emb.groupby("material_id")
    }
    np.testing.assert_allclose(by["LiFePO4-rotated"], by["LiFePO4"], atol=1e-4)
    ranking = schema.read_table(results / "screening/ranking.parquet", "predictions").set_index(
        ["temperature_K", "material_id"]
    )
    pred = ranking["prediction"].unstack()
    np.testing.assert_allclose(pred["LiFePO4-rotated"], pred["LiFePO4"], atol=1e-4)
    assert not any("orientation_dependent" in f for f in ranking["flags"])

    # the CLI: embed and predict, structures as given
    out = tmp_path / "emb.parquet"
    assert main(["embed", str(original), str(rotated), "--out", str(out)]) == 0
    cli = schema.read_table(out, "embeddings")
    a, b = (
        _sorted_rows(np.stack(cli[cli["material_id"] == m].sort_values("atom_index")["embedding"].to_list()))
        for m in ("LiFePO4", "LiFePO4-rotated")
    )
    np.testing.assert_allclose(a, b, atol=1e-5)
    out = tmp_path / "pred.parquet"
    assert (
        main(
            [
                "predict",
                "--model",
                str(results / "model"),
                str(original),
                str(rotated),
                "--temperature",
                "800",
                "1000",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    p = schema.read_table(out, "predictions").pivot_table(
        index="temperature_K", columns="material_id", values="prediction"
    )
    assert isinstance(p, pd.DataFrame) and len(p) == 2
    np.testing.assert_allclose(p["LiFePO4-rotated"], p["LiFePO4"], atol=1e-5)


@pytest.mark.slow
def test_workflow_trains_with_aml_and_writes_ablations(workflow_run):
    import json

    results, _ = workflow_run
    meta = json.loads((results / "model/model.json").read_text())
    assert meta["route"] == "aml" and meta["trajectory_embedder"] == "fourier-only"
    assert (results / "model/trainer.pt").is_file()
    metrics = schema.read_table(results / "train/metrics.parquet", "metrics")
    assert set(metrics["model"]) == {"f1 (AML)", "g (with trajectories)"}
    abl = schema.read_table(results / "train/ablations.parquet", "ablations")
    assert set(abl["variant"]) == {"full", "no_aml", "gradient_distillation", "no_polynomial_expansion", "no_alpha"}
    assert abl["mae"].notna().all()


def test_slurm_profile_batches_per_material_jobs(tmp_path):
    """100 structures x 4 temperatures: 400 MD runs in 4 batch jobs of one GPU each (one a
    temperature: 8192 atoms // 64 atoms at most per run = 128 runs a batch), not 400 jobs."""
    src = (REPO / "resources/structures/train/Li2O.json").read_text()
    (tmp_path / "structs").mkdir()
    for i in range(100):
        (tmp_path / "structs" / f"m{i:03d}.json").write_text(src)
    (tmp_path / "cfg.yaml").write_text(
        f"train_sources: [{{type: directory, path: {tmp_path / 'structs'}}}]\n"
        "md: {temperatures_K: [600, 800, 1000, 1200], batch_atoms: 8192}\n"
    )
    counts, out = _dry_run(
        "-d",
        str(tmp_path),
        "--profile",
        str(REPO / "profiles/slurm"),
        "screen_candidates",
        "--configfile",
        str(tmp_path / "cfg.yaml"),
    )
    assert counts["md"] == 4 and "md_batch" not in out
    md_resources = re.findall(r"rule md:\n.*?resources: ([^\n]*)", out, flags=re.S)
    assert len(md_resources) == 4 and all("gpu=1" in r and "slurm_partition=gpu" in r for r in md_resources)
    assert out.count("Group job structure_batch") == 2  # 100 x (prepare + embed), 50 materials a submission
    assert out.count("Group job analysis_batch") == 4  # 100 label + 100 trajectory-embedding jobs


# ------------------------------------------------------------------ a campaign that grows


@pytest.fixture
def finished_copy(workflow_run, tmp_path):
    """A copy of the finished .test campaign (results and Snakemake's records), free to grow."""
    import shutil

    results, _ = workflow_run
    work = tmp_path / "campaign"
    shutil.copytree(results.parent, work, symlinks=True)
    return work


def _grown_config(tmp_path, train_extra=(), candidates_extra=()) -> Path:
    import yaml

    cfg = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    cfg["train_sources"][0]["paths"] += list(train_extra)
    cfg["candidate_sources"][0]["paths"] += list(candidates_extra)
    path = tmp_path / "grown.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_added_training_structure_runs_only_its_own_jobs(finished_copy, tmp_path):
    cfg = _grown_config(tmp_path, train_extra=["resources/structures/train/Li2S.json"])
    counts, out = _dry_run(
        "-d", str(finished_copy), "--cores", "2", "screen_candidates", "--configfile", str(cfg), cwd=REPO
    )
    # The new material's per-material jobs ...
    assert counts["prepare_structure"] == counts["embed_structure"] == counts["label"] == 1
    assert counts["md"] == 2 and counts["embed_trajectories"] == 1  # Li2S's two runs: a new batch per temperature
    assert set(re.findall(r"wildcards: material=([^,\s]+)", out)) == {"Li2S"}
    assert set(re.findall(r"wildcards: batch=([\w-]+)", out)) == {"800K-00002", "1200K-00002"}
    # ... the gathers, training, prediction and the report; nothing of the old materials or candidates.
    for rule in (
        "collect_structures",
        "collect_embeddings",
        "collect_labels",
        "collect_md_runs",
        "collect_trajectory_embeddings",
        "trainset",
        "train",
        "rank",
        "report",
    ):
        assert counts[rule] == 1, (rule, counts)
    assert counts["predict"] == 2  # the two candidate shards, with the retrained model
    assert "prepare_candidates" not in counts and "embed_candidates" not in counts


@pytest.mark.slow
def test_package_patch_release_leaves_results_current_but_a_stage_version_does_not(finished_copy, tmp_path):
    import json
    import os

    site = tmp_path / "site"
    site.mkdir()
    args = (
        "-d",
        str(finished_copy),
        "--cores",
        "2",
        "screen_candidates",
        "ablations",
        "--configfile",
        str(REPO / ".test/config.yaml"),
    )
    (site / "sitecustomize.py").write_text("import ionscreen\nionscreen.__version__ = '0.1.99'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    counts, out = _dry_run(*args, env=env)
    assert counts == {} and "Nothing to be done" in out
    # A shim renamed or edited since its jobs ran (the md jobs' records say they ran md_old.py):
    # the workflow profile leaves Snakemake's code trigger out, so nothing re-runs; with the
    # trigger back on, every finished MD job would.
    changed = 0
    for record in (finished_copy / ".snakemake/metadata").iterdir():
        meta = json.loads(record.read_text())
        if meta.get("rule") == "md":
            meta["code"] = meta["code"].replace("workflow_scripts/md.py", "workflow_scripts/md_old.py")
            record.write_text(json.dumps(meta))
            changed += 1
    assert changed >= 4
    counts, out = _dry_run(*args, env=env)
    assert counts == {} and "Nothing to be done" in out
    counts, _ = _dry_run(*args, "--rerun-triggers", "mtime", "params", "input", "software-env", "code", env=env)
    assert counts["md"] == 4
    # The control: bumping the md stage version puts every MD run (and what follows) out of date.
    (site / "sitecustomize.py").write_text("import ionscreen.stages\nionscreen.stages.STAGE_VERSIONS['md'] += 1\n")
    counts, _ = _dry_run(*args, env=env)
    assert counts["md"] == 4 and "prepare_structure" not in counts  # 5 x 2 runs: 2 batches per temperature


def _changed_config(tmp_path, section: str, key: str, value) -> Path:
    import yaml

    cfg = yaml.safe_load((REPO / ".test/config.yaml").read_text())
    cfg.setdefault(section, {})[key] = value
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_plan_prepares_the_structures_it_needs_and_never_starts_md(tmp_path):
    counts, _ = _dry_run("-d", str(tmp_path), "--cores", "2", "plan", "--configfile", str(REPO / ".test/config.yaml"))
    assert counts == {"prepare_structure": 5, "plan": 1, "total": 6}, counts


def test_md_time_limits_come_from_the_plan(tmp_path):
    """A batch the plan knows gets its planned limit (rules/md.smk runtime); the others get
    plan.default_runtime_min."""
    row = {"batch": "800K-00000", "temperature_K": 800.0, "runs": 4, "atoms": 10}
    row |= {"min_hours": 0.1, "expected_hours": 0.1, "max_hours": 0.2, "runtime_min": 17}
    schema.write_table([row], tmp_path / "results-test/plan/plan_batches.parquet", "plan_batches")
    _, out = _dry_run(
        "-d", str(tmp_path), "--cores", "2", "collect_md_runs", "--configfile", str(REPO / ".test/config.yaml")
    )
    limits = {}
    for block in out.split("\nrule ")[1:]:
        if block.startswith("md:"):
            batch = re.search(r"wildcards: batch=(\S+)", block).group(1)
            limits[batch] = int(re.search(r"runtime=(\d+)", block).group(1))
    assert limits == {"800K-00000": 17, "800K-00001": 720, "1200K-00000": 720, "1200K-00001": 720}


# Settings that change how fast results are computed, not the results (each stage's ENGINE_ONLY).
ENGINE_ONLY_CHANGES = [
    ("md", "threads", 2),
    ("mlip", "device", "cpu"),
    ("md", "batch_atoms", 512),
    ("md", "skin_A", 0.5),
    ("md", "chunk_frames", 7),
    ("embed", "threads", 1),
    ("embed", "batch_atoms", 128),
    ("mlip", "accelerator", "none"),
    ("md", "runs_per_job", 3),  # new batches only: the finished ones keep their runs
    ("plan", "margin", 1.0),  # time limits of jobs, never their results
    ("plan", "devices", 4),
]


@pytest.mark.slow
@pytest.mark.parametrize(("section", "key", "value"), ENGINE_ONLY_CHANGES)
def test_engine_only_settings_reschedule_no_finished_job(finished_copy, tmp_path, section, key, value):
    cfg = _changed_config(tmp_path, section, key, value)
    counts, out = _dry_run(
        "-d", str(finished_copy), "--cores", "2", "screen_candidates", "ablations", "--configfile", str(cfg), cwd=REPO
    )
    assert counts == {} and "Nothing to be done" in out, (section, key, counts)


@pytest.mark.slow
@pytest.mark.parametrize(("key", "value"), [("seed", 2), ("timestep_fs", 1.0)])
def test_a_trajectory_setting_reschedules_the_md_and_what_follows_it(finished_copy, tmp_path, key, value):
    cfg = _changed_config(tmp_path, "md", key, value)
    counts, _ = _dry_run(
        "-d", str(finished_copy), "--cores", "2", "screen_candidates", "--configfile", str(cfg), cwd=REPO
    )
    assert counts["md"] == 4 and counts["label"] == 5  # every MD batch (2 per temperature), every material's label
    for upstream in ("prepare_structure", "embed_structure", "prepare_candidates", "embed_candidates"):
        assert upstream not in counts, (upstream, counts)


@pytest.mark.slow
def test_added_candidates_are_screened_in_a_new_shard(finished_copy, tmp_path):
    import json

    results = finished_copy / "results-test"
    before = schema.read_table(results / "screening/ranking.parquet", "predictions")
    shards = json.loads((results / "screening/shards.json").read_text())["shards"]
    assert sorted(shards) == ["00000", "00001"]
    cfg = _grown_config(tmp_path, candidates_extra=["resources/structures/candidates/LiI.json"])
    args = ("-d", str(finished_copy), "--cores", "2", "screen_candidates", "--configfile", str(cfg))
    counts, out = _dry_run(*args, cwd=REPO)
    assert counts["prepare_candidates"] == counts["embed_candidates"] == counts["predict"] == 1
    assert set(re.findall(r"wildcards: shard=(\d+)", out)) == {"00002"}
    assert {"md", "train", "prepare_structure"}.isdisjoint(counts)
    proc = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = schema.read_table(results / "screening/ranking.parquet", "predictions")
    assert set(after["material_id"]) == set(before["material_id"]) | {"LiI"}
    assert sorted(after.drop_duplicates("material_id")["rank"]) == [1, 2, 3, 4, 5, 6]
    old = after[after["material_id"] != "LiI"].set_index(["material_id", "temperature_K"])["prediction"]
    np.testing.assert_array_equal(
        old.sort_index(), before.set_index(["material_id", "temperature_K"])["prediction"].sort_index()
    )
    assert json.loads((results / "screening/shards.json").read_text())["shards"]["00002"] == ["LiI"]


@pytest.mark.slow
def test_cli_train_is_the_train_rule(workflow_run, tmp_path):
    """``ionscreen train`` on the run's trainset with the run's config trains the rule's model."""
    import json

    from ionscreen.cli import main

    results, _ = workflow_run
    assert (
        main(
            [
                "train",
                str(results / "trainset"),
                "--config",
                str(REPO / "config.yaml"),
                str(REPO / ".test/config.yaml"),
                "--out",
                str(tmp_path / "model"),
            ]
        )
        == 0
    )
    rule = json.loads((results / "model/model.json").read_text())
    cli = json.loads((tmp_path / "model/model.json").read_text())
    for key in ("route", "target", "training_materials", "temperature_range_K", "architecture", "config", "embedding"):
        assert cli[key] == rule[key], key
    a = schema.read_table(results / "train/predictions.parquet", "training_predictions")
    b = schema.read_table(tmp_path / "model/training_predictions.parquet", "training_predictions")
    np.testing.assert_allclose(b["prediction"], a["prediction"], atol=1e-3)


@pytest.mark.slow
def test_ladder_skips_the_temperatures_below_a_run_that_was_not_diffusive(tmp_path):
    """Two materials at 1200 and 800 K with the ladder on: 40 steps at 1200 K show no diffusion,
    so the 800 K batch runs no MD step; its runs are 'skipped' with the reason and their labels
    are the 1200 K runs' upper limits. A grown campaign then runs only the new material's batches."""
    import json

    import yaml

    cfg = {
        "results": "results-ladder",
        "train_sources": [
            {"type": "files", "paths": ["resources/structures/train/Li3N.json", "resources/structures/train/Li2O.json"]}
        ],
        "prepare": {"relax_steps": 3},
        "md": {"temperatures_K": [800, 1200], "n_steps": 40, "interval": 2, "stop": "fixed", "ladder": True},
        "label": {"n_dt": 20},
    }
    (tmp_path / "ladder.yaml").write_text(yaml.safe_dump(cfg))
    configs = ["--configfile", str(REPO / "config.yaml"), str(tmp_path / "ladder.yaml")]  # last: it takes several files
    targets = ["results-ladder/md/runs.parquet", "results-ladder/labels/labels.parquet"]
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "2", *targets, *configs],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = tmp_path / "results-ladder"
    runs = schema.read_table(res / "md/runs.parquet", "md_runs").set_index(["material_id", "temperature_K"])
    for m in ("Li3N", "Li2O"):
        top, below = runs.loc[(m, 1200.0)], runs.loc[(m, 800.0)]
        assert top["status"] == "ok" and top["stop_reason"] == "fixed" and not top["diffusive"] and top["n_steps"] == 40
        assert below["status"] == "skipped" and below["n_steps"] == 0 and below["n_frames"] == 0
        assert below["stop_reason"] == "ladder"
        assert below["reason"].startswith("not diffusive at 1200 K within 0.08 ps with the host framework intact (host")
        assert top["framework_intact"] and "changed coordination" in top["framework"]
    assert "MD Li3N 1200 K: ok, 40 steps" in (res / "logs/md/batch_1200K-00000.log").read_text()
    assert "MD " not in (res / "logs/md/batch_800K-00000.log").read_text()  # the 800 K batch integrated nothing
    labels = schema.read_table(res / "labels/labels.parquet", "labels").set_index(["material_id", "temperature_K"])
    for m in ("Li3N", "Li2O"):
        top, below = labels.loc[(m, 1200.0)], labels.loc[(m, 800.0)]
        assert below["status"] == "bound" and below["D_upper_cm2_s"] == top["D_upper_cm2_s"] > 0
        assert below["sigma_upper_S_cm"] == pytest.approx(top["sigma_upper_S_cm"] * 1200 / 800)  # NE: sigma ~ D / T
    # Growing the campaign: only the new material's two batches (one per temperature) run.
    cfg["train_sources"][0]["paths"].append("resources/structures/train/Li2S.json")
    (tmp_path / "ladder.yaml").write_text(yaml.safe_dump(cfg))
    counts, out = _dry_run("-d", str(tmp_path), "--cores", "2", targets[0], *configs, cwd=REPO)
    assert counts["md"] == 2 and set(re.findall(r"wildcards: batch=([\w-]+)", out)) == {"800K-00001", "1200K-00001"}
    assert json.loads((res / "md/batches-800K.json").read_text())["shards"] == {"00000": ["Li2O/800K", "Li3N/800K"]}


# ---------------------------------------------------------------- active campaigns (rules/campaign.smk)


def _campaign_config(tmp_path, **campaign) -> Path:
    import yaml

    cfg = yaml.safe_load((REPO / ".test/campaign.yaml").read_text())
    cfg["campaign"].update(campaign)
    path = tmp_path / f"campaign-{len(list(tmp_path.glob('campaign-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"acquisition": "thompson"}, "campaign.acquisition 'thompson' is unknown: use one of ucb, ei, greedy"),
        ({"rounds": 0}, "campaign.rounds is 0: a campaign needs at least 1 round"),
        ({"picks": 9}, "campaign.picks 9 is larger than the pool (8 unlabelled candidates)"),
        ({"oracle": "table", "table": "sigma.csv"}, "sigma.csv has no column 'label' (campaign.table_column)"),
    ],
)
def test_bad_campaign_settings_fail_at_start_with_one_line(tmp_path, change, message):
    (tmp_path / "sigma.csv").write_text("material_id,log10_sigma\nLiBr,-7.1\n")
    if "table" in change:
        change = {**change, "table": str(tmp_path / change["table"])}
    cfg = _campaign_config(tmp_path, **change)
    proc = _run(tmp_path, "-n", "campaign", "--configfile", str(REPO / ".test/config.yaml"), str(cfg))
    assert proc.returncode != 0
    said = proc.stdout + proc.stderr  # Snakemake prints the workflow's error on stdout
    assert [ln for ln in said.splitlines() if message in ln], said[-2000:]
    assert not any((tmp_path / "results-test").rglob("*.parquet"))


def test_a_table_oracle_campaign_schedules_no_md(tmp_path):
    """Labels from a table: the training materials are prepared and embedded (the surrogate's
    features), the candidates screened into shards (the pool); no MD, no label job."""
    ids = ["Li3N", "Li2O", "LiF", "LiCl", "obelix-qbb", "LiBr", "Li2Se", "obelix-jqc", "LiFePO4", "LiFePO4-rotated"]
    table = tmp_path / "sigma.csv"
    table.write_text("material_id,log10_sigma\n" + "".join(f"{m},{-3 - 0.1 * i}\n" for i, m in enumerate(ids)))
    cfg = _campaign_config(tmp_path, oracle="table", table=str(table), table_column="log10_sigma")
    counts, _ = _dry_run(
        "-d", str(tmp_path), "--cores", "2", "campaign", "--configfile", str(REPO / ".test/config.yaml"), str(cfg)
    )
    assert counts["campaign_round"] == counts["campaign_labels"] == 2 and counts["campaign"] == 1, counts
    assert counts["prepare_structure"] == counts["embed_structure"] == 5 and counts["embed_candidates"] == 2
    assert not {"md", "label", "collect_labels", "train"} & set(counts), counts


@pytest.mark.slow
def test_campaign_runs_two_rounds_with_md_then_a_third_alone(finished_copy, tmp_path):
    base = str(REPO / ".test/config.yaml")
    proc = _run(finished_copy, "campaign", "--configfile", base, str(_campaign_config(tmp_path)))
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = finished_copy / "results-test"
    summary = schema.read_table(results / "campaign/summary.parquet", "campaign_summary")
    assert summary["round"].tolist() == [0, 1, 2]
    n0 = int(summary["labels"].iloc[0])
    assert n0 >= 4 and summary["labels"].tolist() == [n0, n0 + 1, n0 + 2]  # one pick per round, labelled by MD
    assert summary["best_label"].is_monotonic_increasing
    assert (summary["md_runs"].iloc[1:] == 2).all() and (summary["md_simulated_ps"].iloc[1:] > 0).all()
    picks = [schema.read_table(results / f"campaign/round_{r}/labels.parquet", "campaign_labels") for r in (1, 2)]
    assert all((p["status"] == "ok").all() for p in picks)
    ids = [m for p in picks for m in p["material_id"]]
    assert len(set(ids)) == 2 and not set(ids) & set(
        schema.read_table(results / "labels/labels.parquet")["material_id"]
    )
    for m in ids:  # the picks ran through the workflow's own stages
        assert (results / f"structures/prepared/{m}.parquet").is_file() and (results / f"labels/{m}.parquet").is_file()
    assert "2 rounds of 1 pick by <b>ucb</b>" in (results / "campaign/report.html").read_text()
    before = _mtimes(results)

    three = _campaign_config(tmp_path, rounds=3)
    counts, _ = _dry_run(
        "-d", str(finished_copy), "--cores", "2", "campaign", "--configfile", base, str(three), cwd=REPO
    )
    assert counts == {"campaign_round": 1, "campaign_labels": 1, "campaign": 1, "total": 3}, counts
    proc = _run(finished_copy, "campaign", "--configfile", base, str(three))
    assert proc.returncode == 0, proc.stderr[-4000:]
    ran = set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", proc.stderr, flags=re.M))
    assert ran == {"campaign_round", "prepare_structure", "md", "label", "campaign_labels", "campaign"}, ran
    after = _mtimes(results)
    changed = {f for f in before if after.get(f) != before[f] and not f.startswith(("logs/", "benchmarks/"))}
    assert changed == {"campaign/summary.parquet", "campaign/report.html"}, changed
    assert schema.read_table(results / "campaign/summary.parquet")["round"].tolist() == [0, 1, 2, 3]


@pytest.mark.slow
def test_a_campaign_killed_mid_round_finishes_with_nothing_recomputed(finished_copy, tmp_path):
    import os
    import signal
    import time

    base, cfg = str(REPO / ".test/config.yaml"), str(_campaign_config(tmp_path))
    results = finished_copy / "results-test"
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(finished_copy), "--cores", "2", "campaign"]
    proc = subprocess.Popen([*cmd, "--configfile", base, cfg], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 600
    while not (results / "campaign/round_2/picks.parquet").exists():  # round 1 done, round 2 begun
        assert proc.poll() is None and time.monotonic() < deadline, "the campaign ended before round 2"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)
    assert not (results / "campaign/summary.parquet").exists()
    done = {f: t for f, t in _mtimes(results).items() if f.startswith("campaign/round_1/") or "r01-" in f}
    assert "campaign/round_1/labels.parquet" in done
    again = _run(finished_copy, "campaign", "--configfile", base, cfg)
    assert again.returncode == 0, again.stderr[-4000:]
    assert not re.search(r"wildcards: (round=1\b|batch=\d+K-r01-)", again.stderr)  # no job of round 1 ran again
    after = _mtimes(results)
    assert {f: after.get(f) for f in done} == done  # round 1 (picks, MD, labels) untouched
    assert schema.read_table(results / "campaign/summary.parquet")["round"].tolist() == [0, 1, 2]
