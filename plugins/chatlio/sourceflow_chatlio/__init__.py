"""sourceflow plugin: Chatlio chat events through a generic streaming flow."""
