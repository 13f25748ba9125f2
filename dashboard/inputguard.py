"""One guard for bad input, in front of every route.

Before any view, session or database work, each request is checked once:

- the path (a control character there is a 404, like any unknown address), every query
  parameter (name and value), every form field and every JSON key and
  string: no NUL and no other control character (C0, DEL, C1) and no lone surrogate. Form
  fields and JSON string values may hold tab, newline and carriage return (textareas need
  them); names, paths and query strings may not;
- numbers: page and size counters (``BOUNDED_PARAMETERS``, in the query or a form) may not
  exceed ``BOUND``; JSON integers must be below 2**64
  and JSON numbers must be finite (no ``NaN``/``Infinity``, no ``1e400``);
- JSON bodies: nested at most ``MAX_JSON_DEPTH`` levels, measured on the raw text before it
  is parsed (a recursive parser would otherwise overflow Python's stack).

A refusal is a 400 with a message naming the field: the error page for the browser,
``{"error": {"code": "invalid_input", "message": ...}}`` for API and JSON callers. Routes
still validate their own fields (lengths, formats); this guard only removes what no field of
this application accepts, so no route has to remember it.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate

from flask import request

from dashboard.errors import refuse

MAX_JSON_DEPTH = 32
# Past any 64-bit integer: no column holds it. (Just past bigint, 2**63, is left to the
# route, which names the field: "events[0].quantity".)
INT_BOUND = 2**64
# Page and size counters: a route clamps odd values ("page=-4" -> the first page), but a
# number beyond any page it could show is refused here rather than overflowing SQL.
BOUNDED_PARAMETERS = frozenset({"page", "per_page", "limit", "offset"})
BOUND = 1_000_000_000

# Refused characters as regex classes (Python and ECMA-262 read them alike, so the OpenAPI
# spec publishes the same rule as ``pattern``): C0 controls, DEL and C1 controls; values of
# form fields and JSON strings may keep tab, line feed and carriage return.
CONTROL_CLASS = r"\u0000-\u001f\u007f-\u009f"
CONTROL_BUT_LINES_CLASS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
NAME_PATTERN = f"^[^{CONTROL_CLASS}]*$"  # paths, query strings, names and JSON keys
TEXT_PATTERN = f"^[^{CONTROL_BUT_LINES_CLASS}]*$"  # form field values and JSON strings
_SURROGATES = "\ud800-\udfff"  # lone surrogates cannot be stored (nor encoded as UTF-8)
_ANY_CONTROL = re.compile(f"[{CONTROL_CLASS}{_SURROGATES}]")
_CONTROL_BUT_LINES = re.compile(f"[{CONTROL_BUT_LINES_CLASS}{_SURROGATES}]")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")
_WHOLE_NUMBER = re.compile(r"[+-]?0*([0-9]+)", re.ASCII)


class BadInput(ValueError):
    status = 400


class BadAddress(BadInput):
    status = 404  # no page has such an address: answered like any unknown one


def _describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def check_text(where: str, value: str, *, lines_allowed: bool) -> None:
    found = (_CONTROL_BUT_LINES if lines_allowed else _ANY_CONTROL).search(value)
    if found:
        raise BadInput(
            f"{where} contains a control character ({_describe(found.group())}), which is"
            " not allowed. Remove it and try again."
        )


def check_bounded(name: str, value: str) -> None:
    if name not in BOUNDED_PARAMETERS:
        return
    number = _WHOLE_NUMBER.fullmatch(value.strip())
    # Length first: int() of thousands of digits is slow, and refused past 4,300 of them.
    if number and (len(number.group(1)) > 12 or int(number.group(1)) > BOUND):
        raise BadInput(f"'{name}' must be a whole number no larger than {BOUND:,}.")


def json_depth(raw: bytes) -> int:
    """Deepest nesting of arrays/objects in a JSON text, without parsing it."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(1 if b in _OPEN else -1 for b in brackets), default=0)


def _no_constants(name: str):
    raise BadInput(f"The JSON body contains {name}, which is not a number JSON allows.")


def check_json_value(value, where: str = "body") -> None:
    """Walk a parsed JSON value without recursion: keys, strings and numbers."""
    stack = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                check_text(f"A key in {path}", key, lines_allowed=False)
                stack.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, str):
            check_text(f"'{path}'", item, lines_allowed=True)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) >= INT_BOUND:
                raise BadInput(f"'{path}' is a number too large to store.")
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadInput(f"'{path}' is not a finite number.")


def check_json_body(raw: bytes) -> None:
    if not raw.strip():
        return
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise BadInput(
            f"The JSON body is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed."
        )
    try:
        parsed = json.loads(raw, parse_constant=_no_constants)
    except BadInput:
        raise
    except ValueError:
        return  # not JSON at all: the route answers with its own "invalid JSON" message
    check_json_value(parsed)


def check_request() -> None:
    req = request._get_current_object()  # the proxy read once (every request comes here)
    if _ANY_CONTROL.search(req.path):
        raise BadAddress("Not found: the address contains a control character.")
    for name, value in req.args.items(multi=True):
        check_text("A query parameter name", name, lines_allowed=False)
        check_text(f"'{name}'", value, lines_allowed=False)
        check_bounded(name, value)
    if req.method in ("GET", "HEAD", "OPTIONS"):
        return
    if req.is_json:
        check_json_body(req.get_data(cache=True))
        return
    for name, value in req.form.items(multi=True):
        check_text("A form field name", name, lines_allowed=False)
        check_text(f"'{name}'", value, lines_allowed=True)
        check_bounded(name, value)


def init_app(app) -> None:
    # Registered first: a refused request never reaches the session, the principal or SQL.
    @app.before_request
    def _guard():
        if request.endpoint == "static":
            return None
        try:
            check_request()
        except BadInput as exc:
            if exc.status == 404:
                return refuse(404, "not_found", str(exc))
            return refuse(400, "invalid_input", str(exc))
        return None
