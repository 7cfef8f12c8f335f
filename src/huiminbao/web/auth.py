"""Sign-in, sign-out and password change on the web: a session cookie (HttpOnly, SameSite=Lax, Secure
over TLS) holding a signed token that stops working when it expires or the password changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from huiminbao.access.policies import SESSION_COOKIE, TOKEN_TTL, Public, SignedIn, check_csrf, issue_token
from huiminbao.db import SessionDep
from huiminbao.identity import audit
from huiminbao.identity.models import User
from huiminbao.identity.passwords import PasswordRuleError, check_rules, hash_password, verify_password
from huiminbao.identity.service import IdentityError, authenticate
from huiminbao.web.templating import render

router = APIRouter(include_in_schema=False)


def with_session(response: Response, request: Request, user: User) -> Response:
    """The response carrying a fresh session cookie for the user."""
    token = issue_token(user, request.app.state.settings.secret_key)
    secure = request.url.scheme == "https"
    ttl = int(TOKEN_TTL.total_seconds())
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure, max_age=ttl)
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never another origin) to go back to after signing in."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(Public())])
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "active": ""})


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(Public()), Depends(check_csrf)])
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        user = authenticate(session=session, username=username, password=password)
    except IdentityError as exc:
        session.commit()
        context = {"error": str(exc), "username": username, "next": _safe_next(next), "active": ""}
        return render(request, "login.html", context, status_code=401)
    session.commit()
    return with_session(RedirectResponse(_safe_next(next), status_code=303), request, user)


@router.post("/logout", dependencies=[Depends(Public()), Depends(check_csrf)])
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, user: Annotated[User, Depends(SignedIn())]) -> Response:
    return render(request, "password.html", {"active": ""})


@router.post("/account/password", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def change_password(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(SignedIn())],
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
) -> Response:
    """A new password for the signed-in user; every other session of the user ends with it."""
    error = None
    if not verify_password(current, user.password_hash):
        error = "当前密码不正确"
    elif new != again:
        error = "两次输入的新密码不一致"
    else:
        try:
            check_rules(new, user.username)
        except PasswordRuleError as exc:
            error = str(exc)
    if error:
        return render(request, "password.html", {"error": error, "active": ""}, status_code=422)
    me = session.merge(user)
    me.password_hash = hash_password(new)
    actor = audit.Actor(me.username, me.role.value, request.client.host if request.client else None)
    audit.record(session=session, actor=actor, action="user.password", entity="user", entity_id=me.username)
    session.commit()
    return with_session(render(request, "password.html", {"done": True, "active": ""}), request, me)
