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
    assert {"prepare_training_structures", "md", "label", "embed_training", "train", "predict", "report"} <= set(blocks)
    for name, text in blocks.items():
        assert "    log:" in text, f"rule {name} has no log"
        assert "    benchmark:" in text, f"rule {name} has no benchmark"


def test_dry_run_lists_jobs_of_every_stage(tmp_path):
    # An empty working directory: the answer must not depend on what a previous `make screen` left.
    out = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "--cores", "8",
                          "screen_candidates"], capture_output=True, text=True, check=True).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    for rule in ("prepare_training_structures", "md", "label", "embed_training", "train", "predict", "report"):
        assert int(counts.get(rule, 0)) >= 1, (rule, counts)
    assert int(counts["md"]) == 9 * 2  # 9 training structures x 2 temperatures
    assert int(counts["embed_trajectories"]) == 9  # AML: the trainer sees trajectory embeddings


def test_contract_obelix_command_dry_run(tmp_path):
    # CONTRACT.md's literal command; --configfile also swallows "train" (see the file ./train).
    out = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "--cores", "2",
                          "--configfile", "config/obelix.yaml", "train"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert {k: int(v) for k, v in counts.items()} == {"obelix_labels": 1, "prepare_training_structures": 1,
                                                      "embed_training": 1, "train": 1, "default": 1, "total": 5}
    assert "results/obelix/model/model.pt" in out


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(work), "screen_candidates", "ablations", "--cores", "2",
           "--configfile", str(REPO / ".test/config.yaml")]
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
    assert set(ranking["material_id"]) == {"LiBr", "Li2Se", "obelix-jqc"}
    assert sorted(ranking.drop_duplicates("material_id")["rank"]) == [1, 2, 3]
    assert np.isfinite(ranking["prediction"]).all() and (ranking["prediction_std"] > 0).all()
    jqc = ranking[ranking["material_id"] == "obelix-jqc"]["flags"].iloc[0]
    assert "disorder_resolved" in jqc and "elements_unseen_in_training" in jqc  # Bi never trained on
    rejected = schema.read_table(results / "screening/rejected.parquet", "rejected").set_index("material_id")
    assert set(rejected.index) == {"broken", "empty", "no-li-SiS4"}
    assert rejected.loc["no-li-SiS4", "reason"] == "no Li in SiS4"
    assert rejected["code"].to_dict() == {"broken": "unreadable", "empty": "empty_file", "no-li-SiS4": "no_li"}
    assert ranking["Ea_eV"].notna().all() and ranking["extrapolated_300K"].all()
    html = (results / "screening/report.html").read_text()
    assert "Route: <b>aml</b> (trajectory embeddings: fourier-only)" in html
    assert "Ranking" in html and html.count("<img") >= 3 and "obelix-jqc" in html


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
    assert main(["predict", "--model", str(results / "model"), *files, "--temperature", "800", "1000",
                 "--relax-steps", "5", "--threads", "2", "--out", str(out)]) == 0
    cli = schema.read_table(out, "predictions").set_index("temperature_K")
    rule = schema.read_table(results / "screening/ranking.parquet", "predictions")
    rule = rule[rule["material_id"] == "LiBr"].set_index("temperature_K")
    np.testing.assert_allclose(cli.loc[[800.0, 1000.0], "prediction"], rule.loc[[800.0, 1000.0], "prediction"], atol=1e-4)


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


def test_slurm_profile_batches_md_runs(tmp_path):
    """100 structures x 4 temperatures: 400 MD runs in 20 md_batch submissions, not 400 jobs."""
    src = (REPO / "resources/structures/train/Li2O.json").read_text()
    (tmp_path / "structs").mkdir()
    for i in range(100):
        (tmp_path / "structs" / f"m{i:03d}.json").write_text(src)
    (tmp_path / "cfg.yaml").write_text(f"train_sources: [{{type: directory, path: {tmp_path / 'structs'}}}]\n"
                                       "md: {temperatures_K: [600, 800, 1000, 1200]}\n")
    out = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "--profile",
                          str(REPO / "profiles/slurm"), "screen_candidates", "--configfile", str(tmp_path / "cfg.yaml")],
                         capture_output=True, text=True, check=True).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert int(counts["md"]) == 400
    assert out.count("Group job md_batch") == 20
    assert out.count("Group job analysis_batch") == 4  # 100 label + 100 trajectory-embedding jobs
