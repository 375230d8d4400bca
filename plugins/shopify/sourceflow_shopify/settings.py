"""The plugin's settings: one name each, one environment variable each, read one way.

``connect`` takes a setting as ``--param NAME=VALUE``; a command of this plugin takes it as the
option ``--name-in-kebab-case``; either falls back on the setting's environment variable. So
``adminUrl`` is ``--param adminUrl=URL`` on ``connect``, ``--admin-url URL`` on ``shopify
login``, and ``SOURCEFLOW_SHOPIFY_ADMIN_URL`` for both. The table in
``docs/sources/shopify.md`` lists the same rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


# A dataclass, not attrs: the plugin loads this module, and ``sourceflow plugins`` never imports
# attrs.
@dataclass(frozen=True)
class Setting:
    """One setting: its ``--param`` name, the environment variable read when it is not given."""

    name: str
    env: str | None = None

    @property
    def option(self) -> str:
        """The command-line option: ``adminUrl`` -> ``--admin-url``."""
        return "--" + re.sub(r"(?<!^)([A-Z])", r"-\1", self.name).lower()

    def read(self, given: Mapping[str, Any] | None = None) -> str | None:
        """The value in ``given`` (blank counts as absent), else the environment's, else None."""
        value = (given or {}).get(self.name)
        if value is not None and str(value).strip():
            return str(value).strip()
        from_env = os.environ.get(self.env) if self.env else None
        return from_env.strip() if from_env and from_env.strip() else None


SHOP = Setting("shop")
CLIENT_ID = Setting("clientId", "SHOPIFY_CLIENT_ID")
CLIENT_SECRET = Setting("clientSecret", "SHOPIFY_CLIENT_SECRET")
ACCESS_TOKEN = Setting("accessToken", "SHOPIFY_ACCESS_TOKEN")
ADMIN_URL = Setting("adminUrl", "SOURCEFLOW_SHOPIFY_ADMIN_URL")
TOKENS = Setting("tokens", "SOURCEFLOW_SHOPIFY_TOKENS")
TOPICS = Setting("topics")
API_VERSION = Setting("apiVersion")
ADMIN_API = Setting("adminApi")

CONNECT = (SHOP, CLIENT_SECRET, ACCESS_TOKEN, TOPICS, API_VERSION, ADMIN_API, ADMIN_URL)
"""What ``connect`` takes as ``--param``."""
