"""``/api/v1/auth``: sign-in for the API (OAuth2 password form) and who am I."""

from __future__ import annotations

import time
from collections import deque
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel

from huiminbao.access.policies import Allow, Public, issue_token
from huiminbao.api.errors import ERRORS, ApiError
from huiminbao.db import SessionDep
from huiminbao.identity.models import User
from huiminbao.identity.service import IdentityError, authenticate

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
RATE = (20, 60.0)  # at most 20 sign-in attempts a minute from one address (per server process)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class Me(BaseModel):
    username: str
    role: str
    psn_no: str | None = None
    hospital_code: str | None = None
    insurer_code: str | None = None


def _rate_limit(request: Request) -> None:
    attempts: dict[str, deque[float]] = request.app.state.sign_in_attempts
    window = attempts[request.client.host if request.client else "unknown"]
    now = time.monotonic()
    while window and now - window[0] > RATE[1]:
        window.popleft()
    if len(window) >= RATE[0]:
        raise ApiError(429, "too_many_attempts", "登录尝试过于频繁，请一分钟后再试")
    window.append(now)


@router.post("/token", response_model=Token, responses=ERRORS, dependencies=[Depends(Public())])
def sign_in(
    request: Request, session: SessionDep, username: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Token:
    """OAuth2 password sign-in: answers a bearer token that expires after 8 hours."""
    _rate_limit(request)
    try:
        user = authenticate(session=session, username=username, password=password)
    except IdentityError as exc:
        session.commit()  # the failure count and any lock-out stay recorded
        raise ApiError(401, exc.code, str(exc)) from exc
    session.commit()
    return Token(access_token=issue_token(user, request.app.state.settings.secret_key))


@router.get("/me", response_model=Me, responses=ERRORS)
def me(user: Annotated[User, Depends(Allow())]) -> Me:
    """The signed-in user and what the role is linked to."""
    return Me(
        username=user.username,
        role=user.role.value,
        psn_no=user.psn_no,
        hospital_code=user.hospital_code,
        insurer_code=user.insurer_code,
    )
