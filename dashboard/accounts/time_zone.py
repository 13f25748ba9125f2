"""/account/time-zone: the person's time zone, from the profile form or, on a first sign-in,
from the browser (``static/js/app.js`` sends ``Intl.DateTimeFormat().resolvedOptions()``).
HTTP only; the write goes through ``people.set_time_zone`` (a definer function)."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from flask import flash, g, jsonify, redirect, request, url_for

from dashboard import display, people, tenancy
from dashboard.accounts.routes import bp
from dashboard.permissions import authenticated

# Old aliases ("US/Pacific", "Etc/GMT+3", "EST5EDT") are valid but confusing in a list.
_ALIAS_PREFIXES = ("Etc/", "SystemV/", "US/", "Canada/", "Brazil/", "Mexico/", "Chile/")


@cache
def zone_choices() -> list[str]:
    """The zones the profile offers: every region/city name, plus UTC."""
    names = sorted(n for n in available_timezones()
                   if "/" in n and not n.startswith(_ALIAS_PREFIXES))
    return ["UTC", *names]


@bp.route("/account/time-zone", methods=["POST"])
@authenticated
def set_time_zone():
    """Form post (profile) or the browser's guess (``detected=1``: only when none is set)."""
    zone = (request.form.get("time_zone") or "").strip()
    detected = request.form.get("detected") == "1"
    if not display.known_zone(zone):
        if detected:
            return jsonify(error={"code": "unknown_time_zone"}), 400
        flash("Choose a time zone from the list.", "error")
        return redirect(url_for("accounts.profile") + "#time-zone", 303)
    if detected and g.principal.time_zone:
        return "", 204  # the person chose one already: a browser never overrides it
    db = tenancy.request_session()
    people.set_time_zone(db, zone)
    db.commit()
    if detected:
        return "", 204
    flash(f"Times are now shown in {zone}.", "success")
    return redirect(url_for("accounts.profile") + "#time-zone", 303)
