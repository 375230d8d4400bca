"""The conformance suite a plugin's own tests subclass.

::

    from sourceflow.testing import PluginConformance

    class TestConformance(PluginConformance):
        plugin = "sourceflow-acme"                 # an installed distribution, or a plugin object
        samples = {"signup": "payloads/signup.json"}
        credentials = {"apiKey": "test-key"}

Each test checks one rule against the local platform of the test (nothing leaves the machine,
unless the plugin calls out: start a fake of its API in a ``plugin_credentials`` fixture). A
failure names the plugin and every broken rule, one per line.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import httpx
import pytest
from attrs import define

from sourceflow import entrypoints, log, model, redact, wire
from sourceflow.errors import PluginError
from sourceflow.hooktypes import (
    Delivery,
    ExploreRequest,
    ExploreResult,
    Page,
    ReadResult,
    Source,
    SourceParams,
    Verdict,
)
from sourceflow.lifecycle import (
    Connected,
    ConnectRequest,
    Lifecycle,
    check_credentials,
    with_defaults,
)
from sourceflow.plugins import GROUP, Registry
from sourceflow.plugins import load as load_plugins
from sourceflow.state import StateFile
from sourceflow.testing import checks
from sourceflow.testing.kit import LocalPlatform, connection_for
from sourceflow.testing.kit import delivery_id as delivery_id  # where it was first, for old imports

if TYPE_CHECKING:
    from sourceflow.client import FlowServiceClient

FLOW_HEADER = "x-adobe-flow-id"


@define
class Subject:
    """The plugin under test, registered: its name, object, registry and source."""

    name: str
    plugin: object
    registry: Registry
    source: Source


class PluginConformance:
    """Subclass it (as ``Test…``) and name your plugin; pytest runs the rules as tests.

    Class attributes:

    - ``plugin``: the distribution name of an installed plugin (``"sourceflow-acme"``), or a
      plugin object (a module with ``@sourceflow.hookimpl`` functions), which is registered
      for each test without being installed.
    - ``plugin_name``: the name a plugin object stands for (default: ``sourceflow-`` + the
      module's last name); ignored for a distribution name.
    - ``source``: which of the plugin's sources to connect, when it has several.
    - ``samples``: ``{object: payloads}``: what the source delivers (streaming) or reads
      (scheduled) for each object or event type (None for a source with one kind of record).
      Payloads are a dict, a list of dicts, or a path to a ``.json``/``.jsonl`` file relative
      to the test module. Default mappings are checked against them; the lifecycle test sends
      (streaming) those of ``connect_object``.
    - ``credentials``: what ``connect`` is given (``--param``s); override the
      ``plugin_credentials`` fixture instead when they depend on a fake you start.
    - ``connect_object``: the object the lifecycle test connects (default: the first sample key).
    - ``explore_requests``: object explore calls to check (default: the first listed item,
      asked as ``ExploreRequest(object=item["path"] or item["name"], preview=True)``).

    Override :meth:`sign` when the source's ``sourceflow_verify_delivery`` checks signatures.
    """

    plugin: ClassVar[str | object]
    plugin_name: ClassVar[str | None] = None
    source: ClassVar[str | None] = None
    samples: ClassVar[Mapping[str | None, Any]] = {}
    credentials: ClassVar[Mapping[str, Any]] = {}
    connect_object: ClassVar[str | None] = None
    explore_requests: ClassVar[Sequence[ExploreRequest] | None] = None
    tenant: ClassVar[str] = "conformance"
    timeout: ClassVar[float] = 20.0

    # --- what a subclass may override ---------------------------------------------------------

    def sign(self, body: bytes, credentials: Mapping[str, Any]) -> dict[str, str]:
        """The headers a real sender adds to a delivery of ``body`` (a signature, a delivery
        id), made with ``credentials``; none by default."""
        return {}

    @pytest.fixture
    def plugin_credentials(self) -> Mapping[str, Any]:
        """What ``connect`` is given; by default the ``credentials`` class attribute.

        Override it as a fixture to start a fake of the source's API first and point the
        credentials at it (``yield {...}`` and stop the fake after).
        """
        return dict(self.credentials)

    # --- plumbing -----------------------------------------------------------------------------

    def _resolve(self) -> tuple[str, object]:
        given = self.plugin
        if not isinstance(given, str):
            module = str(getattr(given, "__name__", type(given).__name__)).rsplit(".", 1)[-1]
            default = module if module.startswith("sourceflow") else f"sourceflow-{module}"
            return self.plugin_name or default.replace("_", "-"), given
        for ep in entrypoints.entry_points(GROUP):
            if ep.dist_name is not None and _norm(ep.dist_name) == _norm(given):
                try:
                    return ep.dist_name, ep.load()
                except Exception as exc:
                    _fail(given, [f"its entry point {ep.value!r} fails to import: {exc!r}"])
        _fail(
            given,
            [
                f"no installed distribution named {given!r} has a {GROUP!r} entry point "
                "(pip install -e your plugin folder, or set plugin = <module>)"
            ],
        )

    @pytest.fixture
    def subject(self, sourceflow_registry: Registry) -> Iterator[Subject]:
        """The plugin, registered in this test's registry (the one the platform serves)."""
        name, plugin = self._resolve()
        before = len(sourceflow_registry.failures)
        sourceflow_registry.register(plugin, name)
        refused = sourceflow_registry.failures[before:]
        if refused:
            _fail(name, [f"the registry refused it: {refused[0].error}"])
        provided = [
            s for s in sourceflow_registry.sources() if sourceflow_registry.owner(s) == name
        ]
        if not provided:
            _fail(name, ["sourceflow_sources returned no source"])
        wanted = self.source or provided[0].name
        source = next((s for s in provided if wanted in (s.name, s.id)), None)
        if source is None:
            _fail(
                name, [f"it provides no source {wanted!r} ({', '.join(s.name for s in provided)})"]
            )
        yield Subject(name=name, plugin=plugin, registry=sourceflow_registry, source=source)
        sourceflow_registry.unregister(name)

    def _samples(self) -> dict[str | None, list[Any]]:
        base = Path(inspect.getfile(type(self))).parent
        return {key: checks.load_samples(value, base) for key, value in self.samples.items()}

    def _object(self) -> str | None:
        if self.connect_object is not None:
            return self.connect_object
        return next(iter(self.samples), None)

    def _credentials(self, subject: Subject, given: Mapping[str, Any]) -> dict[str, Any]:
        """The credentials completed and checked as ``connect`` would, before any call."""
        specs = subject.source.connection_spec.auth_spec or []
        if not subject.source.needs_base_connection or not specs:
            return dict(given)
        filled = with_defaults(specs[0], given, "conformance")
        try:
            check_credentials(specs[0], filled)
        except Exception as exc:
            _fail(subject.name, [f"the suite's credentials do not pass authSpec[0]: {exc}"])
        return filled

    def _connection(self, subject: Subject, credentials: dict[str, Any]) -> model.Connection:
        source = subject.source
        auth = None
        if source.needs_base_connection:
            answer = subject.registry.call(
                "sourceflow_authenticate", source, credentials=credentials
            )
            specs = source.connection_spec.auth_spec or []
            auth = (
                answer
                if isinstance(answer, model.Auth)
                else model.Auth(spec_name=specs[0].name if specs else "", params=credentials)
            )
        return connection_for(source, auth, name="conformance")

    # --- the rules ----------------------------------------------------------------------------

    def test_hooks_match_their_specs(self) -> None:
        """Every hook implementation names a spec and takes only the arguments it passes."""
        name, plugin = self._resolve()
        problems = checks.hook_problems(plugin)
        if problems:
            _fail(name, problems)

    def test_ids_and_names_do_not_clash_with_installed_plugins(self) -> None:
        """No source name or connection spec id is one an installed plugin already provides:
        ``sourceflow plugins`` would refuse to load both."""
        name, plugin = self._resolve()
        installed = load_plugins()
        installed.unregister(name)  # the plugin itself, when it is installed too
        try:
            installed.register(plugin, name)
        except PluginError as exc:
            _fail(
                name,
                [
                    f"it clashes with an installed plugin: {exc}; give the source a name and a "
                    "connection spec id (a fresh UUID) of its own"
                ],
            )

    def test_connection_spec_is_well_formed(self, subject: Subject) -> None:
        """UUID ids, auth specs that are valid JSON schemas declaring what they require,
        flow specs that accept the connection spec."""
        problems = []
        for source in subject.registry.sources():
            if subject.registry.owner(source) == subject.name:
                problems += [f"source {source.name!r}: {p}" for p in checks.spec_problems(source)]
        if problems:
            _fail(subject.name, problems)

    def test_hook_answers_have_the_right_types(
        self, subject: Subject, plugin_credentials: Mapping[str, Any]
    ) -> None:
        """Each per-source hook, called with the samples and credentials, answers its type."""
        source, registry = subject.source, subject.registry
        credentials = self._credentials(subject, plugin_credentials)
        obj = self._object()
        problems: list[str] = []

        def call(hook: str, called: str, **kwargs: Any) -> Any:
            if not registry.implements(hook, source):
                return None
            try:
                return registry.call(hook, source, **kwargs)
            except Exception as exc:
                problems.append(f"{hook}({called}) raised {type(exc).__name__}: {exc}")
                return None

        if source.needs_base_connection:
            auth = call(
                "sourceflow_authenticate", "the suite's credentials", credentials=credentials
            )
            problems.append(
                checks.type_problem("sourceflow_authenticate", "…", auth, model.Auth) or ""
            )
            names = [a.name for a in source.connection_spec.auth_spec or []]
            if isinstance(auth, model.Auth) and auth.spec_name not in names:
                problems.append(
                    f"sourceflow_authenticate answered specName {auth.spec_name!r}, which is not "
                    f"one of its auth specs ({', '.join(names)})"
                )
        params = call(
            "sourceflow_source_params", f"object={obj!r}", object=obj, credentials=credentials
        )
        problems.append(
            checks.type_problem("sourceflow_source_params", f"object={obj!r}", params, SourceParams)
            or ""
        )
        for key in dict.fromkeys([*self.samples, None]):
            rules = call(
                "sourceflow_mapping_defaults", f"object={key!r}", object=key, tenant=self.tenant
            )
            problem = checks.type_problem(
                "sourceflow_mapping_defaults",
                f"object={key!r}",
                rules,
                model.MappingRule,
                many=True,
            )
            problems.append(problem or "")
        samples = self._samples()
        payload = next(iter(samples.get(obj) or [{}]))
        body = json.dumps(payload).encode()
        config = params.params if isinstance(params, SourceParams) and params.params else {}
        verdict = call(
            "sourceflow_verify_delivery",
            "a signed sample",
            request=Delivery(
                inlet_id="conformance",
                flow_id=None,
                headers={k.lower(): v for k, v in self.sign(body, credentials).items()},
                query={},
                body=body,
                config=dict(config),
            ),
        )
        problems.append(
            checks.type_problem("sourceflow_verify_delivery", "a signed sample", verdict, Verdict)
            or ""
        )
        if source.mode == "scheduled" and registry.implements("sourceflow_read", source):
            connection = self._connection(subject, credentials)
            read = call(
                "sourceflow_read", f"object={obj!r}", connection=connection, object=obj, state={}
            )
            problems.append(
                checks.type_problem("sourceflow_read", f"object={obj!r}", read, ReadResult) or ""
            )
            if isinstance(read, ReadResult):
                problems.extend(_read_problems(read, obj))
        problems = [p for p in problems if p]
        if problems:
            _fail(subject.name, problems)

    def test_explore_answers_in_adobes_shapes(
        self, subject: Subject, plugin_credentials: Mapping[str, Any]
    ) -> None:
        """A listing of items with a name and a type; an object's hierarchical JSON schema and,
        when asked, a preview of records."""
        source, registry = subject.source, subject.registry
        if not registry.implements("sourceflow_explore", source):
            pytest.skip(f"{subject.name} does not implement sourceflow_explore")
        connection = self._connection(subject, self._credentials(subject, plugin_credentials))

        def explore(request: ExploreRequest, called: str) -> ExploreResult:
            try:
                answer = registry.call(
                    "sourceflow_explore", source, connection=connection, request=request
                )
            except Exception as exc:
                _fail(
                    subject.name,
                    [f"sourceflow_explore({called}) raised {type(exc).__name__}: {exc}"],
                )
            if not isinstance(answer, ExploreResult):
                _fail(
                    subject.name,
                    [
                        f"sourceflow_explore({called}) returned {type(answer).__name__}, "
                        "expected sourceflow.ExploreResult"
                    ],
                )
            return answer

        listing = explore(ExploreRequest(), "no object")
        problems = checks.listing_problems(listing)
        requests = self.explore_requests
        if requests is None and not problems and listing.items:
            first = listing.items[0]
            requests = [
                ExploreRequest(object=str(first.get("path") or first["name"]), preview=True)
            ]
        for request in requests or []:
            called = f"object={request.object!r}, sourceParams={request.source_params!r}"
            result = explore(request, called)
            problems += checks.structure_problems(result, f"({called})", request.preview)
        if problems:
            _fail(subject.name, problems)

    def test_default_mappings_read_fields_the_samples_have(self, subject: Subject) -> None:
        """Every default mapping rule compiles and reads a field some sample payload has."""
        source, registry = subject.source, subject.registry
        if not registry.implements("sourceflow_mapping_defaults", source):
            pytest.skip(f"{subject.name} has no default mapping")
        samples = self._samples()
        everything = [p for payloads in samples.values() for p in payloads]
        problems: list[str] = []
        checked = 0
        for key in dict.fromkeys([*samples, None]):
            rules = registry.call(
                "sourceflow_mapping_defaults", source, object=key, tenant=self.tenant
            )
            if not rules:
                continue
            if not samples:
                _fail(
                    subject.name,
                    ["it has default mappings but the suite declares no samples to check them"],
                )
            payloads = samples.get(key, everything)
            what = f"object {key!r}" if key is not None else "no object"
            problems += checks.mapping_problems(rules, payloads, what)
            checked += 1
        if problems:
            _fail(subject.name, problems)
        if not checked:
            pytest.skip(f"{subject.name} answered no default rules for the sample objects")

    def test_lifecycle_delivers_the_samples_and_teardown_leaves_nothing(
        self,
        subject: Subject,
        plugin_credentials: Mapping[str, Any],
        sourceflow_platform: LocalPlatform,
        sourceflow_client: FlowServiceClient,
        sourceflow_dataset: str,
        tmp_path: Path,
    ) -> None:
        """connect → records reach the dataset (posted to the inlet, or read by a run) →
        teardown, after which no connection, source or target connection or flow is left."""
        client, source = sourceflow_client, subject.source
        credentials = dict(plugin_credentials)
        obj = self._object()
        try:
            lifecycle, done = self._connect(
                subject, client, sourceflow_dataset, credentials, "conformance", tmp_path / "s"
            )
        except Exception as exc:
            _fail(subject.name, [f"connect failed: {type(exc).__name__}: {exc}"])
        if source.mode == "streaming":
            payloads = self._samples().get(obj) or []
            if not payloads:
                _fail(subject.name, [f"the suite declares no sample payloads for object {obj!r}"])
            if not done.inlet_url:
                _fail(subject.name, ["connect gave the streaming source no inlet URL"])
            for i, payload in enumerate(payloads):
                body = json.dumps(payload).encode()
                answer = self._post(done.inlet_url, done.flow_id, body, credentials)
                if answer.status_code != 200:
                    _fail(
                        subject.name,
                        [
                            f"the inlet refused sample {i} of object {obj!r} with "
                            f"{answer.status_code}: {_detail(answer)}"
                        ],
                    )
            sourceflow_platform.wait_idle(self.timeout)
            want = len(payloads)
        else:
            run = client.start_run(done.flow_id)
            sourceflow_platform.wait_idle(self.timeout)
            metrics = client.runs.get(run.id).metrics
            status = metrics.status_summary if metrics else None
            if status is None or status.status != "success":
                errors = [e.message for e in (status.errors or [])] if status else []
                _fail(
                    subject.name,
                    [f"the run of object {obj!r} did not succeed: {'; '.join(errors) or status}"],
                )
            summary = metrics.record_summary if metrics else model.RecordSummary()
            if summary.failed_record_count or not summary.output_record_count:
                _fail(
                    subject.name,
                    [
                        f"the run of object {obj!r} read {summary.input_record_count} records, "
                        f"wrote {summary.output_record_count}, failed "
                        f"{summary.failed_record_count}: a run must write its sample records"
                    ],
                )
            want = summary.output_record_count
        rows = client.dataset_rows(sourceflow_dataset)
        failures = client.flow_failures(done.flow_id)
        problems = []
        if failures:
            problems.append(f"records failed in the flow: {json.dumps(failures[:3])[:600]}")
        if len(rows) != want:
            problems.append(f"{want} records were delivered but the dataset has {len(rows)} rows")
        elif any(not row.get("record") for row in rows):
            problems.append(
                "a record reached the dataset as an empty row (the mapping maps nothing)"
            )
        if problems:
            _fail(subject.name, problems)

        record = lifecycle.state.get(
            "conformance", client.settings.platform_url, client.settings.sandbox
        )
        assert record is not None
        try:
            lifecycle.teardown(record)
        except Exception as exc:
            _fail(subject.name, [f"teardown failed: {type(exc).__name__}: {exc}"])
        left = {
            "connections": [c.id for c in client.connections.list()],
            "sourceConnections": [c.id for c in client.source_connections.list()],
            "targetConnections": [c.id for c in client.target_connections.list()],
            "flows": [f.id for f in client.flows.list()],
        }
        left = {k: v for k, v in left.items() if v}
        if left:
            _fail(
                subject.name,
                [f"teardown left {k}: {', '.join(map(str, v))}" for k, v in left.items()],
            )

    def test_secrets_never_leak(
        self,
        subject: Subject,
        plugin_credentials: Mapping[str, Any],
        sourceflow_platform: LocalPlatform,
        sourceflow_client: FlowServiceClient,
        sourceflow_dataset: str,
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        """The values of every secret field (those the specs mark ``format: password`` or
        ``writeOnly``, the ``delivery_secret``, and any whose name looks secret) go through
        connect, a delivery or a run, and teardown; none appears in the logs (at DEBUG),
        stdout, stderr, the platform's answers, the state file or what the endpoint hook
        reported."""
        source = subject.source
        credentials = dict(plugin_credentials)
        secret_keys = source.secret_params | {k for k in credentials if redact.is_secret_key(k)}
        secrets = {
            k: str(v) for k, v in credentials.items() if k in secret_keys and len(str(v)) >= 6
        }
        if not secrets:
            pytest.skip(f"{subject.name} is given no secret of 6 characters or more")
        state_path = tmp_path / "state.json"
        seen: dict[str, str] = {}
        with log.captured("DEBUG") as logged:
            lifecycle, done = self._connect(
                subject,
                sourceflow_client,
                sourceflow_dataset,
                credentials,
                "leaks",
                state_path,
            )
            seen["what connect answered (the endpoint hook's facts included)"] = repr(done)
            if source.mode == "streaming" and done.inlet_url:
                payload = next(iter(self._samples().get(self._object()) or [{}]))
                self._post(done.inlet_url, done.flow_id, json.dumps(payload).encode(), credentials)
            elif source.mode == "scheduled":
                sourceflow_client.start_run(done.flow_id)
            sourceflow_platform.wait_idle(self.timeout)
            seen["the state file"] = state_path.read_text()
            answers = []
            for kind in ("connections", "source_connections", "target_connections", "flows"):
                for item in getattr(sourceflow_client, kind).list():
                    answers.append(json.dumps(wire.to_json(item)))
            seen["the platform's answers"] = "\n".join(answers)
            self._teardown(lifecycle, sourceflow_client, "leaks")
        out, err = capfd.readouterr()
        seen["the logs at DEBUG"] = logged.getvalue()
        seen["stdout"] = out
        seen["stderr"] = err
        problems = [
            f"the value of {key!r} appears in {where}: never print or log a secret, return it "
            "from a hook or put it in an error; log through sourceflow's logger, whose "
            "redaction masks fields the spec marks secret"
            for key, value in secrets.items()
            for where, text in seen.items()
            if value in text
        ]
        if problems:
            _fail(subject.name, problems)

    def test_inlet_refuses_a_malformed_body(
        self,
        subject: Subject,
        plugin_credentials: Mapping[str, Any],
        sourceflow_client: FlowServiceClient,
        sourceflow_dataset: str,
        tmp_path: Path,
    ) -> None:
        """A streaming source's inlet answers 400 to a body that is not JSON (signed as a real
        sender would sign it, so only the body is wrong)."""
        if subject.source.inlet_on is None:
            pytest.skip(f"{subject.source.name} has no inlet")
        credentials = dict(plugin_credentials)
        lifecycle, done = self._connect(
            subject,
            sourceflow_client,
            sourceflow_dataset,
            credentials,
            "conformance-malformed",
            tmp_path / "s.json",
        )
        assert done.inlet_url
        answer = self._post(done.inlet_url, done.flow_id, b'{"truncated": ', credentials)
        if answer.status_code != 400:
            _fail(
                subject.name,
                [f"the inlet answered {answer.status_code} to a malformed body, expected 400"],
            )
        self._teardown(lifecycle, sourceflow_client, "conformance-malformed")

    def test_deliveries_are_verified_or_the_source_says_it_is_unsigned(
        self, subject: Subject
    ) -> None:
        """A streaming source verifies its deliveries (``sourceflow_verify_delivery`` and a
        ``delivery_secret``) or declares ``unsigned=True``; one that does neither accepts
        forged deliveries without anyone having decided so."""
        source, registry = subject.source, subject.registry
        verifies = registry.implements("sourceflow_verify_delivery", source)
        problems = []
        if source.mode == "streaming" and not verifies and not source.unsigned:
            problems.append(
                "it neither implements sourceflow_verify_delivery nor declares "
                "Source(unsigned=True): verify the provider's signature, or declare that its "
                "deliveries carry none (connect then warns its users)"
            )
        if verifies and source.unsigned:
            problems.append(
                "it implements sourceflow_verify_delivery but declares unsigned=True: drop one"
            )
        if verifies and source.delivery_secret is None:
            problems.append(
                "it implements sourceflow_verify_delivery but names no delivery_secret: set "
                "Source(delivery_secret=<the param holding the signing secret>) so that a flow "
                "without it refuses every delivery (fail closed)"
            )
        if problems:
            _fail(subject.name, problems)

    def test_verify_delivery_refuses_every_forgery_and_never_raises(
        self, subject: Subject, plugin_credentials: Mapping[str, Any]
    ) -> None:
        """Signed as the provider signs: authentic, named the same on a replay. Forged (another
        secret), altered, unsigned, without a secret configured, or with any bytes in its
        signature headers: refused with a reason, and never an exception."""
        source, registry = subject.source, subject.registry
        if not registry.implements("sourceflow_verify_delivery", source):
            pytest.skip(f"{subject.name} does not verify deliveries")
        secret_key = source.delivery_secret
        credentials = dict(plugin_credentials)
        if not secret_key or not credentials.get(secret_key):
            _fail(
                subject.name,
                [
                    f"the suite's credentials carry no {secret_key or 'delivery_secret'}: give "
                    "the conformance class credentials with the signing secret"
                ],
            )
        payload: Any = next(iter(next(iter(self._samples().values()), [{}])), {})
        body = json.dumps(payload).encode()
        headers = self.sign(body, credentials)
        if not headers:
            _fail(
                subject.name,
                [
                    "it verifies deliveries but the conformance class does not override "
                    "sign(body, credentials) to sign them as the provider does"
                ],
            )
        forged_credentials = {**credentials, secret_key: f"forged-{credentials[secret_key]}"}

        def judge(body: bytes, headers: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
            delivery = Delivery(
                inlet_id="conformance",
                flow_id="conformance",
                headers={k.lower(): v for k, v in headers.items()},
                query={},
                body=body,
                config=dict(config),
            )
            try:
                return registry.call("sourceflow_verify_delivery", source, request=delivery)
            except Exception as exc:
                return exc

        problems: list[str] = []
        fix = (
            "compare with sourceflow.signatures.same and answer Verdict(authentic=False, "
            "reason=...) for anything that does not check out"
        )

        def expect(case: str, verdict: Any, authentic: bool) -> None:
            if isinstance(verdict, Exception):
                problems.append(
                    f"sourceflow_verify_delivery raised {type(verdict).__name__} on {case} "
                    f"(the inlet would refuse it, but a verifier never raises): {fix}"
                )
            elif not isinstance(verdict, Verdict):
                problems.append(f"sourceflow_verify_delivery answered {verdict!r} on {case}")
            elif verdict.authentic != authentic:
                problems.append(
                    f"sourceflow_verify_delivery judged {case} "
                    f"{'authentic' if verdict.authentic else 'not authentic'}"
                    + ("" if authentic else f": {fix}")
                )
            elif not authentic and not verdict.reason:
                problems.append(f"sourceflow_verify_delivery refused {case} without a reason")

        first = judge(body, headers, credentials)
        expect("a delivery signed with the flow's secret", first, True)
        again = judge(body, headers, credentials)
        if (
            isinstance(first, Verdict)
            and isinstance(again, Verdict)
            and first.delivery_id != again.delivery_id
        ):
            problems.append(
                "a replayed delivery got another delivery_id: name a delivery by the "
                "provider's id for it, so a redelivery is stored once"
            )
        expect(
            f"a delivery signed with another {secret_key}",
            judge(body, self.sign(body, forged_credentials), credentials),
            False,
        )
        altered = body + b" " if body.rstrip() == body else body.rstrip()
        expect(
            "a delivery whose body changed after signing",
            judge(altered, headers, credentials),
            False,
        )
        expect("a delivery with no signature headers", judge(body, {}, credentials), False)
        without = {k: v for k, v in credentials.items() if k != secret_key}
        expect(f"a delivery to a flow with no {secret_key}", judge(body, headers, without), False)
        # The signature headers are those without which the delivery is refused.
        needed = [
            name
            for name in headers
            if not _authentic(
                judge(body, {k: v for k, v in headers.items() if k != name}, credentials)
            )
        ]
        if not needed:
            problems.append(
                "the delivery was judged authentic with each of the headers sign() adds left "
                "out: the signature is not checked"
            )
        for junk in ("", "\u00e9\u00e8 not ascii", "\ud800", "=" * 4000, "t=,v1=,sha256=", "\x00"):
            for name in needed:
                expect(
                    f"{name}: {junk[:20]!r}",
                    judge(body, {**headers, name: junk}, credentials),
                    False,
                )
        if problems:
            _fail(subject.name, list(dict.fromkeys(problems)))

    def test_the_live_inlet_stores_nothing_forged_on_any_route(
        self,
        subject: Subject,
        plugin_credentials: Mapping[str, Any],
        sourceflow_platform: LocalPlatform,
        sourceflow_client: FlowServiceClient,
        sourceflow_dataset: str,
        tmp_path: Path,
    ) -> None:
        """Through ``connect`` and the running inlet: forged, altered and unsigned deliveries
        are refused with 401 on the one-message and the batch routes, and no row lands."""
        source = subject.source
        if source.inlet_on is None or not subject.registry.implements(
            "sourceflow_verify_delivery", source
        ):
            pytest.skip(f"{subject.name} has no signed inlet to attack")
        credentials = dict(plugin_credentials)
        secret_key = str(source.delivery_secret)
        lifecycle, done = self._connect(
            subject,
            sourceflow_client,
            sourceflow_dataset,
            credentials,
            "conformance-forged",
            tmp_path / "s.json",
        )
        assert done.inlet_url
        payload = next(iter(self._samples().get(self._object()) or [{}]))
        forged = {**credentials, secret_key: f"forged-{credentials.get(secret_key)}"}
        problems = []
        for route, body in (
            ("one message", json.dumps(payload).encode()),
            ("a batch", json.dumps({"messages": [payload]}).encode()),
        ):
            url = done.inlet_url
            if route == "a batch":
                url = url.replace("/collection/", "/collection/batch/")
            signed = self.sign(body, credentials)
            for case, sent, headers in (
                ("forged", body, self.sign(body, forged)),
                ("altered", body + b" ", signed),
                ("unsigned", body, {}),
            ):
                answer = httpx.post(
                    url,
                    content=sent,
                    headers={"content-type": "application/json", **headers},
                    timeout=10,
                )
                if answer.status_code != 401:
                    problems.append(
                        f"the inlet answered {answer.status_code} to {case} {route}, expected 401"
                    )
        sourceflow_platform.wait_idle(self.timeout)
        rows = sourceflow_client.dataset_rows(sourceflow_dataset)
        if rows:
            problems.append(f"{len(rows)} forged deliveries reached the dataset")
        self._teardown(lifecycle, sourceflow_client, "conformance-forged")
        if problems:
            _fail(subject.name, problems)

    def _connect(
        self,
        subject: Subject,
        client: FlowServiceClient,
        dataset: str,
        credentials: Mapping[str, Any],
        name: str,
        state_path: Path,
    ) -> tuple[Lifecycle, Connected]:
        """``connect`` the subject's source as a user would, recording into ``state_path``."""
        lifecycle = Lifecycle(client, subject.registry, StateFile(state_path))
        done = lifecycle.connect(
            ConnectRequest(
                source=subject.source.name,
                name=name,
                dataset_id=dataset,
                credentials=dict(credentials),
                object=self._object(),
                tenant=self.tenant,
            )
        )
        return lifecycle, done

    @staticmethod
    def _teardown(lifecycle: Lifecycle, client: FlowServiceClient, name: str) -> None:
        record = lifecycle.state.get(name, client.settings.platform_url, client.settings.sandbox)
        if record is not None:
            lifecycle.teardown(record)

    def _post(
        self, url: str, flow_id: str, body: bytes, credentials: Mapping[str, Any]
    ) -> httpx.Response:
        headers = {
            "content-type": "application/json",
            FLOW_HEADER: flow_id,
            **self.sign(body, credentials),
        }
        return httpx.post(url, content=body, headers=headers, timeout=10)


def _authentic(verdict: Any) -> bool:
    return isinstance(verdict, Verdict) and verdict.authentic


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail") or answer.text)[:300]
    except (ValueError, AttributeError):
        return answer.text[:300]


def _fail(plugin: str, problems: list[str]) -> NoReturn:
    """Fail the test with every problem on a line of its own, each naming the plugin."""
    pytest.fail("\n".join(f"{plugin}: {p}" for p in problems), pytrace=False)


def _read_problems(read: ReadResult, obj: Any) -> list[str]:
    """What is wrong with the first records (or the first page) of a read."""
    called = f"sourceflow_read(object={obj!r})"
    if read.pages is not None:
        page = next(iter(read.pages), None)
        if page is None:
            return []
        if not isinstance(page, Page):
            return [f"{called} gives {type(page).__name__} pages, expected sourceflow.Page"]
        found = (
            []
            if isinstance(page.state, Mapping)
            else [
                f"{called}: a page's state is {type(page.state).__name__}, expected a JSON object"
            ]
        )
        try:
            json.dumps(page.state)
        except (TypeError, ValueError) as exc:
            found.append(f"{called}: a page's state is not JSON ({exc}); the platform stores it")
        first = list(itertools.islice(iter(page.records), 1))
    else:
        found = []
        first = list(itertools.islice(iter(read.records), 1))
    if first and not isinstance(first[0], Mapping):
        found.append(
            f"{called} yields {type(first[0]).__name__} records, expected JSON objects (dicts)"
        )
    return found
