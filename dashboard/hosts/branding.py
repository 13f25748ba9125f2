"""Branding rules (owners; the plan's ``branding`` feature): display name, primary colour with a
WCAG AA contrast check, support contact, logo, white label (the ``white-label`` feature).
No Flask here: the session acts for the org under RLS.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.hosts import logo as logos
from dashboard.models import OrgBranding

WHITE = "#ffffff"
AA_NORMAL_TEXT = 4.5  # WCAG 2.x success criterion 1.4.3, level AA, normal-size text
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BrandingError(ValueError):
    """Bad input; ``field`` names the form field. Nothing was stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ------------------------------------------------------------------------------ colour


def parse_color(text: str) -> str:
    """'#1A2b3c', '1a2b3c' or '#abc' -> '#1a2b3c'."""
    match = _HEX.match((text or "").strip())
    if not match:
        raise BrandingError("primary_color", "Enter a colour as #rrggbb, e.g. #1f4e9c.")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of an sRGB '#rrggbb'."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_ratio(first: str, second: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter over the darker: 1 to 21."""
    a, b = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def check_color(text: str) -> str:
    """The colour, if white text on it (buttons, the top bar) meets WCAG AA."""
    color = parse_color(text)
    ratio = contrast_ratio(color, WHITE)
    if ratio < AA_NORMAL_TEXT:
        raise BrandingError(
            "primary_color",
            f"White text on {color} has a contrast of {ratio:.2f}:1; WCAG AA needs at least "
            f"{AA_NORMAL_TEXT}:1. Choose a darker colour.")
    return color


# ------------------------------------------------------------------------------ text


def clean_display_name(text: str | None) -> str | None:
    name = " ".join((text or "").split())
    if not name:
        return None
    if len(name) > 100 or _CONTROL.search(name):
        raise BrandingError("display_name", "At most 100 characters, on one line.")
    return name


def clean_support_contact(text: str | None) -> str | None:
    """An email address or an https link (where the org's people get help)."""
    value = (text or "").strip()
    if not value:
        return None
    if len(value) > 200 or _CONTROL.search(value):
        raise BrandingError("support_contact", "At most 200 characters.")
    if value.lower().startswith("https://"):
        if not re.match(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s<>\"']*)?$", value):
            raise BrandingError("support_contact", "That is not a valid https link.")
        return value
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BrandingError("support_contact",
                            "Enter an email address or an https:// link.") from exc


# ------------------------------------------------------------------------------ saving


@dataclass(frozen=True)
class BrandingInput:
    display_name: str | None
    primary_color: str | None
    support_contact: str | None
    white_label: bool
    logo_upload: bytes | None = None  # None: keep the current logo
    remove_logo: bool = False


def current(db: Session, org_id: uuid.UUID) -> OrgBranding | None:
    return db.get(OrgBranding, org_id)


def save(db: Session, org_id: uuid.UUID, actor: Actor, given: BrandingInput, *,
         white_label_allowed: bool) -> OrgBranding:
    """Check everything first, then write once: any bad field stores nothing."""
    display_name = clean_display_name(given.display_name)
    color = check_color(given.primary_color) if (given.primary_color or "").strip() else None
    contact = clean_support_contact(given.support_contact)
    if given.white_label and not white_label_allowed:
        raise BrandingError("white_label", "White label is not included in your plan.")
    logo = None
    if given.logo_upload is not None:
        try:
            logo = logos.clean_logo(given.logo_upload)
        except logos.LogoRefused as exc:
            raise BrandingError("logo", str(exc)) from exc
    row = db.get(OrgBranding, org_id)
    if row is None:
        row = OrgBranding(org_id=org_id)
        db.add(row)
    before = _summary(row)
    row.display_name, row.primary_color = display_name, color
    row.support_contact, row.white_label = contact, given.white_label
    if logo is not None:
        row.logo, row.logo_sha256 = logo
    elif given.remove_logo:
        row.logo = row.logo_sha256 = None
    row.updated_at = datetime.now(UTC)
    db.flush()
    record_audit(db, org_id=org_id, actor=actor, action="branding.updated",
                 target="branding", before=before, after=_summary(row))
    return row


def _summary(row: OrgBranding) -> dict:
    return {"display_name": row.display_name, "primary_color": row.primary_color,
            "support_contact": row.support_contact, "white_label": bool(row.white_label),
            "logo_sha256": row.logo_sha256}
