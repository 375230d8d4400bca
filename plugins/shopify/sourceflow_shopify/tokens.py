"""Where ``sourceflow shopify login`` keeps access tokens, and where the plugin finds them.

One JSON file, readable by its owner only (``0600``), keyed by shop:
``.sourceflow/shopify-tokens.json`` unless ``SOURCEFLOW_SHOPIFY_TOKENS`` names another. The
plugin looks for a shop's token in ``--param accessToken``, then ``SHOPIFY_ACCESS_TOKEN``, then
this file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sourceflow import redact
from sourceflow.errors import ConfigError, SourceflowError

TOKENS_ENV = "SOURCEFLOW_SHOPIFY_TOKENS"
TOKEN_ENV = "SHOPIFY_ACCESS_TOKEN"  # noqa: S105 (the variable's name, not a token)
DEFAULT_PATH = Path(".sourceflow") / "shopify-tokens.json"


def default_path() -> Path:
    """The token file: ``$SOURCEFLOW_SHOPIFY_TOKENS`` or ``.sourceflow/shopify-tokens.json``."""
    return Path(os.environ.get(TOKENS_ENV) or DEFAULT_PATH)


class TokenStore:
    """Access tokens by shop, in one owner-only JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"the Shopify token file {self.path} is not readable: {type(exc).__name__}",
                hint="move it aside and run sourceflow shopify login again",
            ) from None
        return data if isinstance(data, dict) else {}

    def get(self, shop: str) -> str | None:
        """The stored token for ``shop``, or None."""
        entry = self._read().get(shop.lower())
        token = entry.get("accessToken") if isinstance(entry, dict) else None
        if isinstance(token, str) and token:
            redact.register(token)
            return token
        return None

    def put(self, shop: str, token: str, scope: str) -> None:
        """Store ``token`` for ``shop``; the file is created owner-only."""
        data = self._read()
        data[shop.lower()] = {"accessToken": token, "scope": scope}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)


def access_token(shop: str, credentials: Mapping[str, Any] | None = None) -> str:
    """The token to call ``shop``'s Admin API with: ``accessToken`` param, env, or the file."""
    given = (credentials or {}).get("accessToken") or os.environ.get(TOKEN_ENV)
    token = str(given) if given else TokenStore().get(shop)
    if not token:
        raise SourceflowError(
            f"no Shopify access token for {shop}",
            hint=f"run: sourceflow shopify login --shop {shop} --client-id ID "
            f"(or pass --param accessToken=..., or set {TOKEN_ENV})",
        )
    redact.register(token)
    return token
