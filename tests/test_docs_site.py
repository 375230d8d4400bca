"""The docs site keeps every page reachable, and the README's links lead somewhere.

``mkdocs build --strict`` (tox env ``docs``) fails on the same orphans and on broken links
inside docs/; these tests run without MkDocs installed, in the ordinary test env, so a page
added without a nav entry fails ``pytest`` too.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"


class _Loader(yaml.SafeLoader):
    """A safe loader that reads mkdocs.yml's ``!!python/name:`` tags as plain text."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: f"{suffix}")


def _config() -> dict[str, Any]:
    text = CONFIG.read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    return loaded


def _pages(nav: Any) -> Iterator[str]:
    """Every page path in a MkDocs nav (lists of ``{title: path-or-section}``)."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from _pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _pages(value)


NAV = list(_pages(_config()["nav"]))
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))


def test_the_site_is_built_from_docs_in_strict_mode_with_nav_checks():
    cfg = _config()
    assert cfg["docs_dir"] == "docs" and cfg["theme"]["name"] == "material"
    assert cfg["strict"] is True
    assert cfg["validation"]["nav"]["omitted_files"] == "warn"  # strict turns warn into errors
    assert cfg["validation"]["links"]["not_found"] == "warn"


def test_nav_has_no_duplicates():
    assert len(NAV) == len(set(NAV)), [p for p in NAV if NAV.count(p) > 1]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_is_in_the_nav(page):
    assert page in NAV, f"docs/{page} is not in the nav of mkdocs.yml: add it, or it is orphaned"


def test_the_sections_the_issue_asks_for_are_in_the_nav():
    wanted = {
        "index.md",
        "concepts.md",
        "cli.md",
        "hooks.md",
        "platform.md",
        "authoring.md",
        "host-apps.md",
        "sources/http.md",
        "sources/chatlio.md",
        "sources/shopify.md",
        "sources/stripe.md",
    }
    assert wanted <= set(NAV)
    assert NAV[0] == "index.md"  # the quickstart is the home page


README_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _readme_targets() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [t for t in README_LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_the_readme_links_to_the_docs():
    assert "docs/index.md" in _readme_targets()
    assert "docs/host-apps.md" in _readme_targets()


@pytest.mark.parametrize("target", _readme_targets())
def test_readme_link_points_to_an_existing_file(target):
    path = target.split("#", 1)[0]
    assert (ROOT / path).exists(), f"README.md links to {target}, which does not exist"


def test_ci_builds_the_docs():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    assert "mkdocs build --strict" in tox["testenv:docs"]["commands"]
    assert "docs" in [e.strip() for e in tox["tox"]["env_list"].split(",")]
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    # the line of the `test)` branch that runs tox
    test_line = next(line for line in dev.splitlines() if "tox run" in line and "-e suites" in line)
    assert re.search(r"-e \S*\bdocs\b", test_line), test_line
