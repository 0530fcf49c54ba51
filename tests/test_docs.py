"""The README stays a page; the rest lives on the documentation site (docs/, mkdocs.yml)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import REPO


def test_readme_is_at_most_200_lines_and_its_links_resolve():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target


def test_every_docs_page_is_in_the_site_navigation():
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for v in node.values():
                yield from pages(v)
        else:
            for v in node:
                yield from pages(v)

    listed = set(pages(nav))
    on_disk = {p.name for p in (REPO / "docs").glob("*.md")}
    assert on_disk == listed, (on_disk - listed, listed - on_disk)


# A dotted ionscreen name in backticks (Markdown `x` or reStructuredText ``x``), optionally called.
DOTTED = re.compile(r"`{1,2}(ionscreen(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\(\))?`{1,2}")


def _resolves(ref: str) -> bool:
    """Whether ``ref`` names a module, or an attribute (at any depth) of the longest module prefix."""
    import importlib

    parts = ref.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        try:
            for name in parts[k:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def test_every_dotted_ionscreen_name_in_the_docs_and_docstrings_resolves():
    """A renamed or moved module, class or function leaves no stale name behind in the docs site,
    the README, the package, the workflow scripts, the benchmarks or the rules."""
    files = [
        *sorted((REPO / "docs").rglob("*.md")),
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        *sorted((REPO / "src/ionscreen").rglob("*.py")),
        *sorted((REPO / "workflow_scripts").glob("*.py")),
        *sorted((REPO / "benchmarks").glob("*.py")),
        *sorted((REPO / "rules").glob("*.smk")),
        REPO / "Snakefile",
    ]
    seen, stale = set(), []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for ref in DOTTED.findall(line):
                seen.add(ref)
                if not _resolves(ref):
                    stale.append(f"{path.relative_to(REPO)}:{number}: {ref}")
    assert len(seen) > 50  # the pattern finds what it is meant to find
    assert not _resolves("ionscreen.embed.firstblock") and _resolves("ionscreen.sevennet.firstblock.FirstBlock")
    assert stale == []


SETUP_CALLS = {"ionscreen.logs.setup", "ionscreen.mlip.set_threads"}  # what every shim does first


def _script_calls(script: Path) -> list[str]:
    """The ionscreen functions a workflow script calls (dotted, in order; set-up calls and
    classes left out), read from its code."""
    import ast

    tree = ast.parse(script.read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ionscreen"):
            names.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            names.update({a.asname or a.name: a.name for a in node.names if a.name.startswith("ionscreen")})
    calls: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            dotted = ast.unparse(node.func)
            head = dotted.split(".")[0]
            if head in names:
                full = names[head] + dotted[len(head) :]
                if full not in SETUP_CALLS and not full.rsplit(".", 1)[1][0].isupper() and full not in calls:
                    calls.append(full)
    return calls


def rule_table() -> str:
    """docs/layout.md's table from a rule to its code: every rule and checkpoint of the workflow,
    its file, its script and the package functions the script calls."""
    rows = ["| rule | in rules/ | workflow_scripts/ | calls |", "|---|---|---|---|"]
    for smk in [*sorted((REPO / "rules").glob("*.smk")), REPO / "Snakefile"]:
        text = smk.read_text()
        for m in re.finditer(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            script = re.search(r'script:\s*\n\s*"([^"]+)"', m.group(2))
            where = smk.name
            if script is None:
                rows.append(f"| `{m.group(1)}` | {where} | (a target: inputs only) | |")
                continue
            path = (smk.parent / script.group(1)).resolve()
            calls = ", ".join(f"`{c}`" for c in _script_calls(path))
            rows.append(f"| `{m.group(1)}` | {where} | {path.name} | {calls} |")
    return "\n".join(rows)


def test_the_layout_page_lists_each_rule_with_its_script_and_function():
    """One hop from any rule to its code, and the list cannot go stale: docs/layout.md holds
    exactly what the rules and scripts say (the message shows the table to paste)."""
    table = rule_table()
    assert (
        table.count("\n") > 25 and "| `label` | label.smk | label.py | `ionscreen.labels.stage.label_files` |" in table
    )
    page = (REPO / "docs/layout.md").read_text()
    got = page.split("<!-- rules: begin -->\n", 1)[-1].split("\n<!-- rules: end -->", 1)[0]
    assert got == table, f"docs/layout.md between the rules markers should read:\n{table}"
