"""How the usage charts read: y labels that fit and never collide, round ticks in one unit,
today drawn apart as "so far" instead of as a sudden drop, and "No data yet" for a new org."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from dashboard.usage.charts import CHAR_PX, nice_ticks, y_axis
from dashboard.usage.metrics import METRICS
from tests import factories
from tests.helpers import login

TODAY = datetime.now(UTC).date()
GIB = 1024 ** 3


def test_ticks_are_round_in_one_unit_and_zero_is_said_once():
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(37, 4) == [0, 10, 20, 30, 40]
    assert nice_ticks(1.5, 4, whole=False) == [0, 0.5, 1.0, 1.5]
    ticks, labels = y_axis(METRICS["storage_bytes"], 3.4 * GIB)
    assert labels == ["0", "1 GiB", "2 GiB", "3 GiB", "4 GiB"]
    assert ticks[-1] == 4 * GIB
    _, labels = y_axis(METRICS["storage_bytes"], 700 * 1024 ** 2)
    assert labels == ["0", "200 MiB", "400 MiB", "600 MiB", "800 MiB"]
    _, labels = y_axis(METRICS["api_calls"], 1_234_567)
    assert labels == ["0", "500K", "1M", "1.5M"]
    _, labels = y_axis(METRICS["api_calls"], 3)
    assert labels == ["0", "1", "2", "3"] and len(set(labels)) == len(labels)


def _chart(html: str, metric: str) -> str:
    return re.search(rf'<svg[^>]*id="usage-chart-{metric}".*?</svg>', html, re.S).group(0)


def test_labels_fit_left_of_the_plot_and_today_is_drawn_as_partial(client):
    org, people = factories.org_with_members(owner="owner")
    factories.execute(
        "INSERT INTO usage_daily (org_id, metric, day, total)"
        " SELECT :o, 'api_calls', CAST(:t AS date) - i, CASE WHEN i = 0 THEN 7 ELSE 950000 END"
        "   FROM generate_series(0, 29) i",
        o=org.id, t=TODAY)
    login(client, people["owner"])
    svg = _chart(client.get(f"/o/{org.slug}/usage?range=30").get_data(as_text=True),
                 "api_calls")
    left = float(re.search(r'class="guide line major" d="M ([0-9.]+)', svg).group(1))
    labels = re.findall(r'dx="-6" dy="4" text-anchor="end">([^<]+)<', svg)
    assert labels[0] == "0" and labels.count("0") == 1
    assert left - 6 >= CHAR_PX * max(map(len, labels))  # room for the widest label
    main = re.search(r'serie-0 color-0"><path class="line" d="([^"]+)"', svg).group(1)
    assert len(re.findall(r"[ML] ", main)) == 29  # complete days only
    partial = re.search(r'color-0 partial"><path class="line" d="([^"]+)"', svg).group(1)
    assert len(re.findall(r"[ML] ", partial)) == 2  # yesterday -> today, dashed by usage.css
    assert "today so far" in svg and "the last point is today, so far" in svg


def test_a_new_org_says_no_data_yet(client):
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/usage").get_data(as_text=True)
    for metric in METRICS:
        svg = _chart(html, metric)
        assert "No data yet" in svg and "<path" not in svg, metric
