"""The web console: static HTML, CSS and ES modules served under /console.

No build step and nothing from the internet: the files in api/console/ are the whole
console. It signs in with the same Bearer credentials as any API client and calls the
same routes, so it can do nothing a credential could not do without it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

FILES = Path(__file__).parent / "console"
URL = "/console"

# The console keeps a credential in sessionStorage: no script, style or connection but
# the API's own, and no framing by another site.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _ConsoleFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def add_console(app: FastAPI) -> None:
    @app.get(URL, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(f"{URL}/")

    app.mount(URL, _ConsoleFiles(directory=FILES, html=True), name="console")
