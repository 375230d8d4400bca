"""The local platform's gateway for tests: a dev token, the four Platform headers, a client
that sends them. Importable from every test folder (``pythonpath = ["tests"]``), so a fixture
that needs the gateway calls these instead of writing the token request out again."""

from __future__ import annotations

import ssl

import httpx

from sourceflow.config import DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_ORG_ID

# Building an SSL context costs ~80 ms per client; loopback needs none, so share one.
SSL = ssl.create_default_context()


def dev_token(base_url: str) -> str:
    """A token from the platform's IMS endpoint, for the dev client."""
    with httpx.Client(verify=SSL) as client:
        answer = client.post(
            f"{base_url}/ims/token/v3",
            data={
                "grant_type": "client_credentials",
                "client_id": DEV_CLIENT_ID,
                "client_secret": DEV_CLIENT_SECRET,
                "scope": "openid,AdobeID",
            },
        )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def gateway_headers(
    base_url: str, *, token: str | None = None, sandbox: str = "prod"
) -> dict[str, str]:
    """The four Platform headers, with a fresh dev token unless ``token`` is given."""
    return {
        "Authorization": f"Bearer {token or dev_token(base_url)}",
        "x-api-key": DEV_CLIENT_ID,
        "x-gw-ims-org-id": DEV_ORG_ID,
        "x-sandbox-name": sandbox,
    }


def platform_client(
    base_url: str, *, token: str | None = None, sandbox: str = "prod"
) -> httpx.Client:
    """An httpx client sending the four Platform headers (with a fresh dev token by default)."""
    return httpx.Client(
        base_url=base_url,
        verify=SSL,
        timeout=10,
        headers=gateway_headers(base_url, token=token, sandbox=sandbox),
    )
