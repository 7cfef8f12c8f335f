"""``/docs``: Swagger UI served from the package's own static files.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script; the
platform runs in networks without internet and under a Content-Security-Policy that forbids
inline scripts, so the page is written here: local files, started by /static/swagger-init.js.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from huiminbao.access.policies import Public

router = APIRouter(include_in_schema=False, dependencies=[Depends(Public())])


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    title = escape(f"{request.app.title} · 文档")
    spec = escape(str(request.app.openapi_url))
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="/static/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml"></head>
<body><div id="swagger-ui" data-openapi="{spec}"></div>
<script src="/static/swagger-ui-bundle.js"></script><script src="/static/swagger-init.js"></script></body></html>"""
    )
