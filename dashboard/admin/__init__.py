"""The staff area (/admin). Minimal for now: an org's plan and feature overrides.

The full area (org search, suspend/reactivate, support grants) is issue 12.
"""
