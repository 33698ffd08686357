"""The booth's URLs, written from its named routes (aiohttp's ``url_for``), never by hand.

API and image URLs are paths, on whichever site the request came in on; the phone's download
link is absolute, on the public base (``kiosk.network.public_base``: never the request's Host).
The app builds one ``Links`` (``kiosk.keys.LINKS``); the admin sub-app reads the same one.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

ADMIN = "/admin"  # the operator's sub-app is mounted here (its site may be its own port)


def is_admin_path(path: str) -> bool:
    """Whether ``path`` is the admin page or below it (``/admin`` itself redirects)."""
    return path == ADMIN or path.startswith(ADMIN + "/")


@dataclass(frozen=True)
class Links:
    public_base: str
    router: web.UrlDispatcher  # the booth app's, whose routes are named where they are declared

    def path(self, route: str, query: dict[str, str] | None = None, **parts: str) -> str:
        """The path of the named ``route`` with its ``{parts}`` filled in (and quoted)."""
        url = self.router[route].url_for(**parts)
        return str(url.with_query(query) if query else url)

    def export_file(self, export_id: str, role: str) -> str:
        """An order's print file (the booth's result panel, the admin page's reprints)."""
        return self.path("export_file", export_id=export_id, role=role)

    def download(self, token: str) -> str:
        """The phone's download page: the address the QR code carries."""
        return self.public_base.rstrip("/") + self.path("download_page", token=token)
