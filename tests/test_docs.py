"""The README stays a page; the rest lives on the documentation site (docs/, mkdocs.yml)."""

from __future__ import annotations

import re

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
