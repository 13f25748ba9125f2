"""API errors: ``{"error": {"code", "message"}}`` with the right status, never HTML."""

from __future__ import annotations

from dashboard.errors import json_error


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def unauthorized(code: str, message: str) -> ApiError:
    # RFC 6750: tell the client which scheme and what went wrong.
    error = "invalid_request" if code == "missing_credentials" else "invalid_token"
    return ApiError(
        401, code, message, {"WWW-Authenticate": f'Bearer realm="tenantdesk", error="{error}"'}
    )


def init_app(app) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        body, status = json_error(exc.status, exc.code, exc.message)
        return body, status, exc.headers
