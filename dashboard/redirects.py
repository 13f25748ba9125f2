"""The one check for every redirect target a request names (``next``, RelayState,
``return_to``): a local path or nothing.

Browsers are lenient where a naive check is not: they drop TAB, CR and LF inside a URL, read
a backslash as a slash, and some paths are unwrapped again after percent-decoding. So
``/\\t/evil.example``, ``/\\\\evil.example`` and ``/%2F%2Fevil.example`` must all be refused,
which a ``startswith("/") and not startswith("//")`` test lets through.
"""

from __future__ import annotations

from urllib.parse import unquote

MAX_LENGTH = 2000
_DECODE_ROUNDS = 3  # enough to see through double and triple encoding


_DROPPED_BY_BROWSERS = str.maketrans("", "", "\t\r\n")


def _leaves_the_site(path: str) -> bool:
    path = path.translate(_DROPPED_BY_BROWSERS).replace("\\", "/")
    return not path.startswith("/") or path.startswith("//")


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a path on this site to send the browser back to, else None."""
    if not value or len(value) > MAX_LENGTH or _leaves_the_site(value):
        return None
    if any(ch == "\\" or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return None  # raw whitespace, controls or backslashes: never part of a link we made
    decoded = value
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(decoded)
        if _leaves_the_site(decoded):
            return None
    return value
