"""The import contract of the plugin author's API, run by the ``lint`` tox env.

Plugins (``plugins/*/sourceflow_*/``), their tests (``plugins/*/tests/``) and the scaffold's
templates may use only what the core states as the author's API:

- the package root ``sourceflow``, and of it only the names in its ``__all__``
  (``sourceflow.SourceflowError``, ``from sourceflow import Source``);
- the modules the root names there (``sourceflow.http``, ``sourceflow.redact``), except
  ``sourceflow.model``, and ``sourceflow.testing``.

``from sourceflow.model import Auth``, ``import sourceflow.platform.server`` and
``sourceflow.plugins.load(...)`` are violations: everything else in the core may change without
notice. An AST walk rather than import-linter, because the tests folders are not packages and
``from sourceflow import model`` names a module through the root, which import-linter's
contracts (on modules, not names) cannot tell from ``from sourceflow import Auth``.

Usage: ``python tests/author_api_contract.py [ROOT]``; exit status 1 lists each violation as
``path:line: what``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

# The modules of the API besides the root: the pytest plugin, and each module the root names
# in its __all__ (sourceflow.http, sourceflow.redact, ...) except the core's models, whose
# author-facing classes (Auth, MappingRule, ...) the root names one by one.
ALWAYS = frozenset({"sourceflow", "sourceflow.testing"})
NOT_API = frozenset({"model"})

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def files(root: Path) -> Iterator[Path]:
    """The files the contract covers, under ``root`` (the repository)."""
    for plugin in sorted((root / "plugins").iterdir()):
        if not plugin.is_dir():
            continue
        for folder in [*sorted(plugin.glob("sourceflow_*")), plugin / "tests"]:
            if folder.is_dir():
                yield from sorted(folder.rglob("*.py"))
    templates = root / "core" / "sourceflow" / "scaffold" / "templates"
    yield from sorted(templates.rglob("*.py.tmpl"))


def public_names(root: Path) -> frozenset[str]:
    """The names of the package root's ``__all__`` (read, not imported: lint installs nothing)."""
    tree = ast.parse((root / "core" / "sourceflow" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    raise SystemExit("core/sourceflow/__init__.py has no __all__")


def submodules(root: Path) -> frozenset[str]:
    """The names of ``sourceflow``'s own modules and sub-packages."""
    package = root / "core" / "sourceflow"
    return frozenset(
        p.stem if p.suffix == ".py" else p.name
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    )


class Contract:
    """What a file may use of ``sourceflow``: the root's public names and the API's modules."""

    def __init__(self, names: Iterable[str], modules: Iterable[str]) -> None:
        names, modules = frozenset(names), frozenset(modules)
        self.modules = ALWAYS | {f"sourceflow.{n}" for n in (names & modules) - NOT_API}
        self.names = frozenset(n for n in names if n not in modules or n not in NOT_API)

    def violations(self, source: str) -> Iterator[tuple[int, str]]:
        """``(line, what)`` for each use of ``sourceflow`` outside the author's API."""
        tree = ast.parse(source)
        bound: set[str] = set()  # local names bound to the package root itself
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "sourceflow" or alias.name.startswith("sourceflow."):
                        if alias.name not in self.modules:
                            yield node.lineno, f"import {alias.name}"
                        elif alias.name == "sourceflow" or alias.asname is None:
                            bound.add(alias.asname or "sourceflow")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                module = node.module
                if module == "sourceflow":
                    for alias in node.names:
                        if alias.name not in self.names and (
                            f"sourceflow.{alias.name}" not in self.modules
                        ):
                            yield node.lineno, f"from sourceflow import {alias.name}"
                elif module.startswith("sourceflow.") and module not in self.modules:
                    for alias in node.names:
                        yield node.lineno, f"from {module} import {alias.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and node.attr not in self.names
                and f"sourceflow.{node.attr}" not in self.modules
            ):
                yield node.lineno, f"sourceflow.{node.attr}"


def check(root: Path) -> int:
    """Print every violation under ``root``; return how many there are."""
    contract = Contract(public_names(root), submodules(root))
    found = 0
    for path in files(root):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".tmpl":
            text = _PLACEHOLDER.sub(lambda m: m.group(1), text)
        rel = path.relative_to(root).as_posix()
        for line, what in sorted(set(contract.violations(text))):
            print(f"{rel}:{line}: {what} is not the author's API")
            found += 1
    if found:
        print(
            f"{found} use(s) of sourceflow outside the author's API: import from the package root "
            "(sourceflow.__all__), sourceflow.http, sourceflow.redact or sourceflow.testing "
            "(docs/authoring.md)"
        )
    return found


if __name__ == "__main__":
    here = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    sys.exit(1 if check(here) else 0)
