"""``/api/v1/notifications``: the notifications outbox for administrators (what was sent, what waits,
what failed and why). Messages hold no phone or ID number, so the list shows them as they are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from huiminbao.access.policies import Allow
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.identity.models import Role, User
from huiminbao.notify.models import OutboxStatus
from huiminbao.notify.outbox import LIST_LIMIT, listing, row_out

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
ADMIN = Allow(Role.ADMIN)


@router.get("", responses=ERRORS)
def notifications(
    session: SessionDep,
    _user: Annotated[User, Depends(ADMIN)],
    status: OutboxStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = 100,
) -> dict:
    """The newest notifications first, optionally of one status (pending, sending, sent, failed)."""
    return {"items": [row_out(r) for r in listing(session=session, status=status, limit=limit)]}
