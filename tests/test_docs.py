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
