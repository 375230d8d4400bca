"""A plugin installed while `platform serve` runs is served without a restart.

`platform serve` runs as its own process with an empty folder on its path; the test then
installs a tiny plugin distribution there (its module and a ``.dist-info`` with the
``sourceflow`` entry point: what pip writes) and uses its source through the API.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway import platform_client

from sourceflow.testing import platform_process

SPEC = "7e7e7e7e-1111-4222-8333-444444444444"
FS = "/data/foundation/flowservice"

PLUGIN = textwrap.dedent(
    f'''
    """A source installed while the platform serves."""

    import sourceflow
    from sourceflow import ConnectionSpec, Source


    @sourceflow.hookimpl
    def sourceflow_sources():
        spec = ConnectionSpec(
            id="{SPEC}", name="late-comer", provider_id="{SPEC}", auth_spec=[]
        )
        return [Source(name="late-comer", title="Late Comer", connection_spec=spec)]
    '''
)


def _install(site: Path) -> None:
    """What ``pip install`` leaves in site-packages for a one-module plugin."""
    info = site / "sourceflow_late_comer-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sourceflow-late-comer\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text("[sourceflow]\nlate-comer = sourceflow_late_comer\n")
    (site / "sourceflow_late_comer.py").write_text(PLUGIN)


@pytest.fixture
def serving(tmp_path) -> Iterator[tuple[str, Path]]:
    site = tmp_path / "site"
    site.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    with platform_process(tmp_path / "data", env=env, timeout=20) as url:
        yield url, site


def test_a_plugin_installed_while_serving_is_found_without_a_restart(serving):
    url, site = serving
    connection = {"name": "late", "connectionSpec": {"id": SPEC, "version": "1.0"}}
    with platform_client(url) as api:
        before = api.post(FS + "/connections", json=connection)
        assert before.status_code == 400
        assert "installed while the platform runs" in before.text  # says what to do
        assert api.get(f"{FS}/connectionSpecs/{SPEC}").status_code == 404

        _install(site)
        # Looks are at most every 2 s: within a few seconds the unknown spec is looked for.
        deadline = time.monotonic() + 10
        while True:
            found = api.get(f"{FS}/connectionSpecs/{SPEC}")
            if found.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert found.status_code == 200, found.text
        assert found.json()["items"][0]["name"] == "late-comer"
        created = api.post(FS + "/connections", json=connection)
        assert created.status_code == 201, created.text
        listed = api.get(FS + "/connectionSpecs").json()["items"]
        assert SPEC in {s["id"] for s in listed}
