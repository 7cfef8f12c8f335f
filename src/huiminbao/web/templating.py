"""The Jinja2 environment, its filters, and the navigation shared by every page.

Amounts arrive as integer fen and are formatted here, once, with ``money.to_yuan``:
templates never do arithmetic on money.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Request, Response
from fastapi.templating import Jinja2Templates

from huiminbao import __version__
from huiminbao.access.policies import CSRF_COOKIE, SESSION_COOKIE
from huiminbao.identity.models import Role
from huiminbao.money import bp_to_percent, to_fen, to_yuan_grouped
from huiminbao.plans.catalog import KIND_LABELS
from huiminbao.web import TEMPLATES_DIR

STATUS_LABELS = {"official": "正式文件", "news": "新闻稿", "from_qa": "问答页整理", "illustrative": "示意数据"}


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str | None  # None: not built yet, shown greyed out
    roles: frozenset[str] = frozenset()  # empty: everyone, signed in or not


NAV: tuple[NavItem, ...] = (
    NavItem("方案", "/"),
    NavItem("试算", "/estimate"),
    NavItem("投保", "/enroll", frozenset({"resident", "clerk", "admin"})),
    NavItem("我的结算", "/me/settlements", frozenset({"resident"})),
    NavItem("医院结算", "/hospital/settlements", frozenset({"hospital", "admin"})),
    NavItem("理赔申请", "/claims", frozenset({"resident", "clerk", "admin"})),
    NavItem("理赔审核", "/claims/queue", frozenset({"adjuster", "admin"})),
    NavItem("理赔支付", "/claims/payments", frozenset({"finance"})),
    NavItem("客服", "/me/cases", frozenset({"resident"})),
    NavItem("客服", "/service/cases", frozenset({"clerk", "adjuster", "admin"})),
    NavItem("监管", "/supervision/enrollment", frozenset({"supervisor", "finance", "admin"})),
    NavItem("精算", "/actuarial", frozenset({"actuary", "admin"})),
    NavItem("管理", "/admin", frozenset({"admin"})),
)


def yuan(fen: int | None) -> str:
    """Integer fen as yuan with thousands separators: 1600000 -> "16,000.00"."""
    return "—" if fen is None else to_yuan_grouped(fen)


def status_label(status: object) -> str:
    value = getattr(status, "value", status)
    return STATUS_LABELS.get(str(value), str(value))


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


@dataclass(frozen=True)
class SessionView:
    """Who the session cookie says is signed in, for the menu on public pages (access is decided
    by each page's policy against the database, never by this)."""

    username: str
    role: Any


def session_claims(request: Request) -> SessionView | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        claims = jwt.decode(token, request.app.state.settings.secret_key, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return None
    return SessionView(str(claims.get("sub")), Role(claims.get("role")))


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    """A page with what every page needs: the signed-in user (if any) for the menu, and the CSRF token
    every form posts back (set as a cookie the first time, HttpOnly, SameSite=Lax, Secure over TLS)."""
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    user = getattr(request.state, "user", None) or session_claims(request)
    page = {"csrf_token": token, "user": user, **(context or {})}
    response = templates.TemplateResponse(request, name, page, status_code=status_code)
    if request.cookies.get(CSRF_COOKIE) != token:
        secure = request.url.scheme == "https"
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="lax", secure=secure, max_age=8 * 3600)
    return response


templates.env.filters["yuan"] = yuan
templates.env.filters["yuan_text"] = lambda text: "—" if text is None else to_yuan_grouped(to_fen(text))  # API yuan
templates.env.filters["percent"] = bp_to_percent
templates.env.filters["status_label"] = status_label
templates.env.filters["catalog_kind"] = KIND_LABELS.get
templates.env.globals["nav"] = NAV
templates.env.globals["version"] = __version__
templates.env.globals["product_name"] = "惠民保运营平台"

ROLE_LABELS = {
    "resident": "参保人",
    "hospital": "医院",
    "clerk": "柜面",
    "adjuster": "理赔",
    "finance": "财务",
    "actuary": "精算",
    "supervisor": "医保局监管",
    "admin": "管理员",
}
templates.env.filters["role_label"] = lambda role: ROLE_LABELS.get(str(role), str(role))
