"""The plugin manager: entry points, allow- and block-lists, failures, ownership, observers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sourceflow
from sourceflow import log, plugins
from sourceflow.errors import PluginError, UnknownSource
from sourceflow.hooktypes import ConnectionSpec, Source, Step
from sourceflow.model import Auth

HTTP_SPEC = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"


def make_dist(root: Path, dist: str, module: str, code: str) -> None:
    """Install a plugin distribution the way pip lays one out: a module and its dist-info."""
    (root / f"{module}.py").write_text(textwrap.dedent(code), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[sourceflow]\n{module} = {module}\n")


SOURCE_CODE = """
import sourceflow
from sourceflow.hooktypes import ConnectionSpec, Source

@sourceflow.hookimpl
def sourceflow_sources():
    return [Source(name={name!r}, title="T", connection_spec=ConnectionSpec(
        id={spec!r}, name="t", provider_id="p"))]
"""


def run_plugins(
    tmp_path: Path, *, as_json: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(tmp_path), **env}
    for name in ("SOURCEFLOW_LOAD_PLUGINS", "SOURCEFLOW_BLOCK_PLUGINS"):
        if name not in env:
            environ.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "sourceflow.cli", "plugins", *(["--json"] if as_json else [])],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def test_installed_http_plugin_is_listed_with_hooks_and_source(tmp_path):
    out = run_plugins(tmp_path)
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    http = next(p for p in listing["plugins"] if p["name"] == "sourceflow-http")
    assert http["version"]
    assert "sourceflow_authenticate" in http["hooks"]
    assert http["sources"] == [
        {"name": "http", "title": "HTTP API", "connectionSpecId": HTTP_SPEC, "mode": "streaming"}
    ]


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_work(tmp_path):
    make_dist(tmp_path, "sourceflow-broken", "sf_broken", "import no_such_module_here\n")
    out = run_plugins(tmp_path)
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    # Other installed plugins (chatlio, shopify, stripe) load too; the broken one does not.
    names = [p["name"] for p in listing["plugins"]]
    assert "sourceflow-http" in names and "sourceflow-broken" not in names
    (failure,) = listing["failures"]
    assert failure["distribution"] == "sourceflow-broken"
    assert "no_such_module_here" in failure["error"]


def test_two_plugins_claiming_one_connection_spec_is_an_error_naming_both(tmp_path):
    make_dist(
        tmp_path,
        "sourceflow-impostor",
        "sf_impostor",
        SOURCE_CODE.format(name="other", spec=HTTP_SPEC),
    )
    out = run_plugins(tmp_path)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1, out.stderr  # one line, no traceback
    assert "sourceflow-http" in out.stderr and "sourceflow-impostor" in out.stderr
    assert HTTP_SPEC in out.stderr


def test_allow_list_restricts_loading(tmp_path):
    make_dist(
        tmp_path,
        "sourceflow-extra",
        "sf_extra",
        SOURCE_CODE.format(name="extra", spec="11111111-2222-3333-4444-555555555555"),
    )
    both = json.loads(run_plugins(tmp_path).stdout)
    assert {p["name"] for p in both["plugins"]} >= {"sourceflow-http", "sourceflow-extra"}
    assert both["blocked"] == both["notInstalled"] == []
    only = json.loads(run_plugins(tmp_path, SOURCEFLOW_LOAD_PLUGINS="sourceflow_extra").stdout)
    assert [p["name"] for p in only["plugins"]] == ["sourceflow-extra"]
    assert {
        "distribution": "sourceflow-http",
        "reason": "not listed in SOURCEFLOW_LOAD_PLUGINS",
    } in (only["blocked"])
    none = json.loads(run_plugins(tmp_path, SOURCEFLOW_LOAD_PLUGINS="").stdout)
    assert none["plugins"] == none["failures"] == []
    assert {b["distribution"] for b in none["blocked"]} >= {"sourceflow-http", "sourceflow-extra"}
    # The table says the plugins were left out, not that none is installed.
    text = run_plugins(tmp_path, as_json=False, SOURCEFLOW_LOAD_PLUGINS="").stdout
    assert "no plugins installed" not in text
    assert "sourceflow-http: blocked: not listed in SOURCEFLOW_LOAD_PLUGINS" in text


def test_block_list_leaves_a_plugin_out_and_says_why(tmp_path):
    make_dist(
        tmp_path,
        "sourceflow-extra",
        "sf_extra",
        SOURCE_CODE.format(name="extra", spec="11111111-2222-3333-4444-555555555555"),
    )
    out = run_plugins(tmp_path, SOURCEFLOW_BLOCK_PLUGINS=" Sourceflow_Extra ")
    listing = json.loads(out.stdout)
    names = {p["name"] for p in listing["plugins"]}
    assert "sourceflow-http" in names and "sourceflow-extra" not in names
    assert listing["blocked"] == [
        {"distribution": "sourceflow-extra", "reason": "listed in SOURCEFLOW_BLOCK_PLUGINS"}
    ]
    # Blocking wins over allowing.
    both = run_plugins(
        tmp_path,
        SOURCEFLOW_LOAD_PLUGINS="sourceflow-extra,sourceflow-http",
        SOURCEFLOW_BLOCK_PLUGINS="sourceflow-extra",
    )
    assert [p["name"] for p in json.loads(both.stdout)["plugins"]] == ["sourceflow-http"]


def test_a_listed_plugin_that_is_not_installed_is_named(tmp_path):
    out = run_plugins(
        tmp_path,
        SOURCEFLOW_LOAD_PLUGINS="sourceflow-http,sourceflow-nope",
        SOURCEFLOW_BLOCK_PLUGINS="sourceflow-gone",
    )
    listing = json.loads(out.stdout)
    assert [p["name"] for p in listing["plugins"]] == ["sourceflow-http"]
    assert listing["notInstalled"] == [
        {"distribution": "sourceflow-nope", "listedIn": "SOURCEFLOW_LOAD_PLUGINS"},
        {"distribution": "sourceflow-gone", "listedIn": "SOURCEFLOW_BLOCK_PLUGINS"},
    ]
    warnings = [line for line in out.stderr.splitlines() if "not installed" in line]
    assert len(warnings) == 2, out.stderr
    assert "sourceflow-nope" in warnings[0] and "SOURCEFLOW_LOAD_PLUGINS" in warnings[0]
    assert "sourceflow-gone" in warnings[1]
    text = run_plugins(tmp_path, as_json=False, SOURCEFLOW_LOAD_PLUGINS="sourceflow-nope")
    assert "no plugins installed" not in text.stdout
    assert "sourceflow-nope" in text.stderr


def test_a_blocked_name_is_refused_in_process_too():
    registry = plugins.load(allow=[], block=["plugin-a"])
    registry.register(Provider("a", "aaaaaaaa-0000-0000-0000-000000000000"), "plugin-a")
    registry.register(Provider("b", "bbbbbbbb-0000-0000-0000-000000000000"), "plugin-b")
    assert [p.name for p in registry.plugins()] == ["plugin-b"]
    assert plugins.Blocked(distribution="plugin-a", reason="listed in the block list") in (
        registry.blocked
    )
    with pytest.raises(UnknownSource):
        registry.source("a")
    # A host can block a loaded plugin later; its sources go with it.
    registry.block("plugin-b", "muted by the test")
    assert registry.plugins() == []
    assert registry.blocked[-1] == plugins.Blocked(
        distribution="plugin-b", reason="muted by the test"
    )
    # pluggy's own block holds too: registering on the manager directly is refused.
    assert registry.pm.register(object(), "plugin-b") is None


def test_a_plugin_the_allow_list_left_out_can_still_be_loaded_on_purpose():
    registry = plugins.load(allow=[], block=[])
    assert "sourceflow-http" in {b.distribution for b in registry.blocked}
    registry.load_entry_points(allow=["sourceflow-http"], block=[])
    assert [p.name for p in registry.plugins()] == ["sourceflow-http"]
    assert registry.source("http").name == "http"
    assert "sourceflow-http" not in {b.distribution for b in registry.blocked}
    # And a name pluggy was told to block directly is refused with that reason.
    registry.pm.set_blocked("plugin-c")
    registry.register(Provider("c", "cccccccc-0000-0000-0000-000000000000"), "plugin-c")
    with pytest.raises(UnknownSource):
        registry.source("c")
    assert registry.blocked[-1].distribution == "plugin-c"
    assert "pm.set_blocked" in registry.blocked[-1].reason


def _source(name: str, spec: str) -> Source:
    return Source(
        name=name, title=name, connection_spec=ConnectionSpec(id=spec, name=name, provider_id="p")
    )


class Provider:
    """A plugin object providing one source and answering authenticate for it."""

    def __init__(self, name: str, spec: str) -> None:
        self.source = _source(name, spec)
        self.calls: list[str] = []

    @sourceflow.hookimpl
    def sourceflow_sources(self):
        return [self.source]

    @sourceflow.hookimpl
    def sourceflow_authenticate(self, source, credentials):
        self.calls.append(source.name)
        return Auth(spec_name=f"{self.source.name} auth", params=dict(credentials))


def test_per_source_hooks_reach_only_the_owning_plugin():
    registry = plugins.load(allow=[])
    a, b = (
        Provider("a", "aaaaaaaa-0000-0000-0000-000000000000"),
        Provider("b", "bbbbbbbb-0000-0000-0000-000000000000"),
    )
    registry.register(a, "plugin-a")
    registry.register(b, "plugin-b")
    auth = registry.call("sourceflow_authenticate", registry.source("b"), credentials={"k": 1})
    assert auth == Auth(spec_name="b auth", params={"k": 1})
    assert (a.calls, b.calls) == ([], ["b"])
    assert registry.source(b.source.id) is registry.source("b")
    assert registry.owner(registry.source("a")) == "plugin-a"
    assert registry.implements("sourceflow_authenticate", registry.source("a"))
    assert not registry.implements("sourceflow_explore", registry.source("a"))


def test_routes_stay_right_as_plugins_come_and_go():
    # Calls are routed through a cache: a plugin registered or dropped after a call must
    # still be seen, or no longer be reached.
    registry = plugins.load(allow=[])
    a = Provider("a", "aaaaaaaa-0000-0000-0000-000000000000")
    registry.register(a, "plugin-a")
    registry.call("sourceflow_authenticate", registry.source("a"), credentials={})
    b = Provider("b", "bbbbbbbb-0000-0000-0000-000000000000")
    registry.register(b, "plugin-b")  # not in the set a's cached route leaves out
    registry.call("sourceflow_authenticate", registry.source("a"), credentials={})
    assert (a.calls, b.calls) == (["a", "a"], [])
    assert registry.implements("sourceflow_authenticate", registry.source("a"))

    class SourceOnly:
        @sourceflow.hookimpl
        def sourceflow_sources(self):
            return [a.source]

    registry.unregister("plugin-a")
    registry.register(SourceOnly(), "plugin-a")  # the same name, without authenticate
    assert not registry.implements("sourceflow_authenticate", registry.source("a"))
    assert registry.call("sourceflow_authenticate", registry.source("a"), credentials={}) is None
    assert (a.calls, b.calls) == (["a", "a"], [])


def test_unknown_source_names_the_installed_ones():
    registry = plugins.load(allow=["sourceflow-http"])
    with pytest.raises(UnknownSource) as caught:
        registry.source("shopfiy")
    assert "installed sources: http" in str(caught.value)


def test_duplicate_source_name_in_process_names_both():
    registry = plugins.load(allow=[])
    registry.register(Provider("same", "aaaaaaaa-0000-0000-0000-000000000000"), "first")
    with pytest.raises(PluginError, match="'first' and 'second' both provide 'same'"):
        registry.register(Provider("same", "bbbbbbbb-0000-0000-0000-000000000000"), "second")
    assert [p.name for p in registry.plugins()] == ["first"]


class Misspelt:
    @sourceflow.hookimpl
    def sourceflow_authenticate(self, source, credentails):
        return None


class NotARecord:
    @sourceflow.hookimpl
    def sourceflow_sources(self):
        return [{"name": "dict"}]


def test_hook_signature_mistakes_are_failures_not_crashes():
    registry = plugins.load(allow=[])
    registry.register(Misspelt(), "sourceflow-misspelt")
    registry.register(NotARecord(), "sourceflow-dicts")
    errors = {f.distribution: f.error for f in registry.failures}
    assert "credentails" in errors["sourceflow-misspelt"]
    assert "expected sourceflow.Source" in errors["sourceflow-dicts"]
    assert registry.plugins() == []


class Observer:
    def __init__(self, events: list[str], fail: bool = False) -> None:
        self.events, self.fail = events, fail

    @sourceflow.hookimpl
    def sourceflow_before_step(self, step):
        if self.fail:
            raise RuntimeError("observer broke")
        self.events.append(f"before {step.name}")

    @sourceflow.hookimpl
    def sourceflow_after_step(self, step, result):
        self.events.append(f"after {step.name} {result['id']}")


class Labelled:
    def __init__(self, events: list[str], label: str) -> None:
        self.events, self.label = events, label

    @sourceflow.hookimpl
    def sourceflow_before_step(self, step):
        self.events.append(self.label)


class First(Labelled):
    @sourceflow.hookimpl(tryfirst=True)
    def sourceflow_before_step(self, step):
        self.events.append(self.label)


class Wrapping(Labelled):
    @sourceflow.hookimpl(wrapper=True)
    def sourceflow_before_step(self, step):
        self.events.append(f"{self.label} in")
        result = yield
        self.events.append(f"{self.label} out {result}")
        return result


class BrokenWrapper(Labelled):
    def __init__(self, events: list[str], label: str, when: str) -> None:
        super().__init__(events, label)
        self.when = when

    @sourceflow.hookimpl(wrapper=True)
    def sourceflow_before_step(self, step):
        if self.when == "before":
            raise RuntimeError(f"{self.label} broke before")
        yield
        raise RuntimeError(f"{self.label} broke after")


@pytest.fixture
def log_lines():
    buffer = io.StringIO()
    log.configure(stream=buffer)
    yield lambda: buffer.getvalue().splitlines()
    log.configure()


def test_observers_see_steps_and_a_broken_one_does_not_stop_others(log_lines):
    registry = plugins.load(allow=[])
    events: list[str] = []
    registry.register(Observer(events), "observer")
    registry.register(Observer(events, fail=True), "broken-observer")  # called first (LIFO)
    step = Step(name="flow", source="http")
    registry.notify("before_step", step)
    registry.notify("after_step", step, result={"id": "f-1"})
    assert events == ["before flow", "after flow f-1", "after flow f-1"]
    failed = [line for line in log_lines() if "observer failed" in line]
    assert len(failed) == 1
    assert "broken-observer" in failed[0] and "sourceflow_before_step" in failed[0]


def test_observers_are_called_in_pluggy_order_wrappers_around_them(log_lines):
    # pluggy's documented order: wrappers outermost, then tryfirst, then the others last
    # registered first; the old loop called tryfirst last and never ran a wrapper.
    registry = plugins.load(allow=[])
    events: list[str] = []
    registry.register(First(events, "first"), "first")
    registry.register(Labelled(events, "a"), "a")
    registry.register(Observer(events, fail=True), "broken")
    registry.register(Labelled(events, "b"), "b")
    registry.register(Wrapping(events, "wrap"), "wrap")
    registry.notify("before_step", Step(name="flow", source="http"))
    assert events == ["wrap in", "first", "b", "a", "wrap out []"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_broken_wrapper_observer_is_isolated(log_lines, when):
    registry = plugins.load(allow=[])
    events: list[str] = []
    registry.register(Labelled(events, "plain"), "plain")
    registry.register(BrokenWrapper(events, "broken", when), "broken")
    registry.register(Wrapping(events, "outer"), "outer")
    registry.notify("before_step", Step(name="flow", source="http"))
    registry.notify("before_step", Step(name="flow", source="http"))
    assert events == ["outer in", "plain", "outer out []"] * 2
    failed = [line for line in log_lines() if "observer failed" in line]
    assert len(failed) == 2 and all(f"broken broke {when}" in line for line in failed)


def test_hook_call_monitoring_sees_observer_calls():
    registry = plugins.load(allow=[])
    registry.register(Labelled([], "a"), "a")
    seen: list[tuple[str, list[str], dict[str, object]]] = []
    registry.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append((name, [i.plugin_name for i in impls], kwargs)),
        lambda outcome, name, impls, kwargs: None,
    )
    step = Step(name="flow", source="http")
    registry.notify("before_step", step)
    registry.notify("after_step", step, result={"id": "f-1"})
    assert seen == [
        ("sourceflow_before_step", ["a"], {"step": step}),
        ("sourceflow_after_step", [], {"step": step, "result": {"id": "f-1"}}),
    ]


def test_trace_env_prints_hook_calls_with_secrets_redacted(monkeypatch, capsys):
    monkeypatch.setenv(plugins.TRACE_ENV, "1")
    registry = plugins.load(allow=[])
    registry.register(Provider("a", "aaaaaaaa-0000-0000-0000-000000000000"), "plugin-a")
    secret = "trace-me-not-0123456789"
    registry.call(
        "sourceflow_authenticate", registry.source("a"), credentials={"clientSecret": secret}
    )
    registry.notify("before_step", Step(name="flow", source="a"))
    trace = capsys.readouterr().err
    assert "sourceflow_authenticate [plugin-a]" in trace
    assert "finish sourceflow_authenticate -->" in trace and "a auth" in trace
    assert "sourceflow_before_step" in trace
    assert secret not in trace and "***" in trace
    monkeypatch.delenv(plugins.TRACE_ENV)
    quiet = plugins.load(allow=[])
    quiet.notify("before_step", Step(name="flow", source="a"))
    assert capsys.readouterr().err == ""


def test_a_plugin_can_add_a_command(tmp_path):
    (tmp_path / "sf_greet.py").write_text(
        "import click\n\n@click.command()\n@click.argument('who')\n"
        "def hello(who):\n    '''Say hello.'''\n    click.echo(f'hello {who}')\n"
    )
    info = tmp_path / "sourceflow_greet-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sourceflow-greet\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[sourceflow.commands]\nhello = sf_greet:hello\nbroken = sf_greet:missing\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sourceflow.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    assert run("hello", "world").stdout == "hello world\n"
    assert "hello" in run("--help").stdout
    broken = run("broken")
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: command 'broken' (sf_greet:missing) failed to load")


def test_a_secret_is_what_the_schema_marks_at_any_depth() -> None:
    from sourceflow.hooktypes import secret_fields

    schema = {
        "type": "object",
        "properties": {
            "pin": {"type": "string", "writeOnly": True},
            "region": {"type": "string"},
            "nested": {
                "type": "object",
                "properties": {"signingKey": {"type": "string", "format": "password"}},
            },
        },
        "oneOf": [{"properties": {"otp": {"type": "string", "format": "password"}}}],
    }
    assert secret_fields(schema) == {"pin", "signingKey", "otp"}
    assert secret_fields({"type": "string"}) == frozenset()


def test_installed_sources_declare_their_secrets_and_loading_teaches_redaction() -> None:
    from sourceflow import redact
    from sourceflow.plugins import load

    registry = load()
    by_name = {s.name: s for s in registry.sources()}
    assert "clientSecret" in by_name["shopify"].secret_params
    assert "webhookSecret" in by_name["stripe"].secret_params
    for source in by_name.values():
        assert all(redact.is_secret_key(k) for k in source.secret_params)
