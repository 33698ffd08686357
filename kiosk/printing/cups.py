"""The booth's CUPS client: the printer's state, sending a print, a job's state, cancelling.

Every call is one blocking IPP request (``kiosk.printing.ipp``, a few seconds at most) to the
CUPS server of ``settings.cups_server`` (else ``CUPS_SERVER``, else localhost:631) for the
queue ``settings.printer``: the spooler runs them on threads, never on the event loop, and
a guest's request never waits on one. ``printer_status`` is also what ``stylebooth doctor``
prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import quote

from kiosk.config import Settings
from kiosk.printing import ipp

DEFAULT_SERVER = "localhost:631"
DEFAULT_PORT = 631
USER = "stylebooth"  # requesting-user-name: the jobs' owner, who may cancel them

PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}
JOB_STATES = {
    3: "pending",
    4: "held",
    5: "processing",
    6: "stopped",
    7: "canceled",
    8: "aborted",
    9: "completed",
}
FINAL_JOB_STATES = frozenset({"canceled", "aborted", "completed"})
USABLE = frozenset({"idle", "processing"})  # a print sent now comes out

# What a person reads for the reasons CUPS gives most often (RFC 8011 §5.4.12 and PWG 5100.9).
REASON_WORDS = {
    "media-empty": "out of paper",
    "media-needed": "paper needed",
    "media-jam": "paper jam",
    "media-low": "paper running low",
    "toner-empty": "out of ink or ribbon",
    "marker-supply-empty": "out of ink or ribbon",
    "marker-supply-low": "ink or ribbon running low",
    "door-open": "a door is open",
    "cover-open": "the cover is open",
    "offline": "offline",
    "offline-report": "offline",
    "paused": "paused in CUPS",
    "connecting-to-device": "connecting to the printer",
    "shutdown": "shut down",
    "timed-out": "not answering",
    "other": "a problem the printer does not name",
}


@dataclass(frozen=True)
class PrinterStatus:
    """The printer as the booth sees it.

    ``state``: "off" (no printer set), "missing" (CUPS has no such queue), "unreachable" (no
    CUPS answers), or CUPS's own "idle", "processing", "stopped". ``reasons``: CUPS's
    printer-state-reasons keywords (``media-empty-error``), without "none". ``message``: one
    sentence for the operator.
    """

    state: str
    reasons: list[str] = field(default_factory=list)
    message: str = ""
    printer: str | None = None

    @property
    def usable(self) -> bool:
        """A print sent now comes out (not stopped, missing, unreachable or off)."""
        return self.state in USABLE

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "reasons": list(self.reasons),
            "reason_words": reason_words(self.reasons),
            "message": self.message,
            "printer": self.printer,
            "usable": self.usable,
        }


@dataclass(frozen=True)
class JobStatus:
    """A CUPS job's state ("pending" … "completed", ``JOB_STATES``) and its reasons."""

    job_id: int
    state: str
    reasons: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.state in FINAL_JOB_STATES


class PrintRefused(Exception):
    """CUPS refused the print (no such queue, not accepting jobs); the message says why."""


def server(settings: Settings) -> tuple[str, int]:
    """(host, port) of the CUPS server: the setting, else ``CUPS_SERVER``, else localhost."""
    text = settings.cups_server or os.environ.get("CUPS_SERVER") or DEFAULT_SERVER
    if text.startswith("/"):  # a local socket path: CUPS listens on localhost too
        text = DEFAULT_SERVER
    host, _, port = text.rpartition(":") if ":" in text.strip("[]") else (text, "", "")
    host = host.strip("[]") or "localhost"
    return host, int(port) if port.isdigit() else DEFAULT_PORT


def _path(printer: str) -> str:
    return f"/printers/{quote(printer, safe='')}"


def _uri(settings: Settings, printer: str) -> str:
    host, port = server(settings)
    return f"ipp://{host}:{port}{_path(printer)}"


def _call(settings: Settings, printer: str, body: bytes) -> ipp.Response:
    host, port = server(settings)
    return ipp.post(host, port, _path(printer), body)


def _clean(reasons: list[str]) -> list[str]:
    return [reason for reason in reasons if reason and reason != "none"]


def reason_words(reasons: list[str]) -> list[str]:
    """CUPS's reason keywords in words ("media-empty-error" → "out of paper")."""
    words = []
    for reason in reasons:
        base = reason.removesuffix("-error").removesuffix("-warning").removesuffix("-report")
        text = REASON_WORDS.get(reason) or REASON_WORDS.get(base) or base.replace("-", " ")
        if text not in words:
            words.append(text)
    return words


def printer_status(settings: Settings) -> PrinterStatus:
    """Ask CUPS for ``settings.printer``'s state and reasons (one Get-Printer-Attributes)."""
    printer = settings.printer
    if not printer:
        return PrinterStatus(
            "off", [], "no printer is set (STYLEBOOTH_PRINTER): photo prints are not offered", None
        )
    host, port = server(settings)
    body = ipp.encode(
        ipp.GET_PRINTER_ATTRIBUTES,
        _uri(settings, printer),
        [
            (
                ipp.KEYWORD,
                "requested-attributes",
                [
                    "printer-state",
                    "printer-state-reasons",
                    "printer-state-message",
                    "printer-is-accepting-jobs",
                ],
            )
        ],
    )
    try:
        answer = _call(settings, printer, body)
    except ipp.Unreachable as exc:
        return PrinterStatus(
            "unreachable",
            [],
            f"no CUPS server answers at {host}:{port} "
            f"({exc}): start CUPS there or set STYLEBOOTH_CUPS_SERVER",
            printer,
        )
    if answer.status == ipp.NOT_FOUND:
        return PrinterStatus(
            "missing",
            [],
            f"CUPS at {host}:{port} has no printer "
            f"{printer!r}: add it (lpadmin) or fix STYLEBOOTH_PRINTER",
            printer,
        )
    if answer.status >= 0x0400:
        return PrinterStatus(
            "unreachable",
            [],
            f"CUPS at {host}:{port} refused to describe "
            f"{printer!r} (IPP status 0x{answer.status:04x})",
            printer,
        )
    attrs = answer.first(ipp.PRINTER)
    state = PRINTER_STATES.get((attrs.get("printer-state") or [3])[0], "stopped")
    reasons = _clean([str(r) for r in attrs.get("printer-state-reasons", [])])
    accepting = (attrs.get("printer-is-accepting-jobs") or [True])[0]
    said = (attrs.get("printer-state-message") or [""])[0]
    words = reason_words(reasons)
    if state == "stopped":
        message = f"printer {printer} is stopped" + (f": {', '.join(words)}" if words else "")
        message += (f" ({said})" if said else "") + "; prints wait in its queue until it is "
        message += "started again (cupsenable)"
    else:
        message = f"printer {printer} is {state}" + (f" ({', '.join(words)})" if words else "")
    if not accepting:
        message += "; it is not accepting new prints (cupsaccept)"
    return PrinterStatus(state, reasons, message, printer)


def submit(
    settings: Settings, document: bytes, *, copies: int, title: str, media: str | None = None
) -> JobStatus:
    """Send a PDF to ``settings.printer`` (Print-Job); the job CUPS made of it.
    ``PrintRefused`` when CUPS said no, ``ipp.Unreachable`` when it did not answer."""
    printer = settings.printer
    if not printer:
        raise PrintRefused("no printer is set (STYLEBOOTH_PRINTER)")
    job_attrs: list[tuple[int, str, object]] = [(ipp.INTEGER, "copies", copies)]
    if media:
        job_attrs.append((ipp.KEYWORD, "media", media))
    body = (
        ipp.encode(
            ipp.PRINT_JOB,
            _uri(settings, printer),
            [
                (ipp.NAME, "requesting-user-name", USER),
                (ipp.NAME, "job-name", title),
                (ipp.MIME, "document-format", "application/pdf"),
            ],
            job_attrs,
        )
        + document
    )
    host, port = server(settings)
    answer = ipp.post(host, port, _path(printer), body, timeout=30.0)
    if answer.status >= 0x0400:
        said = (answer.first(ipp.OPERATION).get("status-message") or [""])[0]
        raise PrintRefused(
            f"CUPS refused the print for {printer!r} (IPP status "
            f"0x{answer.status:04x}{': ' + said if said else ''})"
        )
    attrs = answer.first(ipp.JOB)
    job_id = int((attrs.get("job-id") or [0])[0])
    if not job_id:
        raise PrintRefused(f"CUPS took the print for {printer!r} but named no job")
    state = JOB_STATES.get((attrs.get("job-state") or [3])[0], "pending")
    return JobStatus(job_id, state, _clean([str(r) for r in attrs.get("job-state-reasons", [])]))


def job_status(settings: Settings, job_id: int) -> JobStatus | None:
    """A job's state and reasons (Get-Job-Attributes); None when CUPS no longer knows it."""
    printer = settings.printer or ""
    host, port = server(settings)
    body = ipp.encode(
        ipp.GET_JOB_ATTRIBUTES,
        _uri(settings, printer),
        [
            (ipp.INTEGER, "job-id", job_id),
            (ipp.NAME, "requesting-user-name", USER),
            (ipp.KEYWORD, "requested-attributes", ["job-state", "job-state-reasons"]),
        ],
    )
    answer = ipp.post(host, port, "/jobs", body)
    if answer.status == ipp.NOT_FOUND:
        return None
    if answer.status >= 0x0400:
        raise PrintRefused(f"CUPS would not describe job {job_id} (IPP 0x{answer.status:04x})")
    attrs = answer.first(ipp.JOB)
    state = JOB_STATES.get((attrs.get("job-state") or [3])[0], "pending")
    return JobStatus(job_id, state, _clean([str(r) for r in attrs.get("job-state-reasons", [])]))


def cancel(settings: Settings, job_id: int) -> bool:
    """Cancel a CUPS job (Cancel-Job); False when it had finished already or is unknown."""
    printer = settings.printer or ""
    host, port = server(settings)
    body = ipp.encode(
        ipp.CANCEL_JOB,
        _uri(settings, printer),
        [(ipp.INTEGER, "job-id", job_id), (ipp.NAME, "requesting-user-name", USER)],
    )
    answer = ipp.post(host, port, "/jobs", body)
    if answer.status in (ipp.NOT_FOUND, ipp.NOT_POSSIBLE):
        return False
    if answer.status >= 0x0400:
        said = (answer.first(ipp.OPERATION).get("status-message") or [""])[0]
        raise PrintRefused(
            f"CUPS would not cancel job {job_id} (IPP 0x{answer.status:04x}"
            f"{': ' + said if said else ''})"
        )
    return True
