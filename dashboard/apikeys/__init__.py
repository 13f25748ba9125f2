"""Per-org API keys: the browser page that makes and revokes them, and the key service."""
