"""The smallest WSGI app, for tests/security/test_http_parsing.py: it notes every request
that reaches it (method and path, one line each) in the file named by HTTP_PROBE_LOG, so a
test can tell that gunicorn turned a malformed request away before any app code ran."""

import os


def app(environ, start_response):
    with open(os.environ["HTTP_PROBE_LOG"], "a") as log:
        log.write(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}\n")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
