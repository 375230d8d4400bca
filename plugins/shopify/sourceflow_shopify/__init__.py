"""sourceflow plugin: Shopify Streaming (OAuth, webhook subscriptions, signed deliveries)."""

import re

# Here rather than in .oauth, its other user: the plugin's params schema needs it when the plugin
# is loaded, and loading it should not import OAuth's signatures (hashlib, hmac).
SHOP_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com$")
"""A shop's ``{name}.myshopify.com`` host."""
