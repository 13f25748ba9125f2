"""The select-list width the members page's UNION pads with is counted from the SQL text."""

from __future__ import annotations

import pytest

from dashboard.sql_columns import select_list_width


@pytest.mark.parametrize(
    ("select_list", "width"),
    [
        ("a", 1),
        ("a, b AS c", 2),
        ("f(a, b), g(h(c, d), e) AS x, y", 3),
        ("ARRAY(SELECT jsonb_build_array(r.key, r.name) FROM roles r) AS custom_roles", 1),
        ("'a, b' AS s, \"odd, name\", 'it''s, still one'", 3),
        ("\n    now() AS now, o.plan,\n    l.seats\n", 3),
    ],
)
def test_counts_the_commas_outside_parentheses_and_quotes(select_list, width):
    assert select_list_width(select_list) == width


@pytest.mark.parametrize("select_list", ["f(a, b", "f(a)) AS b", "'open, quote"])
def test_an_unbalanced_list_is_an_error_not_a_guess(select_list):
    with pytest.raises(ValueError):
        select_list_width(select_list)
