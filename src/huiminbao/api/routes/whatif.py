"""``POST /api/v1/whatif``: a candidate plan priced on the base plan's stored year (``supervision.whatif``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import Allow
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.engine.prepare import EngineError
from huiminbao.identity.models import Role, User
from huiminbao.plans import PlanError, PlanIncomplete, PlanNotFound
from huiminbao.settlement.reader import RecordError
from huiminbao.supervision.whatif import Comparison, WhatIfError
from huiminbao.supervision.whatif_store import price_stored

router = APIRouter(prefix="/api/v1", tags=["supervision"])
ACTUARIES = (Role.ACTUARY, Role.ADMIN)
MAX_PLAN_BYTES = 1_000_000
CANDIDATE_NAME = "candidate.yaml"  # what errors call a candidate sent as text
FIELDS = {
    "base": {"type": "string", "description": "the plan that paid the year, e.g. liaocheng-2024"},
    "candidate": {"type": "string", "description": "the candidate plan file's YAML text (multipart: the file)"},
    "tier": {"type": "string", "description": "price everyone in this tier of the candidate (default: their own)"},
    "target_loss_ratio": {"type": "string", "description": '"80%" or "0.8"; default the base plan\'s floor'},
}
BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "required": ["base", "candidate"], "properties": FIELDS},
            "example": {
                "base": "liaocheng-2024",
                "candidate": "id: liaocheng-2025-draft\n...",
                "target_loss_ratio": "80%",
            },
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["base", "candidate"],
                "properties": FIELDS | {"candidate": {"type": "string", "format": "binary"}},
            }
        },
    },
}


def refusal(exc: Exception) -> ApiError:
    """The error body for whatever pricing refused: a bad candidate names its field path."""
    if isinstance(exc, PlanError):
        path, problem = exc.problems[0] if exc.problems else ("", str(exc))
        where = f"{path}：" if path else ""
        return ApiError(
            422,
            "invalid_candidate",
            f"候选方案 {exc.file}：{where}{problem}",
            f"candidate.{path}" if path else "candidate",
        )
    if isinstance(exc, PlanNotFound):
        return ApiError(404, "plan_not_found", f"没有方案 {exc.args[0]}", "base")
    if isinstance(exc, WhatIfError):
        code = "no_settlements" if exc.field == "base" else f"invalid_{exc.field or 'request'}"
        return ApiError(422, code, str(exc), exc.field)
    if isinstance(exc, PlanIncomplete):
        return ApiError(422, "plan_incomplete", str(exc), "candidate")
    field = getattr(exc, "field", None)
    return ApiError(422, "cannot_adjudicate", str(exc), None if field in (None, "(top)", "(file)") else field)


REFUSED = (PlanError, PlanNotFound, WhatIfError, PlanIncomplete, EngineError, RecordError)


def price(session: Session, fields: dict[str, str | None], name: str = CANDIDATE_NAME) -> Comparison:
    """Price the request's candidate on the stored year; every refusal as the error body."""
    for key in ("base", "candidate"):
        if not (fields.get(key) or "").strip():
            raise ApiError(422, f"missing_{key}", "请选择基准方案" if key == "base" else "请给出候选方案（YAML）", key)
    try:
        return price_stored(
            session=session, base=str(fields["base"]).strip(), candidate=str(fields["candidate"]), name=name,
            tier=(fields.get("tier") or "").strip() or None, target=fields.get("target_loss_ratio"),
        )  # fmt: skip
    except REFUSED as exc:
        raise refusal(exc) from exc


async def _fields(request: Request) -> tuple[dict[str, str | None], str]:
    """The request's fields from JSON or multipart (the candidate as a file or text) and its file name."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data") or kind.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        out: dict[str, str | None] = {k: v for k, v in form.items() if isinstance(v, str)}
        upload = form.get("candidate")
        name = CANDIDATE_NAME
        if isinstance(upload, UploadFile):
            name = upload.filename or CANDIDATE_NAME
            out["candidate"] = text(await upload.read(MAX_PLAN_BYTES + 1))
        return out, name
    raw = await request.body()
    try:
        data: Any = json.loads(raw) if raw else {}
    except ValueError:
        raise ApiError(422, "invalid_request", "请求内容不是合法的 JSON", None) from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", "应为 JSON 对象", None)
    for key, value in data.items():
        if value is not None and not isinstance(value, str):
            raise ApiError(422, "invalid_request", f"{key}：应为文字", key)
    return data, CANDIDATE_NAME


def text(data: bytes) -> str:
    """An uploaded candidate's bytes as text: at most 1 MB of UTF-8."""
    if len(data) > MAX_PLAN_BYTES:
        raise ApiError(413, "too_large", "候选方案文件不能超过 1 MB", "candidate")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_candidate", "候选方案文件应为 UTF-8 编码的 YAML", "candidate") from None


@router.post("/whatif", responses=ERRORS, openapi_extra={"requestBody": BODY})
async def whatif(
    request: Request, session: SessionDep, _user: Annotated[User, Depends(Allow(*ACTUARIES))]
) -> dict[str, Any]:
    """Price a candidate plan (YAML, validated as any plan file) on the base plan's stored year — the
    settlements the platform recorded and its policyholders — beside the base plan: payout and persons
    paid by liability, deciles of the payout per person paid, loss ratio at today's premium, premium per
    person for the target loss ratio. Amounts in yuan. The candidate's cover is moved onto the base
    plan's (``notes`` says so). Reads only; the year is kept in memory until something new is stored."""
    fields, name = await _fields(request)
    result = await run_in_threadpool(price, session, fields, name)
    return result.to_json()
