"""sourceflow plugin for Stripe: scheduled pulls of payments data into Experience Platform."""
