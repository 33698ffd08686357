"""The guest's phone page: ``/d/<token>`` (the QR code's link) and the painting itself.

The token is per capture and unguessable (256 random bits); any other token is a 404 that
says nothing about which captures exist.
"""

from __future__ import annotations

import html
import re

from aiohttp import web

from kiosk import event_settings
from kiosk.dbio import run_db
from kiosk.keys import LINKS, SETTINGS
from kiosk.queue import manager
from kiosk.storage import resolve

routes = web.RouteTableDef()

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}<title>{title}</title>
<style>
body {{ margin: 0; font-family: system-ui, sans-serif; background: #111; color: #fff;
  text-align: center; }}
main {{ max-width: 40rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }}
img {{ width: 100%; border-radius: .5rem; }}
a.button {{ display: inline-block; margin-top: 1.2rem; padding: 1rem 2rem; border-radius: 2rem;
  background: #ffcc33; color: #111; font-size: 1.2rem; font-weight: 700; text-decoration: none; }}
p {{ opacity: .85; }}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def page(title: str, body: str, *, status: int = 200, refresh: int | None = None) -> web.Response:
    meta = f'<meta http-equiv="refresh" content="{refresh}">\n' if refresh else ""
    text = PAGE.format(title=html.escape(title), body=body, refresh=meta)
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def not_found() -> web.Response:
    return page(
        "Link not found",
        "<p>This download link is not valid. Scan the QR code at the booth again.</p>",
        status=404,
    )


@routes.get("/d/{token}", name="download_page")
async def download_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    found = await run_db(request, manager.download_state, token) if TOKEN.match(token) else None
    if found is None:
        return not_found()
    values = await run_db(request, event_settings.load, request.config_dict[SETTINGS])
    title = values["event_name"]
    if found["painting"] is None:
        return page(
            title,
            "<p>Your painting is still being made. This page updates by itself.</p>",
            refresh=3,
        )
    image = request.config_dict[LINKS].path("download_painting", token=token)
    body = (
        f'<img src="{image}" alt="Your painting">'
        f'<p><a class="button" href="{image}?download=1" download="stylebooth.jpg">'
        "Download</a></p>"
    )
    if found["painting_now"]:
        body += "<p>A finer version is still being painted; this page updates by itself.</p>"
    return page(title, body, refresh=5 if found["painting_now"] else None)


@routes.get("/d/{token}/painting.jpg", name="download_painting")
async def download_painting(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    found = await run_db(request, manager.download_state, token) if TOKEN.match(token) else None
    if found is None or found["painting"] is None:
        return not_found()
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if "download" in request.query:
        headers["Content-Disposition"] = 'attachment; filename="stylebooth.jpg"'
    path = resolve(request.config_dict[SETTINGS].data_dir, found["painting"])
    return web.FileResponse(path, headers=headers)
