"""The console's page and scripts, served as written (no build step) by the API's app.

The console keeps nothing of its own: the page signs in with an API token (kept in the browser's
sessionStorage, sent as the bearer header) and then reads and acts through the same JSON routes,
with the same scopes, as any other client. What is served here is code, the same for everyone, so
it needs no token. The headers lock it down: a Content-Security-Policy that runs only these files
(no inline script or style, nothing from another origin, no framing), no MIME sniffing, no
referrer. Files are looked up in a fixed table, never by a path taken from the request.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

__all__ = ["ASSETS", "SECURITY_HEADERS", "router"]

#: Public name under /ui/assets/ -> (file under static/, media type).
ASSETS: dict[str, tuple[str, str]] = {
    "console.css": ("console.css", "text/css; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "api.js": ("api.js", "text/javascript; charset=utf-8"),
    "dom.js": ("dom.js", "text/javascript; charset=utf-8"),
    "campaigns.js": ("campaigns.js", "text/javascript; charset=utf-8"),
    "campaign.js": ("campaign.js", "text/javascript; charset=utf-8"),
    "charts.js": ("charts.js", "text/javascript; charset=utf-8"),
    "submit.js": ("submit.js", "text/javascript; charset=utf-8"),
    "dnc.js": ("dnc.js", "text/javascript; charset=utf-8"),
    "chart.umd.min.js": ("vendor/chart.js/chart.umd.min.js", "text/javascript; charset=utf-8"),
    "chart.js-LICENSE.md": ("vendor/chart.js/LICENSE.md", "text/plain; charset=utf-8"),
}
_PAGE = ("index.html", "text/html; charset=utf-8")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Revalidate every time (cheap: the ETag answers 304), so an upgrade is seen at once.
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@functools.cache
def _read(path: str) -> tuple[bytes, str]:
    body = resources.files("dispatcher.console").joinpath("static", path).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _file(request: Request, path: str, media_type: str) -> Response:
    body, etag = _read(path)
    headers = {**SECURITY_HEADERS, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/")
def root() -> RedirectResponse:
    """The console is the API's front page."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
def page(request: Request) -> Response:
    """The console's one page (it signs in, then reads and acts through the JSON API)."""
    return _file(request, *_PAGE)


@router.get("/ui/assets/{name}")
def asset(request: Request, name: str) -> Response:
    """One of the console's scripts or styles, by its name in `ASSETS`."""
    found = ASSETS.get(name)
    if found is None:
        raise HTTPException(404, "no such asset")  # the API's error shape, code `not_found`
    return _file(request, *found)
