"""The one metadata rule set (dashboard/metadata/rules.py): limits, messages, filters, form
lines, and a JSON Schema as strict as the checks."""

from __future__ import annotations

import re

import pytest

from dashboard.metadata import rules


def test_a_good_map_is_kept_verbatim():
    value = {"crm_id": "42", "a.b:c-d_e": "Zürich · <b>&amp;</b> ' \" ✓ ", "empty": ""}
    assert rules.check(value) == value
    assert rules.check({f"k{n}": "v" * 500 for n in range(20)})


@pytest.mark.parametrize(("value", "says"), [
    ([("a", "b")], "must be an object"),
    (None, "must be an object"),
    ({f"k{n}": "v" for n in range(21)}, "at most 20 keys; got 21"),
    ({"": "v"}, "is not valid"),
    ({"k" * 41: "v"}, "is not valid"),
    ({"bad key": "v"}, "is not valid"),
    ({"ключ": "v"}, "is not valid"),
    ({"n": 42}, "metadata.n must be a string"),
    ({"n": None}, "must be a string"),
    ({"n": True}, "must be a string"),
    ({"n": {"nested": "x"}}, "must be a string"),
    ({"n": "x" * 501}, "longer than 500 characters (501)"),
    ({"n": "line\nbreak"}, "control characters"),
    ({"n": "tab\there"}, "control characters"),
    ({"n": "nul\x00"}, "control characters"),
    ({"n": "del\x7f"}, "control characters"),
])
def test_bad_maps_are_refused_with_a_clear_message(value, says):
    with pytest.raises(rules.MetadataError) as refused:
        rules.check(value)
    assert says in refused.value.message


def test_the_json_schema_says_what_check_enforces():
    key = re.compile(rules.SCHEMA["propertyNames"]["pattern"])
    value = re.compile(rules.SCHEMA["additionalProperties"]["pattern"])
    assert rules.SCHEMA["maxProperties"] == rules.MAX_KEYS
    assert rules.SCHEMA["additionalProperties"]["maxLength"] == rules.MAX_VALUE_LENGTH
    for good in ("crm_id", "a.b:c-d", "x" * 40):
        assert key.search(good)
    for bad in ("", "x" * 41, "a b", "é"):
        assert not key.search(bad)
    assert value.search("Zürich ✓ <b>")
    for bad in ("a\nb", "\x00", "\x1f", "\x7f"):
        assert not value.search(bad)


def test_one_filter_from_a_query_string():
    assert rules.parse_filter([("range", "30")]) is None
    assert rules.parse_filter([("metadata[crm_id]", "42"), ("range", "30")]) == ("crm_id", "42")
    for pairs in ([("metadata[a]", "1"), ("metadata[b]", "2")],
                  [("metadata[a]", "1"), ("metadata[a]", "2")],
                  [("metadata[bad key]", "1")],
                  [("metadata[]", "1")],
                  [("metadata[a]", "x" * 501)],
                  [("metadata[a]", "x\ny")]):
        with pytest.raises(rules.MetadataError):
            rules.parse_filter(pairs)


def test_form_lines():
    assert rules.parse_lines("team=billing\n\n  env = prod=eu \r\n") == {
        "team": "billing", "env": " prod=eu "}
    assert rules.parse_lines("") == {} and rules.parse_lines(None) == {}
    for bad in ("no equals sign", "a=1\na=2", "bad key=1",
                "\n".join(f"k{n}=v" for n in range(21))):
        with pytest.raises(rules.MetadataError):
            rules.parse_lines(bad)
    assert rules.as_lines({"b": "2", "a": "1"}) == "a=1\nb=2"
