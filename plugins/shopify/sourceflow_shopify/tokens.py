"""Where ``sourceflow shopify login`` keeps access tokens, and where the plugin finds them.

One JSON file per user, readable by its owner only (``0600``), keyed by shop:
``shopify-tokens.json`` in the user's config directory (``~/.config/sourceflow`` on Linux, as
:mod:`platformdirs` places it elsewhere), whatever directory a command runs from. The setting
``tokens`` (``--tokens``, ``SOURCEFLOW_SHOPIFY_TOKENS``) names another file. The plugin looks
for a shop's token in ``accessToken`` (``--param``, then ``SHOPIFY_ACCESS_TOKEN``), then in the
token file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
from attrs import frozen

from sourceflow import ConfigError, SourceflowError, redact
from sourceflow_shopify.settings import ACCESS_TOKEN, TOKENS

FILE_NAME = "shopify-tokens.json"
# Where tokens were kept before they had a per-user home: named in the hint when one is found.
LEGACY_PATH = Path(".sourceflow") / FILE_NAME


def default_path() -> Path:
    """The token file: the ``tokens`` setting, else the per-user one (absolute either way)."""
    given = TOKENS.read()
    if given:
        return Path(given).expanduser().absolute()
    return platformdirs.user_config_path("sourceflow", appauthor=False) / FILE_NAME


class TokenStore:
    """Access tokens by shop, in one owner-only JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = (path.expanduser().absolute() if path else None) or default_path()

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
        """Store ``token`` for ``shop``; the file (and its folder) are created owner-only."""
        data = self._read()
        data[shop.lower()] = {"accessToken": token, "scope": scope}
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)


@frozen
class FoundToken:
    """A shop's access token and where it was found (for an error to name what to fix)."""

    token: str
    origin: str
    path: Path | None = None


def find_token(
    shop: str, credentials: Mapping[str, Any] | None = None, token_file: str | None = None
) -> FoundToken:
    """The token to call ``shop``'s Admin API with, and where it came from.

    Looked for in ``accessToken`` (the param, then ``SHOPIFY_ACCESS_TOKEN``), then in
    ``token_file`` (the file a connect recorded), then in the token file of the ``tokens``
    setting or the per-user one.
    """
    given = ACCESS_TOKEN.read(credentials)
    if given:
        redact.register(given)
        origin = "--param accessToken" if (credentials or {}).get(ACCESS_TOKEN.name) else ""
        return FoundToken(given, origin or str(ACCESS_TOKEN.env))
    paths = [Path(token_file)] if token_file else []
    paths.append(default_path())
    for path in paths:
        store = TokenStore(path)
        token = store.get(shop)
        if token:
            return FoundToken(token, f"token file {store.path}", store.path)
    hint = (
        f"run: sourceflow shopify login --shop {shop} --client-id ID "
        f"(or pass --param accessToken=..., or set {ACCESS_TOKEN.env})"
    )
    if LEGACY_PATH.exists():
        hint += f"; {LEGACY_PATH.absolute()} is an old token file: move it to {paths[-1]}"
    raise SourceflowError(
        f"no Shopify access token for {shop} (looked in {', '.join(map(str, paths))})",
        hint=hint,
    )
