"""``sourceflow new-plugin``: write a plugin folder that installs and passes conformance as is.

::

    from sourceflow.scaffold import new_plugin

    folder = new_plugin("acme", mode="streaming", dest=Path("sourceflow-acme"))

The templates (``templates/common``, ``templates/{streaming,scheduled}``) are package data;
``${name}``-style placeholders are filled with :class:`string.Template`, which leaves the
``{}`` of Python and JSON alone. Each plugin gets a connection spec id of its own.
"""

from __future__ import annotations

import re
import uuid
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import Literal

from sourceflow import __version__
from sourceflow.errors import SourceflowError

Mode = Literal["streaming", "scheduled"]
NAME = re.compile(r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*")

# Where each template lands; "PKG" is the package folder.
LAYOUT = {
    "pyproject.toml": "pyproject.toml",
    "README.md": "README.md",
    "__init__.py": "PKG/__init__.py",
    "py.typed": "PKG/py.typed",
    "plugin.py": "PKG/plugin.py",
    "test_conformance.py": "tests/test_{name}_conformance.py",
}


def check_name(name: str) -> str:
    """The source name for ``NAME``, or :class:`SourceflowError` saying what is wrong with it.

    A name is lower-case letters and digits, words joined by ``_`` or ``-``, starting with a
    letter (``acme``, ``acme_crm``); it must not be taken by an installed distribution.
    """
    if name.startswith("sourceflow"):
        raise SourceflowError(
            f"{name!r}: give the source's own name; the distribution becomes sourceflow-NAME",
            hint=f"sourceflow new-plugin {name.removeprefix('sourceflow').strip('-_') or 'acme'}",
        )
    if not NAME.fullmatch(name):
        raise SourceflowError(
            f"{name!r} is not a plugin name: use lower-case letters and digits, words joined by "
            "'_' or '-', starting with a letter",
            hint="e.g. sourceflow new-plugin acme_crm",
        )
    dist = f"sourceflow-{name.replace('_', '-')}"
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return name.replace("-", "_")
    raise SourceflowError(
        f"{dist} already exists: a distribution of that name is installed",
        hint="choose another name, or pip uninstall it first",
    )


def new_plugin(name: str, *, mode: Mode = "streaming", dest: Path | None = None) -> Path:
    """Write the plugin folder for source ``name`` and return it.

    :param name: the source's name (see :func:`check_name`).
    :param mode: ``streaming`` (webhooks to an inlet) or ``scheduled`` (runs read records).
    :param dest: the folder to create; default ``./sourceflow-NAME``. It must not exist, or be
        empty.
    """
    source = check_name(name)
    dist = f"sourceflow-{source.replace('_', '-')}"
    package = f"sourceflow_{source}"
    folder = dest if dest is not None else Path(dist)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise SourceflowError(
            f"{folder} already exists and is not empty", hint="choose another --dir"
        )
    values = {
        "name": source,
        "name_dash": source.replace("_", "-"),
        "dist": dist,
        "package": package,
        "title": source.replace("_", " ").title(),
        "mode": mode,
        "kind": "event type" if mode == "streaming" else "object",
        "spec_id": str(uuid.uuid4()),
        "sourceflow_version": __version__,
    }
    templates = resources.files("sourceflow.scaffold").joinpath("templates")
    written: dict[str, str] = {}
    for group in ("common", mode):
        _collect(templates.joinpath(group), "", written)
    folder.mkdir(parents=True, exist_ok=True)
    for relative, text in sorted(written.items()):
        target = folder / _place(relative, package, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(text).substitute(values), encoding="utf-8")
    return folder


def _collect(folder: Traversable, prefix: str, out: dict[str, str]) -> None:
    for entry in folder.iterdir():
        if entry.is_dir():
            _collect(entry, f"{prefix}{entry.name}/", out)
        elif entry.name.endswith(".tmpl"):
            out[prefix + entry.name.removesuffix(".tmpl")] = entry.read_text(encoding="utf-8")


def _place(relative: str, package: str, source: str) -> str:
    if relative in LAYOUT:
        return LAYOUT[relative].replace("PKG", package).format(name=source)
    # Sample payloads ship in the package: explore previews and the read hook serve them.
    return f"{package}/{relative}"
