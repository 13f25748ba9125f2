"""Every main page, as an owner of an enterprise org (all features on), is usable with a screen
reader and the keyboard: every form control has a label, every button and link a name,
images a text alternative, ids are unique and nothing hijacks the tab order.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.helpers import login
from tests.pages import enterprise_org_with_staff_owner, main_page_paths

UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Element:
    def __init__(self, tag: str, attrs: dict[str, str | None], parents: list[_Element]):
        self.tag, self.attrs, self.parents, self.text = tag, attrs, list(parents), ""

    def named(self) -> bool:
        return bool(self.text.strip() or self.attrs.get("aria-label")
                    or self.attrs.get("aria-labelledby") or self.attrs.get("title"))

    def describe(self) -> str:
        shown = " ".join(f'{k}="{v}"' for k, v in self.attrs.items() if k != "class")
        return f"<{self.tag} {shown}>"


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[_Element] = []
        self.elements: list[_Element] = []

    def handle_starttag(self, tag, attrs):
        element = _Element(tag, dict(attrs), self.stack)
        self.elements.append(element)
        if tag == "img":  # alt text names the link or button it sits in
            for parent in self.stack:
                parent.text += element.attrs.get("alt") or ""
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for element in self.stack:
            element.text += data


def problems_in(html: str) -> list[str]:
    page = _Page()
    page.feed(html)
    ids = [e.attrs["id"] for e in page.elements if e.attrs.get("id")]
    label_targets = {e.attrs.get("for") for e in page.elements if e.tag == "label"}
    found = [f"duplicate id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    found += [f"<label for={t!r}> points at nothing" for t in label_targets - set(ids) - {None}]
    for e in page.elements:
        a = e.attrs
        is_button_input = e.tag == "input" and a.get("type") in ("submit", "button")
        if e.tag in ("select", "textarea") or (
            e.tag == "input" and a.get("type", "text") not in UNLABELLED_INPUT_TYPES
        ):
            labelled = (
                (a.get("id") and a["id"] in label_targets)
                or a.get("aria-label") or a.get("aria-labelledby")
                or any(p.tag == "label" for p in e.parents)
            )
            if not labelled:
                found.append(f"unlabelled {e.describe()}")
        elif (is_button_input and not a.get("value")) or (
            e.tag in ("button", "summary") and not e.named()
        ):
            found.append(f"nameless {e.describe()}")
        elif e.tag == "a" and "href" in a and not e.named():
            found.append(f"nameless link {e.describe()}")
        elif e.tag == "img" and a.get("alt") is None:
            found.append(f"image without alt {e.describe()}")
        elif e.tag == "svg" and a.get("role") == "img" and not a.get("aria-label"):
            found.append(f"chart without a name {e.describe()}")
        if int(a.get("tabindex") or 0) > 0:
            found.append(f"positive tabindex breaks the tab order {e.describe()}")
    if not any(e.tag == "html" and e.attrs.get("lang") for e in page.elements):
        found.append("<html> has no lang")
    return found


def test_the_checker_catches_what_it_should():
    bad = (
        '<html><input id="a" name="a"><select name="s"></select><button></button>'
        '<a href="/x"></a><img src="/i.png"><label for="nope">N</label>'
        '<p id="d"></p><p id="d"></p><div tabindex="3">x</div><input type="submit"></html>'
    )
    assert len(problems_in(bad)) == 10
    good = (
        '<html lang="en"><label for="a">A</label><input id="a"><label>S <select></select>'
        '</label><button aria-label="Close">×</button><a href="/x"><img src="/i" alt="Home">'
        '</a><input type="hidden" name="t"><button type="submit">Save</button></html>'
    )
    assert problems_in(good) == []


@pytest.fixture(scope="module")
def signed_in(app):
    org, owner = enterprise_org_with_staff_owner()
    client = app.test_client()
    assert login(client, owner).status_code == 302
    return client, org


def test_every_main_page_is_labelled_and_named(app, signed_in):
    client, org = signed_in
    checked, problems = [], {}
    for path in main_page_paths(app, org.slug, org.id):
        response = client.get(path)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        checked.append(path)
        found = problems_in(response.get_data(as_text=True))
        if found:
            problems[path] = found
    for must in ("/login", f"/o/{org.slug}/", f"/o/{org.slug}/usage", f"/o/{org.slug}/plan"):
        assert must in checked, f"{must} was not rendered"
    assert problems == {}


def test_signed_out_pages_are_labelled(client):
    for path in ("/login", "/no-such-page"):
        assert problems_in(client.get(path).get_data(as_text=True)) == [], path
