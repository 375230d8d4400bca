"""One setting, one spelling: the login command, connect's params and the docs agree."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from sourceflow_shopify import settings
from sourceflow_shopify.cli import login
from sourceflow_shopify.plugin import PARAMS

DOC = Path(__file__).parents[3] / "docs" / "sources" / "shopify.md"
SETTINGS = [v for v in vars(settings).values() if isinstance(v, settings.Setting)]


def doc_rows() -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_the_options_are_the_settings_spelt_for_a_command_line():
    assert settings.ADMIN_URL.option == "--admin-url"
    assert settings.CLIENT_SECRET.option == "--client-secret"
    assert settings.SHOP.option == "--shop"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_setting_has_one_row_with_its_spellings(setting):
    row = doc_rows()[setting.name]
    _, connect, login_option, env, _ = row
    options = {p.opts[0]: p for p in login.params if isinstance(p, click.Option)}
    if setting.option in options:
        assert login_option == f"`{setting.option}`"
        assert options[setting.option].envvar == setting.env
    else:
        assert login_option == ""
    assert connect == (f"`--param {setting.name}=`" if setting.name in PARAMS else "")
    assert env == (f"`{setting.env}`" if setting.env else "")


def test_the_docs_list_no_setting_the_code_lacks():
    assert set(doc_rows()) == {s.name for s in SETTINGS}


def test_the_login_section_shows_admin_url():
    text = DOC.read_text(encoding="utf-8")
    login_section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"sourceflow shopify login .*--admin-url URL", login_section, re.S)


def test_a_setting_reads_the_param_then_its_environment(monkeypatch):
    monkeypatch.setenv("SOURCEFLOW_SHOPIFY_ADMIN_URL", "http://from-env")
    assert settings.ADMIN_URL.read({"adminUrl": "http://given"}) == "http://given"
    assert settings.ADMIN_URL.read({"adminUrl": "  "}) == "http://from-env"
    assert settings.ADMIN_URL.read({}) == "http://from-env"
    monkeypatch.delenv("SOURCEFLOW_SHOPIFY_ADMIN_URL")
    assert settings.ADMIN_URL.read({}) is None
