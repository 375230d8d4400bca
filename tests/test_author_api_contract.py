"""The import contract of the author's API (tests/author_api_contract.py, run by tox -e lint)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from author_api_contract import Contract, check, public_names, submodules

import sourceflow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract(public_names(ROOT), submodules(ROOT))


def found(contract: Contract, code: str) -> list[str]:
    return [what for _, what in contract.violations(code)]


def test_the_root_names_read_from_the_source_are_the_live_ones():
    assert public_names(ROOT) == frozenset(sourceflow.__all__)


ALLOWED = """
import sourceflow
import sourceflow.testing
from sourceflow import Auth, MappingRule, SourceflowError, hookimpl, http, redact
from sourceflow.http import request
from sourceflow.redact import redact as scrub
from sourceflow.testing import PluginConformance, serve
from sourceflow_acme.plugin import EVENTS
from . import sibling

rule = sourceflow.MappingRule.in_tenant
error = sourceflow.SourceflowError("x")
sourceflow.redact.register("x")
"""


def test_the_authors_api_passes(contract):
    assert found(contract, ALLOWED) == []


@pytest.mark.parametrize(
    ("code", "violation"),
    [
        ("from sourceflow.model import Auth", "from sourceflow.model import Auth"),
        ("from sourceflow import model", "from sourceflow import model"),
        ("from sourceflow import plugins", "from sourceflow import plugins"),
        ("import sourceflow.platform.server", "import sourceflow.platform.server"),
        ("import sourceflow\nsourceflow.plugins.load()", "sourceflow.plugins"),
        ("import sourceflow as sf\nsf.lifecycle.Lifecycle", "sourceflow.lifecycle"),
        ("import sourceflow.testing\nsourceflow.model.Dataset", "sourceflow.model"),
        (
            "from sourceflow.testing.conformance import delivery_id",
            "from sourceflow.testing.conformance import delivery_id",
        ),
        (
            "def f():\n    from sourceflow.errors import ConfigError",
            "from sourceflow.errors import ConfigError",
        ),
    ],
)
def test_each_way_past_the_api_is_caught(contract, code, violation):
    assert found(contract, code) == [violation]


def test_every_core_module_outside_the_api_is_refused(contract):
    # Generated from the core as it is, so a module added later is covered without a change.
    api = {"http", "redact", "testing", *(sourceflow.__all__)} - {"model"}
    for module in sorted(submodules(ROOT) - api):
        assert found(contract, f"from sourceflow.{module} import x") == [
            f"from sourceflow.{module} import x"
        ], module
        assert found(contract, f"import sourceflow.{module}") == [f"import sourceflow.{module}"]


def test_the_repository_keeps_the_contract(capsys):
    assert check(ROOT) == 0, capsys.readouterr().out


def test_a_plugin_reaching_past_the_api_fails_the_check(tmp_path, capsys):
    repo = tmp_path / "repo"
    (repo / "core").mkdir(parents=True)
    shutil.copytree(ROOT / "core" / "sourceflow", repo / "core" / "sourceflow")
    plugin = repo / "plugins" / "acme" / "sourceflow_acme"
    plugin.mkdir(parents=True)
    (plugin / "plugin.py").write_text(
        "import sourceflow\n\nfrom sourceflow.state import StateFile\n"
    )
    (repo / "plugins" / "acme" / "tests").mkdir()
    (repo / "plugins" / "acme" / "tests" / "test_acme.py").write_text(
        "from sourceflow.testing import serve\n"
    )
    assert check(repo) == 1
    out = capsys.readouterr().out
    assert "plugins/acme/sourceflow_acme/plugin.py:3: from sourceflow.state import StateFile" in out


AUTHORING = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")


def test_the_authoring_guide_names_every_name_of_the_api():
    missing = [
        name
        for name in sourceflow.__all__
        if name not in {"__version__", "model"}
        and f"`{name}`" not in AUTHORING
        and f"`sourceflow.{name}`" not in AUTHORING
    ]
    assert missing == [], "docs/authoring.md does not teach these names of sourceflow.__all__"


def test_the_authoring_guides_code_uses_only_the_api(contract):
    blocks = AUTHORING.split("```python\n")[1:]
    assert len(blocks) >= 4
    for block in blocks:
        code = block.split("```", 1)[0]
        assert found(contract, code) == [], code
