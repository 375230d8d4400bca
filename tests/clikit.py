"""The ``sourceflow`` command as a user types it in a shell: a process of its own per command.

For the core's end-to-end tests of the CLI (``test_cli.py``, ``test_cli_feedback.py``), with the
``served`` fixture of ``conftest.py`` (``sourceflow platform serve`` as its own process). A
plugin's tests run the command in their own process instead (the ``sourceflow_cli`` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def sf(
    *args: str,
    cwd: Path,
    platform: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``sourceflow ARGS...`` in ``cwd`` as a process of its own and return what it did.

    :param platform: the platform's URL, passed as ``--platform`` before ``args``.
    :param env: variables set over this process's environment.
    :param check: fail the test, with its stderr, unless it exits 0.
    """
    command = [sys.executable, "-m", "sourceflow.cli"]
    if platform:
        command += ["--platform", platform]
    out = subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check:
        assert out.returncode == 0, f"sourceflow {' '.join(args)}: {out.stderr}"
    return out


def connect_http(platform: str, cwd: Path, name: str, *options: str) -> dict[str, Any]:
    """Create a dataset called ``name``, connect an HTTP API source of that name to it with
    ``options``, and return what ``connect --json`` printed, with the dataset id added under
    ``dataset``."""
    dataset = sf("datasets", "create", name, cwd=cwd, platform=platform).stdout.strip()
    printed = sf(
        "connect", "http", "--dataset", dataset, "--name", name, *options, "--json",
        cwd=cwd, platform=platform,
    ).stdout  # fmt: skip
    connected: dict[str, Any] = json.loads(printed)
    connected["dataset"] = dataset
    return connected
