"""The docs keep up with the code: every hook spec and every CLI command is documented."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import click
import pytest

from sourceflow import hookspecs
from sourceflow.cli import cli

DOCS = Path(__file__).parents[1] / "docs"
SPECS = sorted(
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("sourceflow_")
)


def test_there_are_specs_to_check():
    assert "sourceflow_authenticate" in SPECS and len(SPECS) >= 12


@pytest.mark.parametrize("spec", SPECS)
def test_hook_spec_is_documented_with_its_signature_and_an_example(spec):
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    section = re.search(rf"^## {spec}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert section, f"docs/hooks.md has no section '## {spec}'"
    body = section.group(1)
    params = list(inspect.signature(getattr(hookspecs, spec)).parameters)
    signature = re.search(r"```python\n(def \w+\(.*?\).*?)\n```", body, flags=re.S)
    assert signature, f"{spec}: no signature block"
    (parsed,) = ast.parse(signature.group(1) + ": ...").body
    assert isinstance(parsed, ast.FunctionDef) and parsed.name == spec
    documented = [a.arg for a in parsed.args.args]
    assert documented == params, f"{spec}: docs say {documented}, code says {params}"
    assert body.count("```python") >= 2, f"{spec}: no example"


@pytest.mark.parametrize("spec", SPECS)
def test_hook_spec_has_a_docstring(spec):
    assert inspect.getdoc(getattr(hookspecs, spec))


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    ctx = click.Context(group)
    names = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            names.extend(_commands(command, full + " "))
        else:
            names.append(full)
    return names


COMMANDS = _commands(cli)


def test_there_are_commands_to_check():
    assert {"connect", "platform serve", "plugins", "send", "demo", "teardown"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_command_is_documented_with_its_options(command):
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    section = re.search(rf"^## sourceflow {command}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert section, f"docs/cli.md has no section '## sourceflow {command}'"
    ctx = click.Context(cli)
    target: click.Command = cli
    for part in command.split():
        assert isinstance(target, click.Group)
        found = target.get_command(ctx, part)
        assert found is not None
        target = found
    for param in target.params:
        if isinstance(param, click.Option) and param.name != "help":
            flag = max(param.opts, key=len)
            assert flag in section.group(1), f"sourceflow {command}: {flag} is not documented"
    assert target.help, f"sourceflow {command} has no --help text"


def _unbound(code: str) -> set[str]:
    """The names a snippet reads without importing, defining or assigning them."""
    import builtins

    tree = ast.parse(code)
    bound, read = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
    return read - bound


AUTHOR_PAGES = ("docs/authoring.md", "docs/hooks.md")


@pytest.mark.parametrize("page", AUTHOR_PAGES)
def test_author_examples_import_every_name_of_sourceflow_they_use(page: str) -> None:
    # A reader copies an example whole: a name of the author's API it uses without importing
    # is a NameError in their plugin. (The reader's own objects, such as acme_api, may stay
    # unbound; signature blocks, which are not Python on their own, are left out.)
    import sourceflow

    api = {*sourceflow.__all__, "sourceflow"}
    text = (DOCS.parent / page).read_text()
    problems = []
    for block in re.finditer(r"```python\n(.*?)```", text, re.S):
        try:
            missing = _unbound(block.group(1)) & api
        except SyntaxError:
            continue
        if missing:
            line = text[: block.start()].count("\n") + 2
            problems.append(f"{page}:{line}: uses {', '.join(sorted(missing))} without importing")
    assert not problems, "\n".join(problems)
