"""Start-up stays light: ``sourceflow plugins`` imports neither the HTTP stack, attrs nor the
models, and ``sourceflow --help`` none of what the commands need only when they run.

Checked by which modules a fresh interpreter ends up with, never by timing (timings belong to
``tests/bench/bench_startup.py``). Each of these modules costs milliseconds to import, and each
was once imported at start-up: by a plugin module, by the hook specs, by the plugin discovery
(``importlib.metadata``, 89 M instructions of the 468 M ``sourceflow plugins`` took), or by a
command module (with the commands' imports at the top of their modules, ``sourceflow --help``
took 1,473 M instructions instead of 412 M; callgrind, see :mod:`sourceflow.cli`).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "httpx",
    "starlette",
    "tenacity",
    "structlog",
    "cattrs",
    # The hook records and the registry's are dataclasses: attrs builds each class's methods
    # from generated source (attrs 54 M instructions and its classes 47 M of the 354 M
    # `sourceflow plugins` took; callgrind).
    "attr",
    "attrs",
    "sourceflow.model",
    "sourceflow.wire",
    "sourceflow.client",
    "sourceflow.platform",
    "importlib.metadata",
)
# What only running a command needs: the commands import these inside themselves.
RUN_ONLY = (
    *HEAVY,
    "sourceflow.lifecycle",
    "sourceflow.engine",
    "sourceflow.state",
    "sourceflow.config",
    "sourceflow.relay",
    "sourceflow.scaffold",
)


def imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds once ``code`` has run (its stdout is dropped)."""
    probe = (
        "import contextlib, io, json, sys\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
        + "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_hook_specs_import_no_records_and_no_models():
    found = imported_after("import sourceflow.hookspecs")
    assert not found & {*HEAVY, "sourceflow.hooktypes"}


@pytest.mark.parametrize(
    "code",
    [
        "from sourceflow import plugins\nregistry = plugins.load()",
        "from sourceflow.cli import main\nassert main(['plugins']) == 0",
    ],
    ids=["load", "cli"],
)
def test_loading_the_installed_plugins_imports_nothing_heavy(code):
    found = imported_after(code)
    # The plugins were loaded through their entry points, not skipped.
    assert {"sourceflow_http.plugin", "sourceflow_stripe.plugin"} <= found
    assert not found & set(HEAVY)
    # Nor the records only hook calls build: the plugins name them inside their hooks.
    assert "sourceflow.hookcalls" not in found


def test_the_records_hook_calls_build_load_on_first_use():
    found = imported_after(
        "import sourceflow\n"
        "from sourceflow.hooktypes import Verdict\n"
        "assert sourceflow.Verdict is Verdict\n"
        "assert Verdict(authentic=False, reason='x').delivery_id is None"
    )
    assert "sourceflow.hookcalls" in found
    from sourceflow import hooktypes

    with pytest.raises(AttributeError, match="no attribute 'Verdic'"):
        _ = hooktypes.Verdic  # type: ignore[attr-defined]


@pytest.mark.parametrize("argv", [["--help"], ["connect", "--help"], ["relay", "--help"]])
def test_help_imports_nothing_the_commands_need_only_to_run(argv):
    found = imported_after(f"from sourceflow.cli import main\nassert main({argv!r}) == 0")
    # Every command module was imported: --help lists them.
    assert {"sourceflow.cli.connect_cmd", "sourceflow.cli.relay_cmd"} <= found or argv != ["--help"]
    assert not {m for m in found if m.split(".")[0] in ("httpx", "starlette", "structlog")}
    assert not {m for m in found for heavy in RUN_ONLY if m == heavy or m.startswith(heavy + ".")}


def test_the_pytest_plugin_imports_nothing_heavy():
    # sourceflow.testing is loaded by every pytest run where sourceflow is installed: its
    # fixtures and helpers import the platform, the client and the lifecycle when called.
    found = imported_after("import sourceflow.testing")
    heavy = {*HEAVY, "sourceflow.lifecycle", "sourceflow.testing.conformance"}
    # pytest imports importlib.metadata itself.
    assert not found & (heavy - {"importlib.metadata"})


def test_a_sample_servers_help_imports_no_server():
    # The helper is named by a plugin's sample module; uvicorn is imported once it serves.
    found = imported_after(
        "import sourceflow\n"
        "try:\n"
        "    sourceflow.serve_sample(None, prog='p', description='d', default_port=0,\n"
        "                            instructions=str, argv=['--help'])\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert "sourceflow.sample_server" in found
    assert not {m for m in found if m.split(".")[0] in ("uvicorn", "starlette", "httpx")}


def test_the_specs_kept_with_source_convert_as_models():
    # Their home is sourceflow.hooktypes, for start-up's sake; on the wire they are models.
    from sourceflow import hooktypes, wire

    spec = hooktypes.ConnectionSpec(
        id="x",
        name="n",
        provider_id="p",
        auth_spec=[hooktypes.AuthSpec(name="a", type="t", spec={"k": 1})],
        explore_spec=hooktypes.ExploreSpec(request_spec={}),
    )
    assert wire.to_json(spec) == {
        "id": "x",
        "name": "n",
        "providerId": "p",
        "version": "1.0",
        "authSpec": [{"name": "a", "type": "t", "spec": {"k": 1}}],
        "exploreSpec": {"requestSpec": {}},
    }
    assert wire.from_json(wire.to_json(spec), hooktypes.ConnectionSpec) == spec
