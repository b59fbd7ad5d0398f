"""/docs (Swagger UI) and /redoc: the API's documentation pages, with their scripts served
from the package (vendored like the UI's libraries), so they work on a machine without
internet and under a CSP that lets scripts come from this server only."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from plait.ui import assets

# No inline script anywhere: Swagger UI starts from a static file. Both draw with inline
# styles; ReDoc searches in a worker it makes from a blob.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


def docs_router(title: str, openapi_url: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    head = f'<meta charset="utf-8"><title>{escape(title)}</title>'
    url = escape(openapi_url)

    @router.get("/docs", response_class=HTMLResponse)
    async def swagger() -> HTMLResponse:
        css = assets.vendored("swagger-ui-dist", "swagger-ui.css")
        bundle = assets.vendored("swagger-ui-dist", "swagger-ui-bundle.js")
        page = (
            f'<!doctype html><html><head>{head}<link rel="stylesheet" href="{css}"></head>'
            f'<body><div id="swagger-ui" data-url="{url}"></div><script src="{bundle}"></script>'
            '<script src="/static/docs/swagger-init.js"></script></body></html>'
        )
        return HTMLResponse(page, headers=HEADERS)

    @router.get("/redoc", response_class=HTMLResponse)
    async def redoc() -> HTMLResponse:
        script = assets.vendored("redoc", "bundles/redoc.standalone.js")
        page = (
            f"<!doctype html><html><head>{head}</head><body>"
            f'<redoc spec-url="{url}"></redoc><script src="{script}"></script></body></html>'
        )
        return HTMLResponse(page, headers=HEADERS)

    return router
