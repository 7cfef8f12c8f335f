"""``/docs``: Swagger UI served from the package's own static files.

FastAPI's default page loads Swagger UI from a CDN and a favicon from fastapi's site;
the platform runs in networks without internet, so both are served locally, and the
online spec validator badge (which calls an outside server) is turned off.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from huiminbao.access.policies import Public

router = APIRouter(include_in_schema=False, dependencies=[Depends(Public())])


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=str(request.app.openapi_url),
        title=f"{request.app.title} · 文档",
        swagger_js_url="/static/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},
    )
