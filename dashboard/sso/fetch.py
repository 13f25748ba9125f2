"""Outgoing HTTP to addresses a tenant chose (metadata URLs, OIDC issuers, webhook endpoints,
audit-log streams): SSRF-safe. ``fetch`` GETs a document; ``post`` sends a body and returns
whatever status came back (the events worker decides what counts as delivered).

- the address is checked when the socket connects, on the very address connected to, so a
  DNS answer that changes between check and use (rebinding) gains nothing;
- loopback, private, link-local, reserved and multicast addresses are refused unless
  ``allow_private`` (development and tests); plain http is refused unless that flag is on too;
- no proxies from the environment, no redirects, a time budget for the whole download and a
  size cap (a slow or huge answer is cut off, not waited for).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class FetchError(Exception):
    """A URL that may not or could not be fetched; the message is fit for a form error."""


def address_allowed(address: str, allow_private: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if allow_private:
        return not ip.is_multicast and not ip.is_unspecified
    return ip.is_global and not ip.is_multicast


def _guarded_connection(base):
    class Guarded(base):
        allow_private = False

        def _new_conn(self):
            try:
                infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise FetchError(f"The host {self.host} could not be resolved.") from exc
            last_error: OSError | None = None
            for family, socktype, proto, _name, sockaddr in infos:
                if not address_allowed(sockaddr[0], self.allow_private):
                    raise FetchError(
                        f"The host {self.host} resolves to a private or reserved address."
                    )
                sock = socket.socket(family, socktype, proto)
                sock.settimeout(self.timeout if isinstance(self.timeout, float | int) else 5)
                try:
                    sock.connect(sockaddr)  # the address just checked, not a new look-up
                    return sock
                except OSError as exc:
                    sock.close()
                    last_error = exc
            raise FetchError(f"Could not connect to {self.host}.") from last_error

    return Guarded


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        allow = self._allow_private

        class Http(HTTPConnectionPool):
            ConnectionCls = type("C", (_guarded_connection(HTTPConnection),),
                                 {"allow_private": allow})

        class Https(HTTPSConnectionPool):
            ConnectionCls = type("C", (_guarded_connection(HTTPSConnection),),
                                 {"allow_private": allow})

        self.poolmanager.pool_classes_by_scheme = {"http": Http, "https": Https}
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


def check_url(url: str, allow_private: bool) -> str:
    parts = urlsplit(url.strip())
    allowed = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed or not parts.hostname:
        raise FetchError("Use an https:// URL." if not allow_private else "Use an http(s) URL.")
    if parts.username or parts.password:
        raise FetchError("The URL must not contain a user name or password.")
    return url.strip()


def guard(session: requests.Session, allow_private: bool) -> requests.Session:
    """Make ``session`` (e.g. authlib's OAuth2Session) use guarded connections only."""
    session.trust_env = False  # no HTTP(S)_PROXY: the proxy would connect, not us
    adapter = _GuardedAdapter(allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def guarded_session(allow_private: bool) -> requests.Session:
    return guard(requests.Session(), allow_private)


def fetch(
    url: str, *, allow_private: bool, max_bytes: int, timeout: float, accept: str = "*/*"
) -> bytes:
    """GET ``url`` within ``timeout`` seconds overall and ``max_bytes``, or raise FetchError."""
    url = check_url(url, allow_private)
    deadline = time.monotonic() + timeout
    try:
        with guarded_session(allow_private) as http, http.get(
            url, stream=True, timeout=timeout, allow_redirects=False,
            headers={"Accept": accept},
        ) as response:
            if response.is_redirect:
                raise FetchError("The URL redirects elsewhere; give the final URL.")
            if response.status_code != 200:
                raise FetchError(f"The server answered HTTP {response.status_code}.")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"The document is larger than {max_bytes // 1024} KiB.")
            return _read_body(response, max_bytes, deadline, timeout, truncate=False)
    except (requests.RequestException, OSError) as exc:
        raise _as_fetch_error(exc, timeout) from exc


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most ``max_bytes`` of it


def post(
    url: str, *, body: bytes, headers: dict[str, str], allow_private: bool, timeout: float,
    max_bytes: int = 1024,
) -> Answer:
    """POST ``body`` within ``timeout`` seconds overall; any HTTP status is returned (a redirect
    is not followed), only the first ``max_bytes`` of the answer are read. FetchError for a
    refused address, a failed connection or the deadline."""
    url = check_url(url, allow_private)
    deadline = time.monotonic() + timeout
    try:
        with guarded_session(allow_private) as http, http.post(
            url, data=body, headers=headers, stream=True, timeout=timeout,
            allow_redirects=False,
        ) as response:
            return Answer(response.status_code,
                          _read_body(response, max_bytes, deadline, timeout, truncate=True))
    except (requests.RequestException, OSError) as exc:
        raise _as_fetch_error(exc, timeout) from exc


def _read_body(response, max_bytes: int, deadline: float, timeout: float, *, truncate: bool):
    body = bytearray()
    while chunk := response.raw.read1(8192, decode_content=True):
        # read1 returns after one receive, so a trickling server meets the deadline
        body += chunk
        if len(body) > max_bytes:
            if truncate:
                return bytes(body[:max_bytes])
            raise FetchError(f"The document is larger than {max_bytes // 1024} KiB.")
        if time.monotonic() > deadline:
            raise FetchError(f"The server took longer than {timeout:g} s to answer.")
    return bytes(body)


def _as_fetch_error(exc: BaseException, timeout: float) -> FetchError:
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, requests.Timeout):
        return FetchError(f"The server took longer than {timeout:g} s to answer.")
    cause = _find_fetch_error(exc)
    if cause is not None:
        return cause
    if _is_timeout(exc):
        return FetchError(f"The server took longer than {timeout:g} s to answer.")
    return FetchError("The URL could not be fetched.")


def _is_timeout(exc: BaseException) -> bool:
    return "timed out" in str(exc).lower()


def _find_fetch_error(exc: BaseException) -> FetchError | None:
    """urllib3/requests wrap errors raised while connecting; dig ours out."""
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, FetchError):
            return current
        stack += [current.__cause__, current.__context__, *getattr(current, "args", ())[:2]]
        stack = [s for s in stack if isinstance(s, BaseException)]
    return None
