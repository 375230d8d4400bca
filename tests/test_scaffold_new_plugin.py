"""``sourceflow new-plugin``: the generated plugins install, are listed, and pass the
conformance suite as generated; bad names are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sourceflow.cli import main

# Fixed names, so a run that died mid-way is cleaned up by the next one (see `installed`).
DISTS = ("sourceflow-scaffoldcheck", "sourceflow-scaffoldcheck-batch")


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Both kinds of plugin scaffolded into tmp_path and pip-installed (editable) into this
    environment; uninstalled after, so other tests never see them."""
    pip("uninstall", "--yes", *DISTS)
    folders = {"streaming": tmp_path / "streaming", "scheduled": tmp_path / "scheduled"}
    assert main(["new-plugin", "scaffoldcheck", "--dir", str(folders["streaming"])]) == 0
    assert (
        main(
            [
                "new-plugin",
                "scaffoldcheck-batch",
                "--scheduled",
                "--dir",
                str(folders["scheduled"]),
            ]
        )
        == 0
    )
    try:
        # Build isolation fetches setuptools from the configured index (the venv's own
        # setuptools may be too old to build wheels without the `wheel` package).
        done = pip("install", "--no-deps", *(f"--editable={f}" for f in folders.values()))
        assert done.returncode == 0, done.stderr
        yield folders
    finally:
        pip("uninstall", "--yes", *DISTS)


def test_scaffolded_plugins_are_listed_and_pass_conformance_unchanged(installed):
    listing = subprocess.run(
        [sys.executable, "-m", "sourceflow.cli", "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    plugins = {p["name"]: p for p in json.loads(listing.stdout)["plugins"]}
    streaming, scheduled = plugins[DISTS[0]], plugins[DISTS[1]]
    assert [(s["name"], s["mode"]) for s in streaming["sources"]] == [
        ("scaffoldcheck", "streaming")
    ]
    assert [(s["name"], s["mode"]) for s in scheduled["sources"]] == [
        ("scaffoldcheck_batch", "scheduled")
    ]
    assert "sourceflow_verify_delivery" in streaming["hooks"]
    assert "sourceflow_read" in scheduled["hooks"]

    for folder in installed.values():
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "failed" not in run.stdout and " passed" in run.stdout, run.stdout


def test_the_folder_has_what_an_author_needs(tmp_path):
    assert main(["new-plugin", "acme_crm", "--scheduled", "--dir", str(tmp_path / "p")]) == 0
    files = sorted(str(p.relative_to(tmp_path / "p")) for p in (tmp_path / "p").rglob("*.*"))
    assert files == [
        "README.md",
        "pyproject.toml",
        "sourceflow_acme_crm/__init__.py",
        "sourceflow_acme_crm/plugin.py",
        "sourceflow_acme_crm/py.typed",
        "sourceflow_acme_crm/samples/contacts.json",
        "sourceflow_acme_crm/samples/invoices.json",
        "tests/test_acme_crm_conformance.py",
    ]
    pyproject = (tmp_path / "p" / "pyproject.toml").read_text()
    assert 'name = "sourceflow-acme-crm"' in pyproject
    assert '[project.entry-points.sourceflow]\nacme_crm = "sourceflow_acme_crm.plugin"' in pyproject
    # Every plugin gets a connection spec id of its own.
    other = tmp_path / "q"
    assert main(["new-plugin", "acme_crm", "--scheduled", "--dir", str(other)]) == 0
    ids = [
        next(line for line in (d / "README.md").read_text().splitlines() if "spec id" in line)
        for d in (tmp_path / "p", other)
    ]
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Acme", "'Acme' is not a plugin name"),
        ("9lives", "'9lives' is not a plugin name"),
        ("acme crm", "'acme crm' is not a plugin name"),
        ("sourceflow-acme", "give the source's own name"),
        ("http", "sourceflow-http already exists"),
    ],
)
def test_a_bad_name_is_refused_and_nothing_is_written(tmp_path, capsys, name, message):
    assert main(["new-plugin", name, "--dir", str(tmp_path / "p")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_an_existing_folder_is_refused(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("mine")
    assert main(["new-plugin", "acme", "--dir", str(tmp_path / "p")]) == 1
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["keep.txt"]
