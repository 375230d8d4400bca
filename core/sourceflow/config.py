"""Where the Flow Service is and who we are to it.

Everything defaults to the local platform (``http://127.0.0.1:8300``) and its dev credentials,
so nothing needs configuring on one machine. Point ``SOURCEFLOW_PLATFORM_URL`` at
``https://platform.adobe.io`` and set the ``SOURCEFLOW_CLIENT_ID`` … variables to use Adobe's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from attrs import define, evolve, field

from sourceflow import redact
from sourceflow.errors import ConfigError

LOCAL_URL = "http://127.0.0.1:8300"
ADOBE_PLATFORM_URL = "https://platform.adobe.io"
ADOBE_IMS_URL = "https://ims-na1.adobelogin.com"

# The local platform's development credentials. They guard nothing but a loopback service,
# which is why they may be written here; both sides default to them.
DEV_CLIENT_ID = "sourceflow-local"
DEV_CLIENT_SECRET = "sourceflow-local-dev-secret"  # noqa: S105 (public by design, see above)
DEV_ORG_ID = "SOURCEFLOWLOCAL000000000@AdobeOrg"
DEV_SANDBOX = "prod"
DEFAULT_SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext"

FLOWSERVICE_PATH = "/data/foundation/flowservice"
DATAPREP_PATH = "/data/foundation/conversion"
CATALOG_PATH = "/data/foundation/catalog"
IMS_TOKEN_PATH = "/ims/token/v3"  # noqa: S105 (a path, not a secret)

ENV = {
    "platform_url": "SOURCEFLOW_PLATFORM_URL",
    "ims_url": "SOURCEFLOW_IMS_URL",
    "client_id": "SOURCEFLOW_CLIENT_ID",
    "client_secret": "SOURCEFLOW_CLIENT_SECRET",
    "org_id": "SOURCEFLOW_ORG_ID",
    "sandbox": "SOURCEFLOW_SANDBOX",
    "scopes": "SOURCEFLOW_SCOPES",
    "tenant": "SOURCEFLOW_TENANT",
}


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"not an http(s) URL: {value!r}", hint="write it as http://host:port or https://host"
        )
    return value.rstrip("/")


@define(kw_only=True, frozen=True)
class Settings:
    """Connection settings for the client. ``client_secret`` is never shown in ``repr``."""

    platform_url: str = field(default=LOCAL_URL, converter=_url)
    ims_url: str | None = None
    client_id: str = DEV_CLIENT_ID
    client_secret: str = field(default=DEV_CLIENT_SECRET, repr=False)
    org_id: str = DEV_ORG_ID
    sandbox: str = DEV_SANDBOX
    scopes: str = DEFAULT_SCOPES
    tenant: str = "sourceflow"
    timeout: float = 30.0

    def __attrs_post_init__(self) -> None:
        redact.register(self.client_secret)

    @property
    def is_adobe(self) -> bool:
        """Whether the platform URL is Adobe's rather than a local platform."""
        return (urlsplit(self.platform_url).hostname or "").endswith("adobe.io")

    @property
    def token_url(self) -> str:
        """The IMS token endpoint: Adobe's for Adobe, the platform's own otherwise."""
        base = self.ims_url or (ADOBE_IMS_URL if self.is_adobe else self.platform_url)
        return base.rstrip("/") + IMS_TOKEN_PATH

    @property
    def api_key(self) -> str:
        """``x-api-key``: Adobe's API key is the client id."""
        return self.client_id

    def with_platform(self, url: str | None) -> Settings:
        """The same settings pointed at another platform URL (a ``--platform`` flag)."""
        return self if not url else evolve(self, platform_url=url)


def from_env(environ: Mapping[str, str] | None = None, **overrides: str | None) -> Settings:
    """Settings from ``SOURCEFLOW_*`` variables, then ``overrides`` (flags) on top.

    Against Adobe, the client id, secret and organization must be given: the local dev
    credentials would only be refused there.
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {k: env[v] for k, v in ENV.items() if env.get(v)}
    values.update({k: v for k, v in overrides.items() if v})
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.is_adobe:
        missing = [ENV[k] for k in ("client_id", "client_secret", "org_id") if k not in values]
        if missing:
            raise ConfigError(
                f"{settings.platform_url} is Adobe's platform but {', '.join(missing)} is not set",
                hint="export them from your Adobe Developer Console project's OAuth "
                "server-to-server credential",
            )
    return settings
