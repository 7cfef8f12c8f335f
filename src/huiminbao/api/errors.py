"""One error body for the whole API (INTERFACES.md): ``{"code", "message", "field"}``.

Every 4xx carries a snake_case ``code`` a program can branch on, a one-sentence Chinese
``message`` a person can read, and the ``field`` (a dotted path into the request, or null).
Bad input is never a 500: request validation, the record reader's and the engine's refusals
and unknown routes all come here. An unexpected exception is a 500 with the same body and no
traceback (it is logged with the request id instead).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from huiminbao.access.errors import ApiError, ErrorBody
from huiminbao.access.policies import SignInRequired
from huiminbao.calendar import CalendarError
from huiminbao.engine.prepare import EngineError
from huiminbao.plans import PlanError, PlanIncomplete, PlanNotFound
from huiminbao.settlement.reader import RecordError

log = structlog.get_logger(__name__)


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (404, "不存在（如未知方案）"),
        (422, "请求有误：code 说明原因，field 指出字段"),
        (500, "服务器内部错误"),
    )
}
"""The ``responses`` every route declares, so OpenAPI documents the error body."""

HTTP_CODES = {
    400: ("bad_request", "请求格式有误"),
    401: ("not_authenticated", "需要登录"),
    403: ("forbidden", "无权访问"),
    404: ("not_found", "请求的地址不存在"),
    405: ("method_not_allowed", "不支持此请求方法"),
    413: ("too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持此内容类型"),
}
VALIDATION_TEXT = {
    "missing": "缺少此字段",
    "json_invalid": "请求内容不是合法的 JSON",
    "model_attributes_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象",
    "list_type": "应为列表",
    "string_type": "应为文字",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "too_short": "不能为空",
    "string_pattern_mismatch": "格式不正确",
    "union_tag_invalid": "类型不正确",
}


def body(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"code": code, "message": message, "field": field})


def _dotted(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"type": "invalid", "loc": ()}
    field = _dotted(tuple(first.get("loc", ())))
    text = VALIDATION_TEXT.get(str(first.get("type")), "取值不正确")
    return body(422, "invalid_request", f"{field}：{text}" if field else text, field)


async def _record(_request: Request, exc: Exception) -> JSONResponse:
    field = getattr(exc, "field", None)
    code = "invalid_record" if isinstance(exc, RecordError) else "cannot_adjudicate"
    return body(422, code, str(exc), None if field in (None, "(top)", "(file)") else field)


async def _plan_not_found(_request: Request, exc: Exception) -> JSONResponse:
    return body(404, "plan_not_found", f"没有方案 {exc.args[0]}", "plan")


async def _calendar(_request: Request, exc: Exception) -> JSONResponse:
    """A clock that reaches a year the working-day calendar does not know: the operator must add the
    year's notice to the override table; never a guessed deadline."""
    return body(503, "calendar_not_covered", str(exc), None)


async def _plan_incomplete(_request: Request, exc: Exception) -> JSONResponse:
    return body(422, "plan_incomplete", str(exc), "plan")


async def _plan_invalid(_request: Request, exc: Exception) -> JSONResponse:
    """A broken plan file on the server is an operator's error: say which file and field."""
    assert isinstance(exc, PlanError)
    path, problem = exc.problems[0] if exc.problems else ("", str(exc))
    log.error("plan.invalid", file=exc.file, problems=len(exc.problems))
    return body(500, "plan_invalid", f"方案文件 {exc.file} 有误：{path}：{problem}", path or None)


async def _sign_in(request: Request, _exc: Exception) -> RedirectResponse:
    """A page that needs a session sends the browser to sign in, and back afterwards."""
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


async def _api(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return body(exc.status, exc.code, exc.message, exc.field)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, text = HTTP_CODES.get(exc.status_code, ("http_error", "请求未能完成"))
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else text
    return JSONResponse(
        status_code=exc.status_code,
        content={"code": code, "message": detail, "field": None},
        headers=getattr(exc, "headers", None),
    )


async def _busy(_request: Request, exc: Exception) -> JSONResponse:
    """The database could not take the write now (SQLite's single writer was busy for its whole timeout, or a
    lock could not be had): nothing was written, so the client may simply retry."""
    log.warning("request.database_busy", error=type(exc).__name__)
    return JSONResponse(
        status_code=503,
        content={"code": "busy", "message": "系统繁忙，本次操作未生效，请稍后重试", "field": None},
        headers={"Retry-After": "1"},
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("request.unexpected_error", error=type(exc).__name__)
    return body(500, "internal_error", "服务器内部错误，请稍后再试；如一再出现请联系运营方")


def install(app: FastAPI, web_not_found: Any, web_refused: Any) -> None:
    """Register the handlers. Outside /api a 404 (an unknown plan too) renders ``web_not_found`` and a
    refusal ``web_refused`` (HTML pages with the menu); the API always answers the JSON body."""

    async def api_or_page(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, ApiError)
        if not request.url.path.startswith("/api/") and request.headers.get("HX-Request") != "true":
            return web_refused(request, exc.status, exc.message)
        return await _api(request, exc)

    async def plan_not_found(request: Request, exc: Exception) -> Any:
        if not request.url.path.startswith("/api/") and request.headers.get("HX-Request") != "true":
            return web_not_found(request, f"方案 {exc.args[0]}")
        return await _plan_not_found(request, exc)

    async def http(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and not request.url.path.startswith("/api/"):
            return web_not_found(request)
        return await _http(request, exc)

    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RecordError, _record)
    app.add_exception_handler(EngineError, _record)
    app.add_exception_handler(PlanNotFound, plan_not_found)
    app.add_exception_handler(PlanIncomplete, _plan_incomplete)
    app.add_exception_handler(CalendarError, _calendar)
    app.add_exception_handler(PlanError, _plan_invalid)
    app.add_exception_handler(ApiError, api_or_page)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(OperationalError, _busy)
    app.add_exception_handler(Exception, _unexpected)
