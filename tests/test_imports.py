"""The package's import graph.

- No module imports, at any depth and at any place in its code (function-level imports included),
  a module that imports it back.
- Imports only go down: each subpackage imports only the layers below it (``LAYERS``), never one
  beside or above it. ``sevennet`` (SevenNet in plain code) imports nothing else of ionscreen, so
  it sits below even the core (whose ``mlip`` loads SevenNet through it).
- The numpy-only modules (everything not in ``TORCH``) import no torch, at the top of the file
  or through what they import there: a user of the room-temperature model, the folds or the
  metrics does not pay for torch.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "src/ionscreen"

# Bottom to top: ``sevennet`` (a leaf), then the core (top-level modules); ``labels`` sits below ``md``
# because MD asks the labeller whether a label is known (convergence-driven length); ``cli`` (the
# command line) calls everything and is imported by nothing.
LAYERS = (
    "sevennet",
    "core",
    "structures",
    "labels",
    "md",
    "ingest",
    "embed",
    "learn",
    "roomtemp",
    "screen",
    "campaign",
    "cli",
)

# The modules that import torch when imported (at module level, directly or through a module they import).
TORCH = {
    "ionscreen.sevennet.fasttp",
    "ionscreen.sevennet.firstblock",
    "ionscreen.learn.dataset",
    "ionscreen.learn.model",
    "ionscreen.learn.routes",
    "ionscreen.learn.train",
    "ionscreen.learn.evaluate",
}


def all_modules() -> list[str]:
    """Every module of the package, dotted (``ionscreen.md.engine``; packages by their name)."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _path(module: str):
    rel = module.replace(".", "/")
    p = PACKAGE.parent / f"{rel}.py"
    return p if p.exists() else PACKAGE.parent / rel / "__init__.py"


def _imports(module: str, top_only: bool, modules: set[str]) -> set[str]:
    """The ionscreen modules (of ``modules``) that ``module`` imports (anywhere, or only at module
    level), never counting those under ``if TYPE_CHECKING``."""
    tree = ast.parse(_path(module).read_text())
    for node in ast.walk(tree):  # type-only imports run at no time
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    nodes = ast.walk(tree) if not top_only else [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    deps: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ionscreen":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                deps.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name.split(".")[0] == "ionscreen"}
    return {d for d in deps if d in modules} - {module}


def import_graph(top_only: bool = False) -> dict[str, set[str]]:
    """{module: the ionscreen modules it imports}."""
    modules = all_modules()
    return {m: _imports(m, top_only, set(modules)) for m in modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every module that lies on a cycle, with one cycle through it."""
    found = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    found.append(path + [start])
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS):
        return LAYERS.index(parts[1])
    return LAYERS.index("core")


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    # function-level and top-level imports are both seen
    assert len(graph) > 40 and "ionscreen.md.stage" in graph["ionscreen.cli.commands"]
    assert "ionscreen.structures.cells" in graph["ionscreen.structures.ordering"]
    assert cycles(graph) == [], cycles(graph)


def test_imports_only_go_down():
    up = sorted(
        f"{m} -> {d}"
        for m, deps in import_graph().items()
        for d in deps
        if layer(d) > layer(m)
        or (layer(d) == layer(m) and LAYERS[layer(m)] != "core" and d.split(".")[1] != m.split(".")[1])
    )
    assert up == []
    # every stage has its subpackage, each with a docstring that lists what is in it
    for stage in (name for name in LAYERS if name != "core"):
        init = PACKAGE / stage / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), stage


def test_no_module_is_longer_than_400_lines():
    long = {m: n for m in all_modules() if (n := len(_path(m).read_text().splitlines())) > 400}
    assert long == {}


def _closure(module: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        for parent in [".".join(m.split(".")[:k]) for k in range(2, len(m.split(".")))]:
            todo.append(parent)  # importing a submodule runs its packages' __init__ first
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    return seen


def _imports_torch_at_top(module: str) -> bool:
    return any(
        isinstance(n, (ast.Import, ast.ImportFrom))
        and any((getattr(n, "module", None) or a.name).split(".")[0] == "torch" for a in n.names)
        for n in ast.parse(_path(module).read_text()).body
    )


def test_numpy_only_modules_import_no_torch():
    graph = import_graph(top_only=True)
    torch_at_top = {m for m in graph if _imports_torch_at_top(m)}
    pulls_torch = {m for m in graph if _closure(m, graph) & torch_at_top}
    assert pulls_torch == TORCH
    # and in a fresh interpreter, for the modules a numpy-only user imports
    numpy_only = [
        "ionscreen.roomtemp.model",
        "ionscreen.roomtemp.train",
        "ionscreen.learn.folds",
        "ionscreen.learn.metrics",
        "ionscreen.learn.skill",
        "ionscreen.screen.ranking",
        "ionscreen.labels.diffusion",
    ]
    code = "import sys\n" + "".join(f"import {m}\n" for m in numpy_only) + "assert 'torch' not in sys.modules\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-1500:]


def test_the_checks_find_what_they_look_for():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c", "a"],
        ["b", "c", "a", "b"],
        ["c", "a", "b", "c"],
    ]
    assert (
        layer("ionscreen.schema")
        < layer("ionscreen.structures.cif")
        < layer("ionscreen.labels.bounds")
        < layer("ionscreen.md.batch")
        < layer("ionscreen.screen")
        < layer("ionscreen.cli")
    )
    assert _imports_torch_at_top("ionscreen.sevennet.fasttp") and not _imports_torch_at_top("ionscreen.learn.folds")


# Modules whose tests are not in tests/<package path>/test_<module>.py, and where they are tested
# (paths under tests/). A new module gets its own test file, or a line here saying why not.
TESTED_ELSEWHERE = {
    "ionscreen.atomic": "test_schema.py",
    "ionscreen.campaign.report": "campaign/test_stage.py",
    "ionscreen.campaign_tables": "test_schema.py (every table), campaign/test_stage.py, md/test_plan.py",
    "ionscreen.cli.arguments": "test_cli.py, test_defaults.py",
    "ionscreen.cli.commands": "test_cli.py",
    "ionscreen.cli.parser": "test_cli.py, test_defaults.py",
    "ionscreen.columns": "test_schema.py",
    "ionscreen.configdoc": "test_config.py",
    "ionscreen.embed.graph": "embed/test_structure.py, sevennet/test_firstblock.py",
    "ionscreen.embed.trajectory": "embed/test_trajectory_embedding.py",
    "ionscreen.labels.stage": "labels/test_diffusion.py, md/test_batch.py, screen/test_report.py",
    "ionscreen.labels.transport": "labels/test_diffusion.py, screen/test_predict.py, screen/test_report.py",
    "ionscreen.labels.walks": "labels/test_bounds.py, labels/test_diffusion.py, md/test_stopping.py",
    "ionscreen.learn.config": "conftest.py, learn/test_evaluate.py, learn/test_skill.py",
    "ionscreen.learn.dataset": "learn/test_train.py, learn/test_train_aml.py, test_imports.py",
    "ionscreen.learn.folds": "learn/test_train.py, learn/test_train_aml.py, structures/test_obelix.py",
    "ionscreen.learn.meta": "learn/test_skill.py, learn/test_train.py, screen/test_report.py",
    "ionscreen.learn.metrics": "learn/test_train.py, test_imports.py",
    "ionscreen.learn.model": "learn/test_evaluate.py, learn/test_train.py, learn/test_train_aml.py",
    "ionscreen.learn.routes": "learn/test_train_aml.py, test_imports.py",
    "ionscreen.learn.trainset": "test_workflow.py (the trainset rule), learn/test_train.py",
    "ionscreen.logs": "test_cli.py, test_workflow.py (log files)",
    "ionscreen.md.potentials": "md/test_batch.py, md/test_engine.py, md/test_plan.py",
    "ionscreen.md.probe": "md/test_plan.py",
    "ionscreen.md.rates": "md/test_plan.py, test_benchmarks.py",
    "ionscreen.md.recorder": "embed/test_trajectory_embedding.py, labels/test_diffusion.py",
    "ionscreen.md.resume": "md/test_engine_resume.py, md/test_batch.py",
    "ionscreen.md.stage": "md/test_batch.py, md/test_engine.py, md/test_stopping.py",
    "ionscreen.roomtemp.card": "roomtemp/test_roomtemp.py",
    "ionscreen.roomtemp.descriptors": "roomtemp/test_composition.py, roomtemp/test_roomtemp.py",
    "ionscreen.roomtemp.figures": "roomtemp/test_roomtemp.py",
    "ionscreen.roomtemp.fit": "roomtemp/test_roomtemp.py",
    "ionscreen.roomtemp.model": "learn/test_skill.py, roomtemp/test_roomtemp.py, screen/test_predict.py",
    "ionscreen.roomtemp.train": "roomtemp/test_roomtemp.py, test_imports.py",
    "ionscreen.screen.plots": "screen/test_report.py",
    "ionscreen.screen.ranking": "learn/test_skill.py, screen/test_report.py, test_imports.py",
    "ionscreen.screen.readers": "screen/test_predict.py (the Screener's readers)",
    "ionscreen.screen.screener": "screen/test_predict.py",
    "ionscreen.structures.cells": "structures/test_prepare.py",
    "ionscreen.stages": "test_workflow.py (a bumped stage version re-runs its stage and what follows)",
    "ionscreen.tables": "test_schema.py",
    "ionscreen.trajectory": "conftest.py, ingest/test_liflow.py, labels/test_diffusion.py",
}


def test_tests_mirror_the_package():
    """Each module has tests/<its package path>/test_<module>.py, or says in ``TESTED_ELSEWHERE``
    where it is tested (and those test files exist)."""
    unmirrored = set()
    for module in all_modules():
        parts = module.split(".")[1:]
        path = _path(module)
        if not parts or path.name in ("__init__.py", "__main__.py"):
            continue
        if not (REPO / "tests" / Path(*parts[:-1]) / f"test_{parts[-1]}.py").exists():
            unmirrored.add(module)
    assert unmirrored == set(TESTED_ELSEWHERE)
    for where in TESTED_ELSEWHERE.values():
        for name in re.findall(r"[\w/]+\.py", where):
            assert (REPO / "tests" / name).exists(), name
