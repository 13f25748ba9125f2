"""Usage metering, quotas and usage charts (issue 8)."""
