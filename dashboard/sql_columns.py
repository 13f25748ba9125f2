"""How many columns a select list has, counted from its text: a statement that must line up
with it (the other side of a UNION) then follows when a column is added."""

from __future__ import annotations


def select_list_width(select_list: str) -> int:
    """The columns of ``select_list`` (``a, f(b, c) AS d, ARRAY(SELECT ...) AS e``): its commas
    outside parentheses and quotes, plus one. For the select lists written in this code, not
    any SQL (no comments or dollar quoting): anything unbalanced is an error, never a guess."""
    depth, quote, commas = 0, "", 0
    for char in select_list:
        if quote:
            if char == quote:  # a doubled quote ('') closes and reopens: the count holds
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ')' in {select_list!r}")
        elif char == "," and depth == 0:
            commas += 1
    if depth or quote:
        raise ValueError(f"unclosed parenthesis or quote in {select_list!r}")
    return commas + 1
