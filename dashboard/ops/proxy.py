"""The reverse proxy in front: trust exactly ``TRUSTED_PROXY_HOPS`` of them (ProxyFix).

With 1, the client address, scheme, host and port come from the last X-Forwarded-* values
the proxy appended; a client cannot forge them past that. With 0 (the default) the headers
are ignored. Rate limits by client address and the audit log's IPs depend on this.
"""

from __future__ import annotations

from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app) -> None:
    hops = app.config.get("TRUSTED_PROXY_HOPS") or 0
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops, x_prefix=0)
