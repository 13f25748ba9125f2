"""Host classification, the WCAG contrast formula and logo cleaning, as data."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dashboard.hosts import branding
from dashboard.hosts.logo import LogoRefused, clean_logo
from dashboard.hosts.resolve import HostName, classify, hostname_of, normalized_suffix

INSTALL = "127.0.0.1"


@pytest.mark.parametrize("host, expected", [
    ("acme.localhost:5000", HostName(slug="acme")),
    ("ACME.LocalHost.", HostName(slug="acme")),
    ("127.0.0.1:5000", None),  # the installation's own host
    ("localhost", None),  # a bare name: never a custom domain
    ("[::1]:5000", None),  # an IP address
    ("10.1.2.3", None),
    ("a.b.localhost", None),  # not one label under the suffix
    ("-bad-.localhost", None),  # not a slug
    ("login.acme.example", HostName(domain="login.acme.example")),
    ("", None),
    ("evil.example@acme.localhost", None),  # userinfo: never a host of ours
    ("acme.localhost:99999", None),  # not a port
    ("acme.localhost/x", None),
    ("acme.local host", None),
])
def test_classify(host, expected):
    assert classify(hostname_of(host), INSTALL, normalized_suffix("localhost")) == expected


def test_without_a_suffix_only_custom_domains_are_org_hosts():
    assert classify("acme.localhost", INSTALL, "") == HostName(domain="acme.localhost")
    assert classify("desk.example", "desk.example", "") is None


@pytest.mark.parametrize("color, ratio", [
    ("#ffffff", 1.0), ("#000000", 21.0), ("#767676", 4.54), ("#777777", 4.48),
    ("#1f4e9c", 7.99),
])
def test_contrast_ratio_against_white_matches_wcag(color, ratio):
    assert branding.contrast_ratio(color, "#ffffff") == pytest.approx(ratio, abs=0.01)


def test_colours_that_fail_aa_are_refused_with_the_figure():
    with pytest.raises(branding.BrandingError, match=r"contrast of 4\.48:1.*4\.5:1"):
        branding.check_color("#777777")
    assert branding.check_color("#767676") == "#767676"
    assert branding.check_color("14F") == "#1144ff"  # short and upper-case forms
    with pytest.raises(branding.BrandingError, match="#rrggbb"):
        branding.parse_color("red; background: url(x)")


def _png(size=(40, 20), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, format="PNG", **save)
    return out.getvalue()


def test_a_logo_is_re_encoded_without_metadata_or_trailing_bytes():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    upload = _png(pnginfo=info) + b"<html><script>alert(2)</script></html>"
    png, sha = clean_logo(upload)
    assert png.startswith(b"\x89PNG") and len(sha) == 64
    assert b"script" not in png and b"Comment" not in png
    assert Image.open(io.BytesIO(png)).size == (40, 20)


@pytest.mark.parametrize("upload, message", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "not a PNG or JPEG"),
    (b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>", "not a PNG or JPEG"),
    (b"", "Choose an image"),
    (b"GIF89a" + b"\x00" * 50, "not a PNG or JPEG"),
])
def test_disguised_files_are_refused(upload, message):
    with pytest.raises(LogoRefused, match=message):
        clean_logo(upload)


def test_oversized_logos_are_refused():
    with pytest.raises(LogoRefused, match="at most 1024×1024"):
        clean_logo(_png((2000, 10)))
    with pytest.raises(LogoRefused, match="KB"):
        clean_logo(b"\x89PNG" + b"\x00" * (300 * 1024))
