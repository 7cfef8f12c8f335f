"""Administration pages in Chinese: users and roles, hospitals and their signing secrets, plan files and
catalogs checked before they are accepted, the audit log.

Every page is for administrators only (``SignedIn(Role.ADMIN)``), every form carries its CSRF
token, and every change goes through the identity service, which audits it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from huiminbao.access.policies import SignedIn, actor_of, check_csrf
from huiminbao.admin import catalogs
from huiminbao.admin.plans import register_plans
from huiminbao.db import SessionDep
from huiminbao.identity import audit
from huiminbao.identity.models import AuditEntry, Hospital, Role, User
from huiminbao.identity.service import IdentityError, add_hospital, create_user, rotate_secret
from huiminbao.plans import PlanError, list_plans, load_plan_file, missing_figures
from huiminbao.web.templating import ROLE_LABELS, render

ADMIN = SignedIn(Role.ADMIN)
router = APIRouter(prefix="/admin", include_in_schema=False)
AdminDep = Annotated[User, Depends(ADMIN)]
PAGE = 100
MAX_PLAN_BYTES = 1 << 20


def plans_dir() -> Path | None:
    """The operator's plan folder (HMB_PLANS_DIR), read before the packaged plans; None if not set."""
    folder = os.environ.get("HMB_PLANS_DIR")
    return Path(folder) if folder else None


_actor = actor_of


@router.get("", dependencies=[Depends(ADMIN)])
def admin_home() -> Response:
    return RedirectResponse("/admin/users", status_code=303)


def _users_page(request: Request, session: SessionDep, **extra: object) -> Response:
    users = session.scalars(sa.select(User).order_by(User.username)).all()
    hospitals = session.scalars(sa.select(Hospital).order_by(Hospital.code)).all()
    context = {"users": users, "hospitals": hospitals, "roles": ROLE_LABELS, "active": "管理", "tab": "users"}
    return render(request, "admin_users.html", context | extra, status_code=422 if "error" in extra else 200)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, _admin: AdminDep) -> Response:
    return _users_page(request, session)


@router.post("/users", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def add_user(
    request: Request,
    session: SessionDep,
    admin: AdminDep,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    link: Annotated[str, Form()] = "",
) -> Response:
    """A new user; the link is the person number, hospital code or insurer code the role needs."""
    if role not in ROLE_LABELS:
        return _users_page(request, session, error="请选择角色", form={"username": username})
    chosen = Role(role)
    links = {"psn_no": None, "hospital_code": None, "insurer_code": None}
    if chosen is Role.RESIDENT:
        links["psn_no"] = link.strip() or None
    elif chosen is Role.HOSPITAL:
        links["hospital_code"] = link.strip() or None
    elif chosen in (Role.CLERK, Role.ADJUSTER, Role.FINANCE):
        links["insurer_code"] = link.strip() or None
    try:
        create_user(
            session=session, actor=_actor(request, admin), username=username, role=chosen, password=password, **links
        )
    except IdentityError as exc:
        session.rollback()
        return _users_page(request, session, error=str(exc), form={"username": username, "role": role, "link": link})
    session.commit()
    return _users_page(request, session, done=f"已创建用户 {username.strip()}（{ROLE_LABELS[role]}）")


def _hospitals_page(request: Request, session: SessionDep, **extra: object) -> Response:
    hospitals = session.scalars(sa.select(Hospital).order_by(Hospital.code)).all()
    context = {"hospitals": hospitals, "active": "管理", "tab": "hospitals"}
    return render(request, "admin_hospitals.html", context | extra, status_code=422 if "error" in extra else 200)


@router.get("/hospitals", response_class=HTMLResponse)
def hospitals_page(request: Request, session: SessionDep, _admin: AdminDep) -> Response:
    return _hospitals_page(request, session)


@router.post("/hospitals", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def register_hospital(
    request: Request,
    session: SessionDep,
    admin: AdminDep,
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    level: Annotated[str, Form()] = "",
) -> Response:
    """Register a hospital and show its signing secret, once."""
    key = request.app.state.settings.pii_key_bytes
    try:
        lvl = int(level) if level.strip() else None
        secret = add_hospital(session=session, actor=_actor(request, admin), key=key, code=code, name=name, level=lvl)
    except (IdentityError, ValueError) as exc:
        session.rollback()
        message = str(exc) if isinstance(exc, IdentityError) else "医院级别应为 1、2 或 3"
        return _hospitals_page(request, session, error=message, form={"code": code, "name": name, "level": level})
    session.commit()
    return _hospitals_page(request, session, secret={"code": code.strip(), "secret": secret})


@router.post("/hospitals/{code}/rotate", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def rotate(request: Request, session: SessionDep, admin: AdminDep, code: str) -> Response:
    """A new signing secret, shown once; the old one stays valid for 24 hours."""
    key = request.app.state.settings.pii_key_bytes
    try:
        secret = rotate_secret(session=session, actor=_actor(request, admin), key=key, code=code)
    except IdentityError as exc:
        session.rollback()
        return _hospitals_page(request, session, error=str(exc))
    session.commit()
    return _hospitals_page(request, session, secret={"code": code, "secret": secret, "rotated": True})


def _plans_page(request: Request, **extra: object) -> Response:
    context = {"plans": list_plans(), "active": "管理", "tab": "plans", "plans_dir": plans_dir()}
    return render(request, "admin_plans.html", context | extra, status_code=422 if "problems" in extra else 200)


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request, _admin: AdminDep) -> Response:
    return _plans_page(request)


@router.post("/plans", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
async def upload_plan(
    request: Request,
    session: SessionDep,
    admin: AdminDep,
    file: Annotated[UploadFile, File()],
    accept: Annotated[str, Form()] = "",
) -> Response:
    """Check an uploaded plan file as the platform loads plans: its problems by file and field, or, when
    it validates and the operator accepts it, write it to the operator's plan folder and record it."""
    name = Path(file.filename or "plan.yaml").name
    data = await file.read(MAX_PLAN_BYTES + 1)
    if len(data) > MAX_PLAN_BYTES or not name.endswith(".yaml"):
        return _plans_page(request, problems=[(name, "", "应为不超过 1 MB 的 .yaml 方案文件")])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            compiled = load_plan_file(path)
        except PlanError as exc:
            return _plans_page(request, problems=[(name, field, msg) for field, msg in exc.problems])
    plan = compiled.plan
    gaps = [m for t in plan.tiers for m in missing_figures(plan, t)]
    if not accept:
        return _plans_page(request, checked={"name": name, "plan": plan, "gaps": gaps})
    target = plans_dir()
    if target is None:
        return _plans_page(
            request, problems=[(name, "", "未配置运营方方案文件夹（HMB_PLANS_DIR），不能启用上传的方案")]
        )
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{plan.id}.yaml").write_bytes(data)
    register_plans(session=session)
    after = {"plan": plan.id, "sha256": hashlib.sha256(data).hexdigest(), "file": str(target / f"{plan.id}.yaml")}
    audit.record(
        session=session,
        actor=_actor(request, admin),
        action="plan.upload",
        entity="plan",
        entity_id=plan.id,
        after=after,
    )
    session.commit()
    return _plans_page(request, done=f"方案 {plan.id} 已启用")


def _catalogs_page(request: Request, **extra: object) -> Response:
    context = {"catalogs": catalogs.in_force(), "active": "管理", "tab": "catalogs", "plans_dir": plans_dir()}
    context |= {"code_columns": catalogs.CODE_COLUMNS, "name_columns": catalogs.NAME_COLUMNS}
    return render(request, "admin_catalogs.html", context | extra, status_code=422 if "problems" in extra else 200)


@router.get("/catalogs", response_class=HTMLResponse)
def catalogs_page(request: Request, _admin: AdminDep) -> Response:
    return _catalogs_page(request)


@router.post("/catalogs", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
async def upload_catalog(
    request: Request,
    session: SessionDep,
    admin: AdminDep,
    file: Annotated[UploadFile, File()],
    accept: Annotated[str, Form()] = "",
) -> Response:
    """Check an uploaded catalog (YAML, or a CSV/XLSX list of entries) and try it on every plan naming it:
    its problems by file and field or row, or, when all passes and the operator accepts it, write it to
    the operator's folder and record it."""
    name = Path(file.filename or "catalog.yaml").name
    data = await file.read(catalogs.MAX_CATALOG_BYTES + 1)
    try:
        checked = catalogs.check_upload(name, data)
    except catalogs.CatalogRejected as exc:
        return _catalogs_page(request, problems=exc.problems)
    if not accept:
        return _catalogs_page(request, checked=checked)
    folder = plans_dir()
    if folder is None:
        return _catalogs_page(
            request, problems=[(name, "", "未配置运营方方案文件夹（HMB_PLANS_DIR），不能启用上传的目录")]
        )
    catalogs.accept(session=session, actor=_actor(request, admin), checked=checked, folder=folder)
    session.commit()
    return _catalogs_page(request, done=f"目录 {checked.catalog.id} 已启用（{len(checked.catalog.entries)} 条）")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    _admin: AdminDep,
    actor: str = "",
    entity: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    """The audit log searched by user, entity and date, newest first."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(PAGE)
    error = None
    if actor.strip():
        query = query.where(AuditEntry.actor == actor.strip())
    if entity.strip():
        query = query.where((AuditEntry.entity == entity.strip()) | (AuditEntry.entity_id == entity.strip()))
    try:
        if since:
            query = query.where(AuditEntry.at >= datetime.combine(date.fromisoformat(since), time(), UTC))
        if until:
            end = datetime.combine(date.fromisoformat(until), time(), UTC) + timedelta(days=1)
            query = query.where(AuditEntry.at < end)
    except ValueError:
        error = "日期格式应为 YYYY-MM-DD"
    rows = [] if error else session.scalars(query).all()
    audit.seal(session=session)  # the newest entries, before the chain is checked
    session.commit()
    rows_checked, bad, problem = audit.verify(session=session)
    context = {
        "rows": rows,
        "filters": {"actor": actor, "entity": entity, "since": since, "until": until},
        "error": error,
        "chain": {"rows": rows_checked, "bad": bad, "problem": problem},
        "active": "管理",
        "tab": "audit",
    }
    return render(request, "admin_audit.html", context)
