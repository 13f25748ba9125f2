"""Org logos: decoded, checked and re-encoded by Pillow, so no active content survives.

Only PNG and JPEG decoders are allowed (an SVG, an HTML page or a script renamed .png is
not an image to them); the size is checked from the header before any pixel is decoded;
what we store is a PNG we wrote ourselves from the pixels alone (no metadata, no text
chunks, no trailing bytes of a polyglot file).
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 256 * 1024
MAX_SIDE = 1024  # pixels, either way, as uploaded
STORED_SIDE = 256  # the largest side we keep (the top bar shows ~32 px, the sign-in ~64)
ALLOWED_FORMATS = ("PNG", "JPEG")


class LogoRefused(ValueError):
    """The upload is not a logo we take; the message is a form error."""


def clean_logo(data: bytes) -> tuple[bytes, str]:
    """(PNG bytes, their SHA-256) from an upload, or LogoRefused with the reason."""
    if not data:
        raise LogoRefused("Choose an image file.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise LogoRefused(f"The logo is {len(data) // 1024} KB; at most "
                          f"{MAX_UPLOAD_BYTES // 1024} KB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise LogoRefused(f"The logo is {width}×{height} pixels; at most "
                                  f"{MAX_SIDE}×{MAX_SIDE}.")
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
    except LogoRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise LogoRefused("That file is not a PNG or JPEG image.") from exc
    rgba = image.convert("RGBA")
    rgba.thumbnail((STORED_SIDE, STORED_SIDE))
    # A fresh image from the pixels alone: nothing of the upload's metadata comes along.
    pixels = Image.frombytes("RGBA", rgba.size, rgba.tobytes())
    out = io.BytesIO()
    pixels.save(out, format="PNG", optimize=True)
    png = out.getvalue()
    return png, hashlib.sha256(png).hexdigest()
