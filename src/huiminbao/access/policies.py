"""Who may call what: one declared policy per route, as a dependency.

Every route declares exactly one of ``Public()``, ``Allow(*roles)``, ``HospitalSigned()`` or
``SignedOrAllow(*roles)`` (either of the two)
among its dependencies (tests/test_policies.py walks every route and fails on one that
declares none, and checks each answers 401/403/200 as its policy says):

- ``Allow``: a bearer token from ``POST /api/v1/auth/token`` (HS256 JWT with expiry) whose user is
  active and holds one of the roles; 401 without a valid token, 403 with the wrong role.
- ``HospitalSigned``: the HMAC scheme of INTERFACES.md (hospital code, Unix timestamp within 300 s,
  a nonce not seen in 10 minutes, SHA-256 of the body, HMAC-SHA256 with the hospital's secret, the
  previous secret accepted during its grace period after rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from huiminbao.access.errors import ApiError
from huiminbao.db import SessionDep
from huiminbao.identity import audit
from huiminbao.identity.models import Role, User
from huiminbao.identity.service import NONCE_REUSED, hospital_secrets, use_nonces

TOKEN_TTL = timedelta(hours=8)
CLOCK_SKEW = 300  # seconds a signed request's timestamp may differ from the server's clock
NONCE = re.compile(r"^[A-Za-z0-9]{16,64}$")
_bearer = HTTPBearer(auto_error=False, description="POST /api/v1/auth/token 取得的 access_token")


def actor_of(request: Request, user: User) -> audit.Actor:
    """The audit log's who: the signed-in user, their role and the address the request came from."""
    return audit.Actor(user.username, user.role.value, request.client.host if request.client else None)


def issue_token(user: User, secret: str) -> str:
    """A signed token for the user; it stops working when it expires or the password changes."""
    now = datetime.now(UTC)
    claims = {"sub": user.username, "role": user.role.value, "pwd": user.password_hash[-12:]}
    return jwt.encode(claims | {"iat": now, "exp": now + TOKEN_TTL}, secret, algorithm="HS256")


class Public:
    """A public route: no sign-in (plan list, health, documentation)."""

    roles: frozenset[Role] = frozenset()

    def __call__(self) -> None:
        return None


def user_of_token(request: Request, session: Any, token: str) -> User:
    """The active user a token (bearer or session cookie) was issued to; ApiError 401 otherwise."""
    try:
        claims = jwt.decode(token, request.app.state.settings.secret_key, algorithms=["HS256"])
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "token_expired", "登录已过期，请重新登录") from None
    except jwt.InvalidTokenError:
        raise ApiError(401, "invalid_token", "令牌无效，请重新登录") from None
    user = session.scalars(sa.select(User).where(User.username == claims.get("sub"))).first()
    if user is None or not user.active or claims.get("pwd") != user.password_hash[-12:]:
        raise ApiError(401, "invalid_token", "令牌无效，请重新登录")
    return user


class Allow:
    """A route for signed-in users of these roles; the dependency returns the user."""

    def __init__(self, *roles: Role):
        self.roles = frozenset(roles or tuple(Role))

    def __call__(
        self,
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> User:
        if credentials is None:
            raise ApiError(401, "not_authenticated", "需要登录：请在 Authorization 头中提供 Bearer 令牌")
        user = user_of_token(request, session, credentials.credentials)
        if user.role not in self.roles:
            raise ApiError(403, "forbidden", "当前角色无权访问")
        request.state.user = user
        request.state.who = (user.username, user.role.value)  # for the request log, whatever the session does
        return user


class SignInRequired(Exception):
    """A page asked for without a session: the web answers with the sign-in page's address."""


SESSION_COOKIE = "hmb_session"
CSRF_COOKIE = "hmb_csrf"


class SignedIn:
    """A page for users signed in to the web (session cookie) with one of these roles; returns the user.
    Without a session the browser is sent to /login; with the wrong role the page answers 403."""

    def __init__(self, *roles: Role):
        self.roles = frozenset(roles or tuple(Role))

    def __call__(self, request: Request, session: SessionDep) -> User:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise SignInRequired
        try:
            user = user_of_token(request, session, token)
        except ApiError:
            raise SignInRequired from None
        if user.role not in self.roles:
            raise ApiError(403, "forbidden", "当前角色无权访问此页面")
        request.state.user = user
        request.state.who = (user.username, user.role.value)  # for the request log, whatever the session does
        return user


async def check_csrf(request: Request) -> None:
    """Every form posted to the web carries the token of its CSRF cookie (double submit), as a form
    field ``csrf_token`` or the ``X-CSRF-Token`` header HTMX sends."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf_token") or "")
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise ApiError(403, "csrf_failed", "页面已过期或来源不明，请刷新页面后重试")


class HospitalSigned:
    """A route for hospitals' settlement systems, signed with the hospital's secret; returns its code.

    The nonce is recorded as used in a transaction of its own, so a replay is refused even when the
    request fails; ``defer_nonce`` leaves that to the route (``request.state.nonce``), which records it
    in its own transaction: one-stop settlements record theirs with the batch they are settled in."""

    roles: frozenset[Role] = frozenset()

    def __init__(self, *, defer_nonce: bool = False) -> None:
        self.defer_nonce = defer_nonce

    async def __call__(self, request: Request, session: SessionDep) -> str:
        h = request.headers
        code, stamp, nonce, signature = (h.get(f"X-HMB-{k}") for k in ("Hospital", "Timestamp", "Nonce", "Signature"))
        if not (code and stamp and nonce and signature):
            raise ApiError(401, "signature_missing", "缺少签名头（X-HMB-Hospital/Timestamp/Nonce/Signature）")
        if not stamp.isdigit() or abs(int(stamp) - time.time()) > CLOCK_SKEW:
            raise ApiError(401, "timestamp_out_of_window", "请求时间戳与服务器时间相差超过 300 秒", "X-HMB-Timestamp")
        if not NONCE.match(nonce):
            raise ApiError(401, "invalid_nonce", "随机串应为 16 至 64 位字母或数字", "X-HMB-Nonce")
        body = await request.body()
        message = "\n".join([request.method, request.url.path, stamp, nonce, hashlib.sha256(body).hexdigest()])
        keys = request.app.state.settings.pii_keys
        await run_in_threadpool(_check_signature, session, keys, code, message, signature)
        if self.defer_nonce:
            request.state.nonce = (code, nonce)
        else:
            await run_in_threadpool(_use_nonce, session, code, nonce)
        request.state.hospital = code
        return code


def nonce_reused() -> ApiError:
    return ApiError(401, "nonce_reused", NONCE_REUSED, "X-HMB-Nonce")


def _check_signature(session: Session, keys: Any, code: str, message: str, signature: str) -> None:
    good = any(
        hmac.compare_digest(hmac.new(s.encode(), message.encode(), hashlib.sha256).hexdigest(), signature)
        for s in hospital_secrets(session=session, keys=keys, code=code)
    )
    session.rollback()  # a read: the connection goes back to the pool
    if not good:
        raise ApiError(401, "bad_signature", "签名不正确", "X-HMB-Signature")


def _use_nonce(session: Session, code: str, nonce: str) -> None:
    if not use_nonces(session=session, nonces=[(code, nonce)])[0]:
        session.rollback()
        raise nonce_reused()
    session.commit()


class SignedOrAllow(Allow):
    """A route a hospital's system calls signed (``HospitalSigned``) and signed-in users of these roles
    call with a bearer token (``Allow``): returns the hospital's code or the user. Which one is decided
    by the presence of the signature header; each path then refuses exactly as its own policy does."""

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> User | str:
        if request.headers.get("X-HMB-Signature") is not None:
            return await HospitalSigned()(request, session)
        return await run_in_threadpool(Allow.__call__, self, request, session, credentials)


def declared_policy(dependencies: list[Any]) -> Any:
    """The policy a route declares among its dependencies (tests use it), or None."""
    found = [d.call for d in dependencies if isinstance(d.call, Public | Allow | SignedIn | HospitalSigned)]
    return found[0] if len(found) == 1 else None


STAFF = (Role.CLERK, Role.ADJUSTER, Role.FINANCE, Role.ACTUARY, Role.SUPERVISOR, Role.ADMIN)
