"""Events: the outbox, the catalogue, webhook endpoints, audit-log streams and deliveries.

Read outbox.py first (how an audit row becomes deliveries), then deliveries.py (claims,
retries), streams.py (in-order audit streams) and ../worker.py (the loop).
"""
