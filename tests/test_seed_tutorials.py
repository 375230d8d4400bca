r"""The four seed tutorials (../shared/reference/seeds: HTTP API, Shopify Streaming, Stripe,
Chatlio), their requests as published: each ``curl`` line is read from the page itself, and
only the host, the token and the ids are substituted before it is sent to the local platform.

"Answers as Adobe documents": the status Adobe's API gives for the call (201 for a create,
200 for Data Prep's create, a read and the inlet), and every key of the answer the tutorial
shows right after the request is in ours (for ``{"items": [...]}``, every key of its first
item).

Ids are substituted by what they name: an id the tutorial's own answer showed becomes the id
ours gave; a placeholder (``{BASE_CONNECTION_ID}``) or an id the page never created (its
dataset, its mapping set) becomes the matching resource this test created, by where it sits
(a path segment, ``dataSetId``, ``mappingId`` …).

Where a tutorial's own text is broken, the test says so, checks that the answer to the request
as written names the problem, then sends it corrected as little as possible:

- HTTP API, the authenticated connection: the ``-d`` body's closing quote is missing (a shell
  would wait for more input); the body itself is valid JSON and is sent as it stands.
- Stripe, the base and source connections: a trailing comma makes the body invalid JSON (400
  naming the line and column); sent without the comma.
- Stripe, the flow: no ``Authorization`` header (401 naming the missing token), and
  ``"interval": {{interval}}``, a template placeholder that is not JSON (400 naming where);
  sent with the header and the tutorial's smallest minute interval, 15.
- Chatlio, the flow: no ``Authorization`` header (401); sent with it. Its dataflow read names
  a flow id (``4982698b…``) other than the one its create answered: the created flow is read.
- Shopify (French and Korean pages): both requests go to Shopify, none to Platform (the
  Platform side is the generic streaming tutorial, as Chatlio's); the page's webhook address
  is an inlet URL of the shape our inlets have. Its own text is broken too (a header line
  without its ``\``, a stray ``\; request_method=POST'``), but those requests are Shopify's.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway import dev_token, gateway_headers
from shared_reference import reference

from sourceflow.config import DEV_CLIENT_ID, DEV_ORG_ID
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background

REPO = Path(__file__).resolve().parents[1]
SEEDS = reference("seeds", needed_for="the seed tutorials cannot be replayed", module=True)
HTTP_API, STRIPE, CHATLIO = "002_f4dc8d777ab361d2", "003_a6238b651ceb92b6", "004_d73bf9b0fbe80bf6"
SHOPIFY = ("000_e82eadcb03a37c8f", "001_03e81097fd0aba42")  # French, Korean
PLATFORM_HOSTS = ("https://platform.adobe.io", "https://dcs.adobedc.net")
SANDBOX = "prod"
SCHEMA = "https://ns.adobe.com/sourceflow/schemas/seed"

# The Stripe plugin's fake Stripe (its documented list protocol), reused rather than copied.
sys.path.insert(0, str(REPO / "plugins" / "stripe" / "tests"))
from fakestripe import KEY as STRIPE_KEY  # noqa: E402
from fakestripe import FakeStripe, fixtures  # noqa: E402

# --- reading the tutorials --------------------------------------------------------------------


class Curl:
    """One ``curl`` line of a tutorial, as published, and the answer the page shows for it."""

    def __init__(self, text: str, line: int, shown: Any, unterminated: bool) -> None:
        self.line, self.shown, self.unterminated = line, shown, unterminated
        tokens = shlex.split(text.replace("\\\n", " ") + ("'" if unterminated else ""))
        self.method, self.url, self.body = "GET", "", None
        self.headers: dict[str, str] = {}
        i = 1
        while i < len(tokens):
            token = tokens[i]
            if token == "-X":
                self.method, i = tokens[i + 1], i + 2
            elif token == "-H":
                name, _, value = tokens[i + 1].partition(":")
                self.headers[name.strip()] = value.strip()
                i += 2
            elif token == "-d":
                self.body, i = tokens[i + 1], i + 2
            else:
                self.url = self.url or token
                i += 1

    @property
    def platform(self) -> bool:
        return self.url.startswith(PLATFORM_HOSTS)

    def __repr__(self) -> str:
        return f"{self.method} {self.url} (line {self.line})"


def curls(name: str) -> list[Curl]:
    """The tutorial's ``curl`` lines, in order: a command runs on while its lines end with
    ``\\`` or a quote is open, and stops at a code fence."""
    lines = (SEEDS / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        if not lines[i].strip().startswith("curl "):
            i += 1
            continue
        start, buf = i, []
        while i < len(lines) and not lines[i].strip().startswith("```"):
            buf.append(lines[i])
            i += 1
            if not buf[-1].rstrip().endswith("\\") and "\n".join(buf).count("'") % 2 == 0:
                break
        text = "\n".join(buf)
        found.append(Curl(text, start + 1, _shown_after(lines[i:]), text.count("'") % 2 == 1))
    return found


def _shown_after(lines: list[str]) -> Any:
    """The first JSON document the page shows after a request, before the next one."""
    rest = "\n".join(lines)
    rest = rest.split("\ncurl ", 1)[0]
    m = re.search(r"^\s*[\{\[]", rest, re.M)
    if m is None:
        return None
    try:
        return json.JSONDecoder().raw_decode(rest[m.start() :].lstrip())[0]
    except ValueError:
        return None


# --- replaying them ---------------------------------------------------------------------------


class Replay:
    """Sends a tutorial's requests to the local platform, substituting host, token and ids."""

    def __init__(self, url: str, token: str, dataset: str, mapping: str) -> None:
        self.url, self.token = url, token
        self.ids: dict[str, str] = {
            "{ACCESS_TOKEN}": token,
            "{API_KEY}": DEV_CLIENT_ID,
            "{ORG_ID}": DEV_ORG_ID,
            "{IMS_ORG}": DEV_ORG_ID,
            "{SANDBOX_NAME}": SANDBOX,
            "{DATASET_ID}": dataset,
        }
        self.latest: dict[str, str] = {"dataSets": dataset, "mappingSets": mapping}
        self.inlets: dict[str, str] = {}

    def _text(self, text: str) -> str:
        for old, new in self.ids.items():
            text = text.replace(old, new)
        return text

    def _url(self, url: str) -> str:
        url = self._text(url)
        for host in PLATFORM_HOSTS:
            url = url.replace(host, self.url)

        # A path id the page never created names the latest resource of that kind.
        def ours(m: re.Match[str]) -> str:
            kind, rid = m.group(1), m.group(2)
            known = set(self.ids.values())
            if kind == "collection":
                return (
                    f"/collection/{rid if rid in self.inlets.values() else self.inlets['latest']}"
                )
            return f"/{kind}/{rid if rid in known else self.latest[kind]}"

        return re.sub(r"/(connections|flows|collection)/([^/?]+)", ours, url)

    def _body(self, body: str | None) -> bytes | None:
        if body is None:
            return None
        text = self._text(body)
        if "accessToken" in text:
            # Stripe's page writes its API key as {ACCESS_TOKEN} too, once substituted above.
            text = text.replace(f'"accessToken": "{self.token}"', f'"accessToken": "{STRIPE_KEY}"')
        try:
            doc = json.loads(text)
        except ValueError:
            return text.encode()  # broken as published: sent as it stands
        return json.dumps(self._ids_in(doc)).encode()

    def _ids_in(self, doc: Any) -> Any:
        known = set(self.ids.values())
        if isinstance(doc, dict):
            out = {}
            for key, value in doc.items():
                kind = {
                    "dataSetId": "dataSets",
                    "mappingId": "mappingSets",
                    "baseConnectionId": "connections",
                    "sourceConnectionIds": "sourceConnections",
                    "targetConnectionIds": "targetConnections",
                }.get(key)
                if kind and isinstance(value, str) and value not in known:
                    value = self.latest[kind]
                elif kind and isinstance(value, list):
                    value = [v if v in known else self.latest[kind] for v in value]
                out[key] = self._ids_in(value)
            return out
        if isinstance(doc, list):
            return [self._ids_in(v) for v in doc]
        return doc

    def send(
        self, curl: Curl, *, headers: dict[str, str] | None = None, body: str | None = None
    ) -> httpx.Response:
        """The request as published (or with ``headers``/``body`` given instead)."""
        sent = {k: self._text(v) for k, v in (headers or curl.headers).items()}
        if "x-adobe-flow-id" in sent and sent["x-adobe-flow-id"] not in self.ids.values():
            sent["x-adobe-flow-id"] = self.latest["flows"]
        return httpx.request(
            curl.method,
            self._url(curl.url),
            headers=sent,
            content=self._body(body if body is not None else curl.body),
        )

    def created(self, curl: Curl, answer: httpx.Response) -> None:
        """Remember what a create made: the page's id for it now means ours."""
        kind = re.search(r"/(connections|sourceConnections|targetConnections|flows|mappingSets)$",
                         curl.url)  # fmt: skip
        if kind is None:
            return
        ours = answer.json()["id"]
        self.latest[kind.group(1)] = ours
        if isinstance(curl.shown, dict) and "id" in curl.shown:
            self.ids.setdefault(curl.shown["id"], ours)
        placeholder = {
            "connections": ("{CONNECTION_ID}", "{BASE_CONNECTION_ID}"),
            "sourceConnections": ("{SOURCE_CONNECTION_ID}",),
            "targetConnections": ("{TARGET_CONNECTION_ID}",),
        }.get(kind.group(1), ())
        for name in placeholder:
            self.ids.setdefault(name, ours)
        if kind.group(1) == "connections" and "latest" not in self.inlets:
            got = httpx.get(
                f"{self.url}/data/foundation/flowservice/connections/{ours}",
                headers=self.gateway(),
            ).json()["items"][0]["auth"]["params"]
            self.inlets["latest"] = got.get("inletId", "")

    def gateway(self) -> dict[str, str]:
        return gateway_headers(self.url, token=self.token, sandbox=SANDBOX)


def as_documented(curl: Curl, answer: httpx.Response) -> None:
    """The status Adobe answers for this call, and the keys the page shows, in ours."""
    if curl.url.endswith("/mappingSets") or "/collection/" in curl.url or curl.method == "GET":
        expected = 200
    else:
        expected = 201
    assert answer.status_code == expected, f"{curl!r}: {answer.status_code} {answer.text}"
    shown, ours = curl.shown, answer.json()
    if isinstance(shown, dict) and "items" in shown:
        shown, ours = shown["items"][0], ours["items"][0]
    if isinstance(shown, dict):
        missing = set(shown) - set(ours)
        assert not missing, f"{curl!r}: the page shows {sorted(missing)}, we do not answer them"


@pytest.fixture
def platform(tmp_path, monkeypatch) -> Iterator[tuple[Replay, FakeStripe]]:
    """The local platform (no scheduler: runs are not what the tutorials test), a fake Stripe,
    and a Replay holding a dataset and a mapping set: the tutorials' prerequisites."""
    fixtures()
    stripe = FakeStripe(keys=(STRIPE_KEY,))
    stripe.add("charges", 3)
    app = create_app(PlatformConfig(data_dir=tmp_path / "platform", scheduler=False))
    with background(stripe.app) as stripe_url, background(app) as url:
        monkeypatch.setenv("SOURCEFLOW_STRIPE_API_BASE", stripe_url)
        token = dev_token(url)
        gateway = gateway_headers(url, token=token, sandbox=SANDBOX)
        dataset = (
            httpx.post(
                f"{url}/data/foundation/catalog/dataSets",
                json={"name": "seed", "schemaRef": {"id": SCHEMA}},
                headers=gateway,
            )
            .json()[0]
            .rsplit("/", 1)[-1]
        )
        mapping = httpx.post(
            f"{url}/data/foundation/conversion/mappingSets",
            json={
                "outputSchema": {"schemaRef": {"id": SCHEMA}},
                "mappings": [{"sourceAttribute": "data.id", "destinationXdmPath": "_x.id"}],
            },
            headers=gateway,
        ).json()["id"]
        yield Replay(url, token, dataset, mapping), stripe
    stripe.release.set()


# --- the tutorials ----------------------------------------------------------------------------


def test_the_http_api_tutorial_as_published(platform):
    replay, _ = platform
    calls = curls(HTTP_API)
    assert [c.platform for c in calls] == [True] * 7
    for curl in calls:
        if curl.unterminated:
            # The page's authenticated connection: the -d body's closing quote is missing.
            assert (
                curl.line == 140
                and curl.body is not None
                and '"authenticationRequired": true' in curl.body
            )
        answer = replay.send(curl)
        as_documented(curl, answer)
        replay.created(curl, answer)
    # The inlet answered for the connection and flow the page created.
    assert answer.json()["inletId"] == replay.inlets["latest"]
    assert re.fullmatch(r"[0-9a-f]{64}", replay.inlets["latest"])


def test_the_stripe_tutorial_as_published(platform):
    replay, stripe = platform
    calls = curls(STRIPE)
    assert [c.url.rsplit("/", 1)[-1].split("?")[0] for c in calls] == [
        "connections", "explore", "sourceConnections", "targetConnections", "flows",
    ]  # fmt: skip
    for curl in calls:
        assert curl.platform
        if curl.body is not None and re.search(r",\s*\}", curl.body):
            # Broken as published: a trailing comma. The answer names where the JSON breaks.
            refused = replay.send(curl)
            assert refused.status_code == 400, refused.text
            assert re.search(r"line \d+", refused.json()["detail"]), refused.text
            answer = replay.send(curl, body=re.sub(r",(\s*\})", r"\1", curl.body))
        elif "Authorization" not in curl.headers:
            # Broken as published: the flow request sends no token.
            refused = replay.send(curl)
            assert refused.status_code == 401
            assert refused.json() == {"error_code": "401013", "message": "Oauth token is missing"}
            with_token = {"Authorization": "Bearer {ACCESS_TOKEN}", **curl.headers}
            assert curl.body is not None and "{{interval}}" in curl.body
            refused = replay.send(curl, headers=with_token)
            assert refused.status_code == 400
            assert re.search(r"line \d+", refused.json()["detail"]), refused.text
            answer = replay.send(
                curl, headers=with_token, body=curl.body.replace("{{interval}}", "15")
            )
        else:
            answer = replay.send(curl)
        if curl.url.split("?")[0].endswith("/explore"):
            # Explore answers the structure of Stripe's charges (the page shows none).
            assert answer.status_code == 200, answer.text
            assert answer.json()["format"] == "hierarchical" and "schema" in answer.json()
            assert [p for _, p, _ in stripe.requests] == ["/v1/charges"]  # with the key
            continue
        as_documented(curl, answer)
        replay.created(curl, answer)


def test_the_chatlio_tutorial_as_published(platform):
    replay, _ = platform
    calls = curls(CHATLIO)
    assert [c.platform for c in calls] == [True] * 5
    for curl in calls:
        if "Authorization" not in curl.headers:
            # Broken as published: the flow request sends no token.
            refused = replay.send(curl)
            assert refused.status_code == 401
            assert "token is missing" in refused.json()["message"]
            answer = replay.send(curl, headers={"Authorization": "Bearer {ACCESS_TOKEN}",
                                                **curl.headers})  # fmt: skip
        else:
            answer = replay.send(curl)
        as_documented(curl, answer)
        replay.created(curl, answer)
    # The dataflow read (of the created flow) carries the inlet Chatlio posts to.
    options = answer.json()["items"][0]["options"]
    assert options["inletUrl"].startswith(f"{replay.url}/collection/")


@pytest.mark.parametrize("name", SHOPIFY, ids=["french", "korean"])
def test_the_shopify_tutorial_sends_nothing_to_platform(name):
    """Both of the page's requests go to Shopify (OAuth token, webhook); its Platform side is
    the generic streaming tutorial. Its webhook address is an inlet URL: /collection/ and 64
    hex characters, the shape of the inlet ids this platform gives (test_the_http_api_...)."""
    calls = curls(name)
    assert len(calls) == 2 and not any(c.platform for c in calls)
    assert all(".myshopify.com/admin/" in c.url for c in calls)
    address = calls[1].shown["webhook"]["address"]
    assert re.fullmatch(r"https://dcs\.adobedc\.net/collection/[0-9a-f]{64}", address)
