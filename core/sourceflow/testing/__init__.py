"""pytest plugin for plugin authors: fixtures and the conformance suite.

Registered through the ``pytest11`` entry point of the ``sourceflow`` distribution, so the
fixtures are there in any test session where sourceflow is installed::

    def test_my_source(sourceflow_registry, register_plugin, sourceflow_client):
        register_plugin(my_plugin_module, "sourceflow-acme")
        ...

    class TestConformance(sourceflow.testing.PluginConformance):
        plugin = "sourceflow-acme"
        samples = {"signup": "payloads/signup.json"}

Besides the fixtures, a plugin's own tests get what they would otherwise reach into the core
for: :func:`serve` (a fake of the source's API on loopback), :func:`check_credentials` and
:func:`with_defaults` (an auth spec as ``connect`` applies it), :func:`map_record` (default
mapping rules as the platform applies them), :func:`connection_for` and :func:`flow_for`
(resources to call hooks with) and :func:`delivery_id`; and for tests that drive the source
end to end, :func:`local_platform` (a platform of the test's own configuration, restartable on
its data directory), :func:`platform_process` (``sourceflow platform serve`` as a process of
its own, in the environment the test gives it), :func:`free_port`, :func:`client_for`,
:func:`create_dataset`, :func:`lifecycle_for` (``connect`` and ``teardown`` as the CLI runs
them, with :class:`ConnectRequest` and :class:`ScheduleParams`), the ``sourceflow_cli``
fixture, and the errors the client raises (:class:`PlatformError`, :class:`Conflict`). With
the package root, this module is all a plugin's tests import of sourceflow.

This module imports nothing but pytest at import time, so it costs an unrelated pytest run
nothing; the platform, the client and the conformance suite are imported on first use.
See ``docs/authoring.md``.
"""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from sourceflow.testing.kit import LocalPlatform, connection_for, delivery_id

if TYPE_CHECKING:
    from sourceflow.client import FlowServiceClient
    from sourceflow.errors import Conflict, PlatformError
    from sourceflow.hooktypes import AuthSpec, Source
    from sourceflow.http import RetryPolicy
    from sourceflow.lifecycle import ConnectRequest, Lifecycle
    from sourceflow.model import Flow, MappingRule, ScheduleParams
    from sourceflow.plugins import Registry
    from sourceflow.testing.conformance import PluginConformance

__all__ = [
    "CliResult",
    "Conflict",
    "ConnectRequest",
    "LocalPlatform",
    "PlatformError",
    "PluginConformance",
    "ScheduleParams",
    "check_credentials",
    "client_for",
    "connection_for",
    "create_dataset",
    "delivery_id",
    "flow_for",
    "free_port",
    "lifecycle_for",
    "local_platform",
    "map_record",
    "platform_process",
    "register_plugin",
    "serve",
    "sourceflow_cli",
    "sourceflow_client",
    "sourceflow_dataset",
    "sourceflow_lifecycle",
    "sourceflow_platform",
    "sourceflow_registry",
    "with_defaults",
]

# Re-exported names, imported on first use (each pulls in the models, the lifecycle or the
# suite, which an unrelated pytest run must not pay for).
_LAZY = {
    "PluginConformance": "sourceflow.testing.conformance",
    "ConnectRequest": "sourceflow.lifecycle",
    "ScheduleParams": "sourceflow.model",
    "PlatformError": "sourceflow.errors",
    "Conflict": "sourceflow.errors",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sourceflow.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


@pytest.fixture
def sourceflow_registry() -> Registry:
    """An empty plugin registry of this test's own.

    Nothing installed is loaded, so a test sees only what it registers (``register_plugin``,
    or ``sourceflow_registry.load_entry_points(allow=["sourceflow-acme"])`` for an installed
    distribution). ``sourceflow_platform`` serves the sources of this same registry.
    """
    from sourceflow.plugins import Registry

    return Registry()


@pytest.fixture
def register_plugin(sourceflow_registry: Registry) -> Iterator[Callable[..., str]]:
    """``register_plugin(obj, name=None)``: register a plugin object for this test only.

    ``obj`` is a module or an object with ``@sourceflow.hookimpl`` methods; ``name`` is the
    distribution name it stands for (default: the module's or class's name). A plugin the
    registry refuses (a hook that breaks its spec, a failing ``sourceflow_sources``) fails the
    test with the registry's reason. Returns the name; the plugin is removed after the test.
    """
    registered: list[str] = []

    def register(plugin: object, name: str | None = None) -> str:
        name = name or str(getattr(plugin, "__name__", type(plugin).__name__))
        before = len(sourceflow_registry.failures)
        sourceflow_registry.register(plugin, name)
        refused = sourceflow_registry.failures[before:]
        if refused:
            pytest.fail(f"{name}: the registry refused it: {refused[0].error}", pytrace=False)
        registered.append(name)
        return name

    yield register
    for name in reversed(registered):
        sourceflow_registry.unregister(name)


@pytest.fixture
def sourceflow_platform(sourceflow_registry: Registry, tmp_path: Path) -> Iterator[LocalPlatform]:
    """A local Flow Service with a fresh store (under ``tmp_path``), served on loopback.

    It serves the sources of ``sourceflow_registry`` (registering after the fixture started
    is fine: specs are read on each request). The scheduler does not tick on its own, so runs
    happen only when a test asks (``client.start_run``, ``platform.scheduler.tick()``); call
    ``wait_idle()`` before reading what the inlet or a run wrote. For another configuration
    (a clock, the scheduler ticking, a restart on the same store), use :func:`local_platform`.
    """
    with local_platform(
        tmp_path / "sourceflow-platform",
        registry=sourceflow_registry,
        scheduler=False,
        durability="normal",
    ) as served:
        yield served


@pytest.fixture
def sourceflow_client(sourceflow_platform: LocalPlatform) -> Iterator[FlowServiceClient]:
    """A :class:`~sourceflow.client.FlowServiceClient` bound to ``sourceflow_platform``,
    with the platform's development credentials and the ``prod`` sandbox."""
    with client_for(sourceflow_platform.url) as client:
        yield client


@pytest.fixture
def sourceflow_dataset(sourceflow_client: FlowServiceClient) -> str:
    """The id of an empty dataset on ``sourceflow_platform``, with an XDM schema reference,
    for ``connect`` to deliver into; read it back with ``client.dataset_rows(id)``."""
    return create_dataset(
        sourceflow_client,
        "sourceflow test dataset",
        schema="https://ns.adobe.com/sourceflow/schemas/test",
    )


@pytest.fixture
def sourceflow_lifecycle(
    sourceflow_client: FlowServiceClient, sourceflow_registry: Registry, tmp_path: Path
) -> Lifecycle:
    """``connect`` and ``teardown`` against ``sourceflow_platform`` for the sources of
    ``sourceflow_registry``, recording in a state file under ``tmp_path``
    (:func:`lifecycle_for`)."""
    return lifecycle_for(sourceflow_client, sourceflow_registry, tmp_path / "sourceflow-state.json")


class CliResult(NamedTuple):
    """What one ``sourceflow`` command did: its exit status and what it printed."""

    code: int
    out: str
    err: str


@pytest.fixture
def sourceflow_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``sourceflow_cli(*args)``: run ``sourceflow ARGS...`` in this process, as a user types
    it (your plugin's commands included), and return its :class:`CliResult`.

    The command's own errors are one ``error: ...`` line on ``err`` and exit status 1, as in a
    shell. Pass ``--platform URL`` first to point it at a test's platform; what was printed
    before the call is dropped, so each result holds only that command's output.
    """
    from sourceflow.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


# --- helpers for a plugin's own tests ----------------------------------------------------------


@contextmanager
def local_platform(
    data_dir: Path | str, *, registry: Registry | None = None, **config: Any
) -> Iterator[LocalPlatform]:
    """Serve a local Flow Service on its store in ``data_dir``, on a free loopback port.

    ``config`` sets the platform's options (the fields of ``PlatformConfig``): for instance
    ``scheduler=False`` (runs only when started), ``clock=`` (a callable of epoch seconds the
    scheduler reads, so a test moves time), ``run_workers=``, ``durability="normal"``. Unset
    ones are the defaults of ``sourceflow platform serve``, but for the ingest worker: a thread
    here, which maps with ``registry``; ``ingest_process=True`` maps in a process of its own as
    ``platform serve`` does (that process loads the installed plugins). ``registry`` is whose
    sources it serves (``sourceflow_registry``); None loads the installed plugins, as
    ``platform serve`` does. The server and its workers stop when the block ends; a second
    ``local_platform`` on the same ``data_dir`` is a restart: it finds what the first stored,
    and settles the runs the first left open.
    """
    from sourceflow.platform.app import PlatformConfig, create_app
    from sourceflow.platform.server import background

    app = create_app(PlatformConfig(data_dir=Path(data_dir), **config), registry=registry)
    with background(app) as url:
        yield LocalPlatform(url, app)


def client_for(
    url: str, *, sandbox: str | None = None, retry: RetryPolicy | None = None
) -> FlowServiceClient:
    """A :class:`~sourceflow.client.FlowServiceClient` for the platform at ``url`` (a
    :func:`local_platform`, or ``sourceflow platform serve`` run by the test), with the local
    platform's development credentials.

    :param sandbox: the sandbox its requests name (default ``prod``).
    :param retry: how it retries a request the platform did not answer
        (:class:`sourceflow.http.RetryPolicy`; ``RetryPolicy(attempts=1)`` gives up at once,
        for a test that kills the platform); default the client's own.

    Use it as a context manager (``with client_for(url) as client:``) to close its connections.
    """
    from sourceflow.client import FlowServiceClient
    from sourceflow.config import DEV_SANDBOX, Settings

    settings = Settings(platform_url=url, sandbox=sandbox or DEV_SANDBOX)
    return FlowServiceClient(settings, retry=retry)


def create_dataset(client: FlowServiceClient, name: str, *, schema: str | None = None) -> str:
    """Create an empty dataset called ``name`` on ``client``'s platform, for ``connect`` to
    deliver into, and return its id (read its rows with ``client.dataset_rows(id)``).

    :param schema: the ``$id`` of the XDM schema it references, if any.
    """
    from sourceflow.model import Dataset, XdmSchemaRef

    dataset = Dataset(name=name, schema_ref=XdmSchemaRef(id=schema) if schema else None)
    return client.datasets.create(dataset)


def lifecycle_for(client: FlowServiceClient, registry: Registry, state: Path | str) -> Lifecycle:
    """``connect`` and ``teardown`` as ``sourceflow connect`` and ``sourceflow teardown`` run
    them, on ``client``'s platform, for the sources of ``registry``, recording what each
    connect made in the state file ``state``.

    - ``.connect(ConnectRequest(source=..., name=..., dataset_id=..., credentials=...,
      object=..., schedule=ScheduleParams(...)))`` returns what it made (``.ids``,
      ``.flow_id``, ``.inlet_url``, ``.endpoint_facts``); raises ``SourceflowError`` naming
      what was refused. Run again with the same name, it resumes.
    - ``.state.get(name, client.settings.platform_url, client.settings.sandbox)`` is the
      record of a connect (None if there is none), and ``.teardown(record)`` deletes what it
      holds, newest first, returning the steps undone.
    """
    from sourceflow.lifecycle import Lifecycle
    from sourceflow.state import StateFile

    return Lifecycle(client, registry, StateFile(Path(state)))


def free_port() -> int:
    """A loopback TCP port that nothing listens on at this moment: for a server a test starts
    in a process of its own with a ``--port``, or for a URL that must not answer.

    Another process may take it before the test does; a server that can bind port 0 and say
    what it bound (:func:`serve`, :func:`local_platform`) needs none.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def platform_process(
    data_dir: Path | str, *, env: Mapping[str, str] | None = None, timeout: float = 30
) -> Iterator[str]:
    """``sourceflow platform serve`` in a process of its own, as a user runs it, on the store
    in ``data_dir`` and a free loopback port; yields its base URL once it answers.

    For what only a separate process shows: settings that must reach the platform through its
    own environment (``env``, the process's whole environment; default this one's), the
    installed plugins as ``platform serve`` loads them, a command line run against it. For
    anything else :func:`local_platform` is faster and configurable. The process is stopped
    (SIGTERM, then killed after 10 s) when the block ends; if it exits or does not answer
    within ``timeout`` seconds, the test fails with what it printed.
    """
    import httpx

    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "sourceflow.cli", "platform", "serve"]
    command += ["--port", url.rsplit(":", 1)[1], "--data-dir", str(data_dir)]
    # A file rather than a pipe: a server whose pipe nobody reads blocks once it is full.
    with tempfile.TemporaryFile("w+") as printed:
        proc = subprocess.Popen(  # noqa: S603 (this interpreter, sourceflow's own command)
            command,
            stdout=printed,
            stderr=subprocess.STDOUT,
            text=True,
            env=None if env is None else dict(env),
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    httpx.get(url + "/data/foundation/flowservice/connectionSpecs", timeout=1)
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        proc.kill()
                        proc.wait()
                        printed.seek(0)
                        pytest.fail(f"platform serve did not start:\n{printed.read()}")
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app (a fake of the source's API) on a free loopback port, from a thread.

    Yields its base URL (``http://127.0.0.1:PORT``); the server stops when the block ends. The
    same server the local platform runs on, so a fake answers as a real service would.
    """
    from sourceflow.platform.server import background

    with background(app) as url:
        yield url


def check_credentials(spec: AuthSpec, credentials: Mapping[str, Any]) -> None:
    """Check credentials against an auth spec's JSON schema, as ``connect`` does first.

    :raises sourceflow.SourceflowError: with ``problems``, one ``field: rule`` line for each
        broken rule (values never quoted: they may be secrets).
    """
    from sourceflow.lifecycle import check_credentials as check

    check(spec, credentials)


def with_defaults(spec: AuthSpec, credentials: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``credentials`` completed from the auth spec as ``connect`` completes them: the
    schema's ``default`` of each required field, and ``name`` (the connection's) for a
    ``name``/``sourceId`` string property the caller left out."""
    from sourceflow.lifecycle import with_defaults as complete

    return complete(spec, credentials, name)


def map_record(rules: Iterable[MappingRule], record: Any) -> dict[str, Any]:
    """The row the local platform writes for ``record`` under these mapping rules.

    :raises sourceflow.SourceflowError: the record cannot be mapped (a required or identity
        field is missing, a rule fails); the message names the rule.
    """
    from sourceflow.mapping import compile_mapping
    from sourceflow.model import MappingSet

    row: dict[str, Any] = compile_mapping(MappingSet(mappings=list(rules)))(record)
    return row


def flow_for(source: Source, name: str = "test") -> Flow:
    """A dataflow of ``source`` under its mapping flow spec (else its first), with no
    connections, for calling a hook that takes one outside a lifecycle."""
    from sourceflow.model import Flow, SpecRef

    if not source.flow_specs:
        raise ValueError(f"source {source.name!r} declares no flow spec")
    spec = source.mapping_flow_spec or source.flow_specs[0].id
    return Flow(name=name, flow_spec=SpecRef(id=spec))
