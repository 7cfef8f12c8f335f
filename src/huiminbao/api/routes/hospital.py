"""``/api/v1/hospital/ping``: a hospital's settlement system checks its signing set-up.

The signed route of its own that the signing scheme is tested on; one-stop settlement puts the
same dependency on its routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from huiminbao.access.policies import HospitalSigned
from huiminbao.api.errors import ERRORS

router = APIRouter(prefix="/api/v1/hospital", tags=["hospital"])


class Pong(BaseModel):
    hospital: str
    ok: bool = True


@router.post("/ping", response_model=Pong, responses=ERRORS)
def ping(hospital: Annotated[str, Depends(HospitalSigned())]) -> Pong:
    """Answers the hospital's code when the request is correctly signed."""
    return Pong(hospital=hospital)
