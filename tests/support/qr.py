"""Reading back the booth's QR codes in tests.

OpenCV's classic detector misses about one code in twenty of the booth's (random tokens make
random module patterns; measured: 16 of 300 at the natural size), where a phone reads every one.
A miss there is the decoder's, not the code's, so the test tries the same image enlarged and
then OpenCV's second detector before it calls the code unreadable.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import cv2
import numpy as np
from PIL import Image


def decode_qr(png: bytes) -> str:
    """The text of the QR code in a PNG ('' when no decoder reads it)."""
    gray = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    attempts = (
        lambda: cv2.QRCodeDetector().detectAndDecode(gray)[0],
        lambda: cv2.QRCodeDetector().detectAndDecode(
            cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        )[0],
        lambda: cv2.QRCodeDetectorAruco().detectAndDecode(gray)[0],
    )
    for attempt in attempts:
        text = attempt()
        if text:
            return text
    return ""


def phone_link(link: str, booth: str) -> str:
    """The phone page of a QR code's ``link``, as this test reaches it: the link must be a
    phone page (``/d/…``) on the booth's port at an address phones reach, never loopback
    (``kiosk.network``), while the test's server listens on loopback only, so the page is
    fetched at ``booth`` (its loopback URL) with the link's path."""
    parts, served = urlsplit(link), urlsplit(booth)
    assert parts.path.startswith("/d/") and parts.port == served.port, link
    assert parts.hostname and not parts.hostname.startswith("127."), link
    return f"{booth}{parts.path}"
