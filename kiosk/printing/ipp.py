"""A small IPP/1.1 client (RFC 8010 encoding, RFC 8011 operations) over plain HTTP.

Why our own, and not pycups or ``lp``/``lpstat``: pycups is a C extension that needs
libcups' headers (``libcups2-dev``) and a compiler on every kiosk, and its calls hold a
global connection that is not safe across threads; ``lpstat``'s text gives a job's state
only as "pending/printing/completed" words in a locale-dependent layout, and nothing of
``job-state-reasons`` or ``printer-state-reasons`` (``media-empty``, ``offline-report``)
beyond an "Alerts:" line, and each call is a process. ``pyipp`` (PyPI) can send any
operation through its generic ``execute`` (Print-Job with a document included), but its
typed API is printer monitoring, it is asyncio-only (the spooler's calls run on threads
beside SQL and store reads) and brings ``deepmerge`` and ``yarl`` pins for what is, here, a
short binary encoding over HTTP POST. So the four operations the booth needs (Print-Job,
Get-Job-Attributes, Get-Printer-Attributes, Cancel-Job) are written out with the standard
library: they give the numbers CUPS itself keeps (job-state 3..9, the reasons as keywords),
and no package, compiler or Debian library is needed on the booth.
"""

from __future__ import annotations

import http.client
import itertools
import struct
from dataclasses import dataclass, field
from typing import Any

# Operations (RFC 8011 §5.4.15)
PRINT_JOB = 0x0002
CANCEL_JOB = 0x0008
GET_JOB_ATTRIBUTES = 0x0009
GET_PRINTER_ATTRIBUTES = 0x000B

# Delimiter and value tags (RFC 8010 §3.5)
OPERATION, JOB, END, PRINTER = 0x01, 0x02, 0x03, 0x04
INTEGER, BOOLEAN, ENUM = 0x21, 0x22, 0x23
TEXT, NAME, KEYWORD, URI, CHARSET, LANGUAGE, MIME = 0x41, 0x42, 0x44, 0x45, 0x47, 0x48, 0x49
INTEGERS = {INTEGER, ENUM}

NOT_FOUND = 0x0406  # client-error-not-found: no such printer (or job)
NOT_POSSIBLE = 0x0404  # client-error-not-possible: e.g. cancelling a finished job
TIMEOUT_S = 5.0

_request_ids = itertools.count(1)


class IppError(Exception):
    """CUPS answered, but not with success: ``status`` is the IPP status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(Exception):
    """No IPP answer from the server (refused, timed out, not IPP)."""


@dataclass
class Response:
    status: int
    groups: list[tuple[int, dict[str, list[Any]]]] = field(default_factory=list)

    def first(self, tag: int) -> dict[str, list[Any]]:
        """The first attribute group of ``tag`` (empty when there is none)."""
        return next((attrs for group, attrs in self.groups if group == tag), {})


def _attribute(tag: int, name: str, values: Any) -> bytes:
    out = b""
    for index, value in enumerate(values if isinstance(values, list) else [values]):
        if tag in INTEGERS:
            data = struct.pack(">i", value)
        elif tag == BOOLEAN:
            data = b"\x01" if value else b"\x00"
        else:
            data = str(value).encode("utf-8")
        key = name.encode() if index == 0 else b""
        out += struct.pack(">bH", tag, len(key)) + key + struct.pack(">H", len(data)) + data
    return out


def encode(
    operation: int,
    printer_uri: str,
    operation_attrs: list[tuple[int, str, Any]] = (),  # type: ignore[assignment]
    job_attrs: list[tuple[int, str, Any]] = (),  # type: ignore[assignment]
) -> bytes:
    """An IPP request: version 1.1, the operation, its attributes (charset, language and
    printer-uri first, as RFC 8011 asks), then END."""
    body = struct.pack(">bbhi", 1, 1, operation, next(_request_ids))
    body += bytes([OPERATION])
    body += _attribute(CHARSET, "attributes-charset", "utf-8")
    body += _attribute(LANGUAGE, "attributes-natural-language", "en")
    body += _attribute(URI, "printer-uri", printer_uri)
    for tag, name, value in operation_attrs:
        body += _attribute(tag, name, value)
    if job_attrs:
        body += bytes([JOB])
        for tag, name, value in job_attrs:
            body += _attribute(tag, name, value)
    return body + bytes([END])


def decode(data: bytes) -> Response:
    """An IPP response's status and attribute groups (values as int, bool or str)."""
    if len(data) < 9:
        raise Unreachable(f"the answer is not IPP ({len(data)} bytes)")
    _version, status, _request = struct.unpack(">hhi", data[:8])
    response = Response(status)
    position, name = 8, ""
    attrs: dict[str, list[Any]] = {}
    while position < len(data):
        tag = data[position]
        position += 1
        if tag == END:
            break
        if tag < 0x10:  # a new attribute group
            attrs = {}
            response.groups.append((tag, attrs))
            continue
        name_len = struct.unpack(">H", data[position : position + 2])[0]
        position += 2
        if name_len:
            name = data[position : position + name_len].decode("utf-8", "replace")
            position += name_len
        value_len = struct.unpack(">H", data[position : position + 2])[0]
        raw = data[position + 2 : position + 2 + value_len]
        position += 2 + value_len
        value: Any
        if tag in INTEGERS and value_len == 4:
            value = struct.unpack(">i", raw)[0]
        elif tag == BOOLEAN:
            value = raw != b"\x00"
        else:
            value = raw.decode("utf-8", "replace")
        attrs.setdefault(name, []).append(value)
    return response


def post(host: str, port: int, path: str, body: bytes, timeout: float = TIMEOUT_S) -> Response:
    """POST one IPP request to ``http://host:port/path``; ``Unreachable`` when no IPP
    answer comes back."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/ipp"})
        answer = connection.getresponse()
        data = answer.read()
        if answer.status != 200 or answer.getheader("Content-Type", "") != "application/ipp":
            raise Unreachable(f"the server answered HTTP {answer.status}, not IPP")
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"{type(exc).__name__}: {exc}") from None
    finally:
        connection.close()
    return decode(data)
