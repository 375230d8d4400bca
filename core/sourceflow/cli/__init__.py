"""The ``sourceflow`` command.

Subcommands are imported only when they run (click's lazy-group pattern), so ``sourceflow
plugins`` does not pay for the HTTP client or the local platform. Inside a command module, what
the command needs only when it runs (the client, the lifecycle, the platform, the relay, the
models) is imported inside the command: ``sourceflow --help`` imports every command module to
list them, and with those imports at the top of their modules it took 1,473 M instructions
instead of 412 M, and ``sourceflow connect --help`` 1,115 M instead of 251 M (callgrind, one
run each; ``python -c "import pluggy"`` takes 152 M here).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from sourceflow import entrypoints, log
from sourceflow.errors import InvalidBody, PluginError, SourceflowError
from sourceflow.redact import scrub

COMMANDS = {
    "plugins": "sourceflow.cli.plugins_cmd:plugins",
    "platform": "sourceflow.cli.platform_cmd:platform",
    "relay": "sourceflow.cli.relay_cmd:relay",
    "connect": "sourceflow.cli.connect_cmd:connect",
    "teardown": "sourceflow.cli.connect_cmd:teardown",
    "connections": "sourceflow.cli.connect_cmd:connections",
    "plan": "sourceflow.cli.project_cmd:plan",
    "apply": "sourceflow.cli.project_cmd:apply",
    "export": "sourceflow.cli.project_cmd:export",
    "destroy": "sourceflow.cli.project_cmd:destroy",
    "explore": "sourceflow.cli.explore_cmd:explore",
    "flows": "sourceflow.cli.runs_cmd:flows",
    "runs": "sourceflow.cli.runs_cmd:runs",
    "send": "sourceflow.cli.send_cmd:send",
    "datasets": "sourceflow.cli.datasets_cmd:datasets",
    "demo": "sourceflow.cli.demo_cmd:demo",
    "samples": "sourceflow.cli.samples_cmd:samples",
    "new-plugin": "sourceflow.cli.new_plugin_cmd:new_plugin",
}


PLUGIN_COMMANDS = "sourceflow.commands"
"""Entry point group through which a plugin adds commands (``shopify = "pkg.cli:shopify"``)."""


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use.

    Plugins add commands through the ``sourceflow.commands`` entry point group; a core command
    of the same name wins, and a plugin command that fails to import is reported when invoked.
    """

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self._plugin_commands: dict[str, str] | None = None

    def plugin_commands(self) -> dict[str, str]:
        """Commands plugins add: name to ``module:attr``."""
        if self._plugin_commands is None:
            found = entrypoints.entry_points(PLUGIN_COMMANDS)
            self._plugin_commands = {ep.name: ep.value for ep in found if ep.name not in self.lazy}
        return self._plugin_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy, *self.plugin_commands()})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``; a plugin command that fails to load is shown as such
        instead of breaking the help of every other command."""
        rows: list[tuple[str, click.Command | None]] = []
        for name in self.list_commands(ctx):
            try:
                command = self.get_command(ctx, name)
            except PluginError:
                rows.append((name, None))
                continue
            if command is not None and not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl(
                    [(n, c.get_short_help_str(limit) if c else "(failed to load)") for n, c in rows]
                )

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name) or self.plugin_commands().get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attr = target.split(":")
        try:
            command: click.Command = getattr(importlib.import_module(module), attr)
        except Exception as exc:
            raise PluginError(
                f"command {cmd_name!r} ({target}) failed to load: {type(exc).__name__}: {exc}",
                hint="reinstall the plugin that provides it, or uninstall it",
            ) from None
        return command


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--platform",
    "platform_url",
    envvar="SOURCEFLOW_PLATFORM_URL",
    metavar="URL",
    help="Flow Service to talk to [env SOURCEFLOW_PLATFORM_URL; default: the local platform, "
    "http://127.0.0.1:8300].",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default="console",
    show_default=True,
    help="How logs are written to stderr: readable lines, or one JSON object a line.",
)
@click.version_option(package_name="sourceflow", prog_name="sourceflow")
@click.pass_context
def cli(ctx: click.Context, platform_url: str | None, debug: bool, log_format: str) -> None:
    """Bring sources into Adobe Experience Platform through the Flow Service.

    Every command talks to the local Flow Service unless --platform (or
    SOURCEFLOW_PLATFORM_URL) names another, such as https://platform.adobe.io.

    \b
    Start here:
      sourceflow demo                      the whole lifecycle on a local platform
      sourceflow samples                   write sample records and mapping rules here
      sourceflow platform serve            run the local Flow Service
      sourceflow connect http --dataset ID connect a source, print its inlet URL
      sourceflow plan / apply              the same from a project file, sourceflow.toml
      sourceflow plugins                   list installed sources
    """
    ctx.ensure_object(dict)
    ctx.obj["platform_url"] = platform_url
    ctx.obj["debug"] = debug
    log.set_defaults(level="DEBUG" if debug else "WARNING", json=log_format == "json")


def problem_lines(exc: Exception) -> list[str]:
    """Every problem an error lists, one per line, when it lists more than one.

    The error's own line names the first problem only ("... (and 3 more)"); a mapping set or
    a resource with several mistakes is fixed in one pass when each is shown. Local compile
    errors carry ``problems``; the platform's 400 carries them in ``report.problems``.
    """
    problems = getattr(exc, "problems", None)
    if problems is None:
        body = getattr(exc, "body", None)
        report = body.get("report") if isinstance(body, dict) else None
        problems = report.get("problems") if isinstance(report, dict) else None
    if not isinstance(problems, list) or len(problems) < 2:
        return []
    return [str(p) for p in problems]


def main(argv: list[str] | None = None) -> int:
    """Run the command; sourceflow's own errors become one line on stderr, not a traceback."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="sourceflow", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except SourceflowError as exc:
        if debug:
            raise
        lines = problem_lines(exc)
        if lines and isinstance(exc, InvalidBody):
            # Its message is the problems joined on one line: name what, then each once.
            hint = f" ({exc.hint})" if exc.hint else ""
            click.echo(f"error: invalid {exc.what}{hint}:", err=True)
        else:
            click.echo(f"error: {scrub(str(exc))}", err=True)
        for line in lines:
            click.echo(f"  {scrub(line)}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0
