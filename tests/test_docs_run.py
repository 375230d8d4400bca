"""The docs run: every shell and Python snippet in README.md and docs/ runs, as a reader would
run it, against a `sourceflow platform serve` started here (issue 19).

Sybil parses the pages. Each page gets a temporary working directory of its own and one shell
state: a variable a snippet sets (``DATASET=$(sourceflow datasets create people)``) is there for
the page's next snippet, as in a reader's terminal. ``console`` blocks show output: a ``$ ``
line is a command and the lines under it are what it prints, checked with doctest's matcher
(``...`` stands for any text). A snippet that cannot run here carries
``<!-- skip: next "reason" -->`` (Sybil's skip directive) and a sentence on the page saying
why; a skip without a reason fails this run.

A page's working directory stands for the root of a clone (``docs/`` is linked into it, for
``cd docs/examples``), and the local platform's default address in a snippet,
``http://127.0.0.1:8300``, stands for the one served here.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from unittest import SkipTest

import pytest
from sybil import Document, Example, Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELLS = ("sh", "console")
STATE = ".docs-run-env"
DEFAULT_URL = "http://127.0.0.1:8300"
SKIP = re.compile(r"<!--\s*skip:\s*(next|start)(?P<reason>[^>]*)-->")


def _run_shell(example: Example) -> None:
    """A ``sh`` block as one bash script; a ``console`` block command by command, its output
    checked."""
    cwd = Path(example.namespace["cwd"])
    served = example.namespace["env"].get("SOURCEFLOW_PLATFORM_URL", DEFAULT_URL)
    source = example.parsed.replace(DEFAULT_URL, served)
    if example.region.lexemes.get("arguments") == "console":
        for command, expected in _console_steps(source):
            out = _bash(command, cwd, example)
            if expected.strip():
                checker = doctest.OutputChecker()
                flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
                if not checker.check_output(expected, out, flags):
                    raise AssertionError(
                        f"$ {command}\nshown on the page:\n{expected}\nprinted:\n{out}"
                    )
    else:
        _bash(source, cwd, example)


def _console_steps(source: str) -> list[tuple[str, str]]:
    """``$ `` commands (with their ``\\`` continuation lines) and the output shown under each."""
    steps: list[tuple[str, str]] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            raise ValueError(f"console block: output with no command before it: {line!r}")
        command = [line[2:]]
        while command[-1].rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        i += 1
        output = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        steps.append(("\n".join(command), "\n".join(output) + "\n" if output else ""))
    return steps


def _bash(script: str, cwd: Path, example: Example) -> str:
    """Run SCRIPT in bash in CWD with the page's shell state; keep the state it leaves."""
    # The state file's path is absolute: a snippet may cd elsewhere (into the linked docs/).
    state = shlex.quote(str(cwd / STATE))
    wrapped = (
        f"set -a; [ -f {state} ] && . {state}; set -euo pipefail\n"
        f"{script}\n"
        f"export -p | grep -v -E '^declare -x (PWD|OLDPWD|SHLVL|_)=' > {state}\n"
    )
    env = {**os.environ, **example.namespace["env"]}
    done = subprocess.run(
        ["bash", "-c", wrapped],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{example.path}:{example.line}: exit status {done.returncode}\n"
            f"{script}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done.stdout


SYBIL = Sybil(
    parsers=[
        SkipParser(),
        *(CodeBlockParser(language=shell, evaluator=_run_shell) for shell in SHELLS),
        PythonCodeBlockParser(),
    ]
)


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_skip_gives_its_reason(page: Path) -> None:
    """A snippet left out of the run says why, in the directive the run reads."""
    for found in SKIP.finditer(page.read_text(encoding="utf-8")):
        reason = found.group("reason").strip()
        assert re.fullmatch(r'"[^"]{10,}"', reason), (
            f"{_page_id(page)}: {found.group(0)!r} needs a quoted reason"
        )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_snippets_run(
    page: Path, served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every snippet of PAGE runs, in order, in one working directory and one shell state."""
    document: Document = SYBIL.parse(page)
    env = {
        "SOURCEFLOW_PLATFORM_URL": served,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    # Python snippets run in this process: the same working directory as the shell ones.
    monkeypatch.chdir(tmp_path)
    document.namespace.update(cwd=str(tmp_path), env=env)
    skipped: list[str] = []
    ran = 0
    for example in document:
        directive = example.region.lexemes.get("source") is None
        try:
            example.evaluate()
        except SkipTest as skip:
            skipped.append(f"line {example.line}: {skip}")
            continue
        ran += not directive
    print(f"{_page_id(page)}: {ran} ran, {len(skipped)} skipped", *skipped, sep="\n  ")


def test_shell_state_is_kept_between_snippets(tmp_path: Path) -> None:
    """The runner itself: a variable one snippet sets is seen by the next, and a failing
    command fails the snippet."""
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\nGREETING=$(echo hello)\n```\n\n"
        '```console\n$ echo "$GREETING world"\nhello ...\n```\n\n'
        "```sh\nfalse\n```\n",
        encoding="utf-8",
    )
    document = SYBIL.parse(page)
    document.namespace.update(cwd=str(tmp_path), env={})
    first, second, third = list(document)
    first.evaluate()
    second.evaluate()
    with pytest.raises(AssertionError, match="exit status 1"):
        third.evaluate()


def test_console_output_is_checked(tmp_path: Path) -> None:
    """Output shown under a ``$ `` line that the command does not print fails the snippet."""
    page = tmp_path / "page.md"
    page.write_text("```console\n$ echo one\ntwo\n```\n", encoding="utf-8")
    document = SYBIL.parse(page)
    document.namespace.update(cwd=str(tmp_path), env={})
    (example,) = list(document)
    with pytest.raises(AssertionError, match="shown on the page"):
        example.evaluate()
