"""Isolation tiers: where an org's cell tables live, and how they get there.

- ``catalogue``  which tenant tables are *cell* tables (move with the tenant) and which stay
                 in the shared control plane; counts and checksums per table.
- ``routing``    the route of an org as the context statement returns it; revision checks,
                 the in-process concurrency cap.
- ``schema``     build and sync a tenant schema from the shared schema's catalogue.
- ``moves``      the verified, resumable tenant move and its certificate.
- ``web`` / ``routes`` / ``cli``  maintenance and read-only answers, staff console, commands.

Only ``dashboard/tenancy.py`` (which opens every transaction) and this package know tiers;
``tests/security/test_tier_confinement.py`` checks it.
"""
