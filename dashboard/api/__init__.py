"""The JSON API under /api/v1/: Bearer credentials (API keys or access tokens), one org per
credential, cursor pages, generated OpenAPI 3.1, rate limits by plan."""
