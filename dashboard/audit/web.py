"""Build the audit actor from the current web request."""

from __future__ import annotations

from flask import g, request

from dashboard.audit.service import Actor


def request_actor() -> Actor:
    principal = g.get("principal")
    return Actor(
        label=principal.email if principal else "anonymous",
        user_id=principal.user_id if principal else None,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent", ""),
    )
