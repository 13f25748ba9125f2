"""String key/value metadata on orgs, members, API keys and usage events (issue 25)."""
