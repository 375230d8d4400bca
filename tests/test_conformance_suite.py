"""The conformance suite fails loudly, naming the plugin and the broken rule, on a plugin that
breaks the rules; and passes a good one. Each case runs an inner pytest session (pytester)."""

from __future__ import annotations

import textwrap

import pytest

from sourceflow.model import MappingRule
from sourceflow.testing import checks

pytest_plugins = ["pytester"]

# A small generic-streaming plugin, correct as written; each case breaks one thing in it.
GOOD = """
import sourceflow
from sourceflow.hooktypes import (
    PROVIDER_STREAMING, ConnectionSpec, ExploreResult, Source, SourceSpec,
    generic_streaming_flow_spec,
)
from sourceflow.model import MappingRule
from sourceflow.testing import PluginConformance

SPEC_ID = "6f0c1c1e-2b1a-4d7e-9f3a-0c5e2f4d8a11"
SOURCE_SCHEMA = {"type": "object", "properties": {}}
SOURCE = Source(
    name="acme",
    title="Acme",
    connection_spec=ConnectionSpec(
        id=SPEC_ID, name="Acme", provider_id=PROVIDER_STREAMING,
        source_spec=SourceSpec(name="Acme", spec=SOURCE_SCHEMA),
    ),
    flow_specs=(generic_streaming_flow_spec(SPEC_ID),),
    inlet_on="flow",
    needs_base_connection=False,
    target_format="json",
    unsigned=True,
)
VISITOR = "visitor.UUID"
LISTING = [{"name": "Visits", "type": "event", "path": "visit"}]


class AcmePlugin:
    @sourceflow.hookimpl
    def sourceflow_sources(self):
        return [SOURCE]

    @sourceflow.hookimpl
    def sourceflow_mapping_defaults(self, source, object, tenant):
        return [
            MappingRule.in_tenant("id", "acme.id", tenant, identity=True),
            MappingRule.in_tenant(VISITOR, "acme.visitor", tenant),
        ]

    @sourceflow.hookimpl
    def sourceflow_explore(self, source, connection, request):
        if request.object is None:
            return ExploreResult(items=LISTING)
        return ExploreResult(format="hierarchical", schema={"type": "object"}, data=[SAMPLE])


SAMPLE = {"id": "v-1", "visitor": {"UUID": "2d3f4260"}}
"""

SUITE = """

class TestAcme(PluginConformance):
    plugin = AcmePlugin()
    plugin_name = "sourceflow-acme"
    samples = {"visit": [SAMPLE]}
"""


def run(pytester: pytest.Pytester, *replacements: tuple[str, str]) -> pytest.RunResult:
    code = GOOD
    for old, new in replacements:
        assert old in code, old
        code = code.replace(old, new)
    pytester.makepyfile(test_acme=textwrap.dedent(code) + SUITE)
    return pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")


def test_a_good_plugin_passes(pytester):
    result = run(pytester)
    # the two rules about signed deliveries skip: Acme declares its deliveries unsigned
    result.assert_outcomes(passed=9, skipped=3)


@pytest.mark.parametrize(
    ("replacements", "test", "message"),
    [
        (
            [('SPEC_ID = "6f0c1c1e-2b1a-4d7e-9f3a-0c5e2f4d8a11"', 'SPEC_ID = "acme-1"')],
            "test_connection_spec_is_well_formed",
            "sourceflow-acme: source 'acme': connection spec id 'acme-1' is not a UUID",
        ),
        (
            [('{"type": "object", "properties": {}}', '{"type": "objekt", "required": ["x"]}')],
            "test_connection_spec_is_well_formed",
            "sourceflow-acme: source 'acme': sourceSpec.spec is not a valid JSON schema",
        ),
        (
            [('{"type": "object", "properties": {}}', '{"type": "object", "required": ["x"]}')],
            "test_connection_spec_is_well_formed",
            "sourceflow-acme: source 'acme': sourceSpec.spec requires 'x' but does not declare",
        ),
        (
            [('VISITOR = "visitor.UUID"', 'VISITOR = "visitor.uuid"')],
            "test_default_mappings_read_fields_the_samples_have",
            "sourceflow-acme: mapping rule mappings[1] (object 'visit') reads 'visitor.uuid', "
            "which no sample payload has",
        ),
        (
            [('"type": "event", ', "")],
            "test_explore_answers_in_adobes_shapes",
            "sourceflow-acme: explore listing items[0] has no 'type'",
        ),
        (
            [('format="hierarchical"', 'format="table"')],
            "test_explore_answers_in_adobes_shapes",
            "sourceflow-acme: explore (object='visit', sourceParams={}) answered format 'table'",
        ),
        (
            [
                (
                    "def sourceflow_explore(self, source, connection, request)",
                    "def sourceflow_exploer(self, source, connection, request)",
                )
            ],
            "test_hooks_match_their_specs",
            "sourceflow-acme: sourceflow_exploer is not a sourceflow hook (did you mean "
            "sourceflow_explore?)",
        ),
        (
            [
                (
                    "def sourceflow_mapping_defaults(self, source, object, tenant)",
                    "def sourceflow_mapping_defaults(self, source, object, tenant, schema)",
                )
            ],
            "test_hooks_match_their_specs",
            "sourceflow-acme: sourceflow_mapping_defaults takes 'schema', which its spec does "
            "not pass",
        ),
        (
            [
                (
                    'SPEC_ID = "6f0c1c1e-2b1a-4d7e-9f3a-0c5e2f4d8a11"',
                    'SPEC_ID = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"',
                )
            ],
            "test_ids_and_names_do_not_clash_with_installed_plugins",
            "sourceflow-acme: it clashes with an installed plugin: plugins 'sourceflow-http' and "
            "'sourceflow-acme' both provide 'bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb'",
        ),
        (
            [('    name="acme",', '    name="stripe",')],
            "test_ids_and_names_do_not_clash_with_installed_plugins",
            "sourceflow-acme: it clashes with an installed plugin: plugins 'sourceflow-stripe' and "
            "'sourceflow-acme' both provide 'stripe'",
        ),
        (
            [("    unsigned=True,\n", "")],
            "test_deliveries_are_verified_or_the_source_says_it_is_unsigned",
            "sourceflow-acme: it neither implements sourceflow_verify_delivery nor declares "
            "Source(unsigned=True)",
        ),
        (
            [
                (
                    "        return [\n            MappingRule",
                    "        return {'rules': [\n            MappingRule",
                ),
                ("tenant),\n        ]", "tenant),\n        ]}"),
            ],
            "test_hook_answers_have_the_right_types",
            "sourceflow-acme: sourceflow_mapping_defaults(object='visit') returned dict, "
            "expected a list of sourceflow.model.MappingRule or None",
        ),
    ],
    ids=[
        "bad-uuid",
        "invalid-json-schema",
        "undeclared-required",
        "mapping-reads-missing-field",
        "listing-item-without-type",
        "structure-in-wrong-format",
        "misspelt-hook",
        "argument-the-spec-does-not-pass",
        "wrong-return-type",
        "spec-id-of-a-built-in",
        "name-of-a-built-in",
        "neither-signed-nor-declared-unsigned",
    ],
)
def test_a_broken_plugin_fails_naming_the_plugin_and_the_rule(
    pytester, replacements, test, message
):
    result = run(pytester, *replacements)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) >= 1, result.stdout.str()
    result.stdout.fnmatch_lines([f"FAILED *::TestAcme::{test}*"])
    assert message in result.stdout.str(), result.stdout.str()


def test_a_plugin_whose_inlet_takes_nothing_fails_the_lifecycle(pytester):
    # verify_delivery refuses every delivery: the samples never reach the dataset.
    refuse = (
        "class AcmePlugin:\n",
        "class AcmePlugin:\n"
        "    @sourceflow.hookimpl\n"
        "    def sourceflow_verify_delivery(self, source, request):\n"
        "        from sourceflow.hooktypes import Verdict\n"
        "        return Verdict(authentic=False, reason='no signature')\n\n",
    )
    result = run(pytester, refuse)
    result.stdout.fnmatch_lines(
        ["sourceflow-acme: the inlet refused sample 0 of object 'visit' with 401: *no signature"]
    )


def test_mapping_rule_check_reads_expressions_fields():
    rule = MappingRule(
        source_attribute="lower(visitor.email)",
        destination_xdm_path="a",
        source_type="EXPRESSION",
    )
    problems = checks.mapping_problems([rule], [{"visitor": {"name": "x"}}], "no object")
    assert problems == [
        "mapping rule mappings[0] (no object) reads 'visitor.email', which no sample payload has"
    ]
    assert checks.mapping_problems([rule], [{"visitor": {"email": None}}], "no object") == []


# The same plugin, signing its deliveries as a provider would: HMAC-SHA256 of the body, hex, in
# X-Acme-Signature, keyed with the source connection's "signingSecret"; X-Acme-Delivery names it.
SIGNED = (
    ("    unsigned=True,\n", '    delivery_secret="signingSecret",\n'),
    (
        'SOURCE_SCHEMA = {"type": "object", "properties": {}}',
        'SOURCE_SCHEMA = {"type": "object", "properties": {"signingSecret": '
        '{"type": "string", "format": "password"}}}',
    ),
    (
        "class AcmePlugin:\n",
        "class AcmePlugin:\n"
        "    @sourceflow.hookimpl\n"
        "    def sourceflow_source_params(self, source, object, credentials):\n"
        "        from sourceflow.hooktypes import SourceParams\n"
        "        return SourceParams(params=dict(credentials))\n\n"
        "    @sourceflow.hookimpl\n"
        "    def sourceflow_verify_delivery(self, source, request):\n"
        "        import hashlib, hmac\n"
        "        from sourceflow.hooktypes import Verdict\n"
        "        secret = request.config.get('signingSecret')\n"
        "        if not secret:\n"
        "            return Verdict(authentic=False, reason='no signingSecret')\n"
        "        want = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()\n"
        "        given = request.headers.get('x-acme-signature')\n"
        "        if not sourceflow.signatures.same(given, want):\n"
        "            return Verdict(authentic=False, reason='X-Acme-Signature does not match')\n"
        "        return Verdict(authentic=True, delivery_id=request.headers.get('x-acme-delivery'))"
        "\n\n",
    ),
)
SIGNED_SUITE = """

class TestAcme(PluginConformance):
    plugin = AcmePlugin()
    plugin_name = "sourceflow-acme"
    samples = {"visit": [SAMPLE]}
    credentials = {"signingSecret": "acme-signing-secret"}

    def sign(self, body, credentials):
        import hashlib, hmac, uuid
        key = credentials["signingSecret"].encode()
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        delivery = str(uuid.uuid5(uuid.NAMESPACE_URL, digest))
        return {"X-Acme-Signature": digest, "X-Acme-Delivery": delivery}
"""


def run_signed(pytester: pytest.Pytester, *replacements: tuple[str, str]) -> pytest.RunResult:
    code = GOOD
    for old, new in (*SIGNED, *replacements):
        assert old in code, old
        code = code.replace(old, new)
    pytester.makepyfile(test_acme=textwrap.dedent(code) + SIGNED_SUITE)
    return pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")


def test_a_good_signed_plugin_passes_the_attacks(pytester):
    result = run_signed(pytester)
    result.assert_outcomes(passed=12)


@pytest.mark.parametrize(
    ("replacements", "test", "message"),
    [
        (
            [("        if not sourceflow.signatures.same(given, want):", "        if False:")],
            "test_verify_delivery_refuses_every_forgery_and_never_raises",
            "sourceflow-acme: sourceflow_verify_delivery judged a delivery signed with another "
            "signingSecret authentic",
        ),
        (
            [
                (
                    "        if not sourceflow.signatures.same(given, want):",
                    "        if not hmac.compare_digest(given or '', want):",
                )
            ],
            "test_verify_delivery_refuses_every_forgery_and_never_raises",
            "sourceflow-acme: sourceflow_verify_delivery raised TypeError on X-Acme-Signature",
        ),
        (
            [
                (
                    "            return Verdict(authentic=False, reason='no signingSecret')",
                    "            return Verdict(authentic=True)",
                )
            ],
            "test_verify_delivery_refuses_every_forgery_and_never_raises",
            "sourceflow-acme: sourceflow_verify_delivery judged a delivery to a flow with no "
            "signingSecret authentic",
        ),
        (
            [('    delivery_secret="signingSecret",\n', "")],
            "test_deliveries_are_verified_or_the_source_says_it_is_unsigned",
            "sourceflow-acme: it implements sourceflow_verify_delivery but names no "
            "delivery_secret",
        ),
        (
            [
                (
                    "delivery_id=request.headers.get('x-acme-delivery')",
                    "delivery_id=__import__('uuid').uuid4().hex",
                )
            ],
            "test_verify_delivery_refuses_every_forgery_and_never_raises",
            "sourceflow-acme: a replayed delivery got another delivery_id",
        ),
        (
            [
                (
                    "        secret = request.config.get('signingSecret')\n",
                    "        secret = request.config.get('signingSecret')\n"
                    "        print('checking with', secret)\n",
                )
            ],
            "test_secrets_never_leak",
            "sourceflow-acme: the value of 'signingSecret' appears in stdout",
        ),
    ],
    ids=[
        "accepts-forgeries",
        "raises-on-non-ascii",
        "fails-open",
        "no-secret-named",
        "unstable-id",
        "prints-the-secret",
    ],
)
def test_a_broken_verifier_fails_naming_the_hook_and_the_fix(pytester, replacements, test, message):
    result = run_signed(pytester, *replacements)
    result.stdout.fnmatch_lines([f"FAILED *::TestAcme::{test}*"])
    assert message in result.stdout.str(), result.stdout.str()
