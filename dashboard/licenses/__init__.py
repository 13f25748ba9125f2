"""Plans, licenses and feature flags per organization.

- ``service``: entitlements and limits of the current org, audited staff changes (no Flask).
- ``web``: ``requires_feature`` route decorator, ``has_feature`` for templates, the 403 page.
- ``routes``: the "Plan & features" page.
"""
