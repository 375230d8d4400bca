"""sourceflow plugin: Shopify Streaming (OAuth, webhook subscriptions, signed deliveries)."""
