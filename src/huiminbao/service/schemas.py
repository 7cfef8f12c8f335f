"""The service API's requests and answers (``/api/v1/service``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from huiminbao.service.models import CaseCategory, CaseChannel, CaseKind

TEXT_MAX = 4000


class CaseIn(BaseModel):
    """A new complaint or inquiry. A resident's is online and about themselves unless ``psn_no`` names a
    family member they insured; staff give the channel it came by."""

    kind: CaseKind
    category: CaseCategory
    channel: CaseChannel = CaseChannel.ONLINE
    psn_no: str | None = Field(None, max_length=40, description="the person it concerns; staff may leave it out")
    claim_no: str | None = Field(None, max_length=32, description="the claim it is about, if any")
    subject: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=TEXT_MAX, description="ID and mobile numbers in it are stored masked")


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=TEXT_MAX)
    internal: bool = Field(False, description="an internal note the resident never sees (staff only)")


class AssignIn(BaseModel):
    handler: str | None = Field(None, max_length=64, description="username; default: the caller (领取)")


class EscalateIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class CloseIn(BaseModel):
    note: str = Field("", max_length=TEXT_MAX, description="a closing word to the resident, if any")


class LookupIn(BaseModel):
    certno: str = Field(min_length=1, max_length=32, description="the 18-character ID number; never stored")


class Reply(BaseModel):
    author: str
    from_resident: bool
    internal: bool
    text: str
    at: str


class Case(BaseModel):
    case_no: str
    kind: str
    kind_name: str
    category: str
    category_name: str
    channel: str
    channel_name: str
    psn_no: str | None
    claim_no: str | None
    subject: str
    text: str
    status: str
    status_name: str
    handler: str | None  # staff only
    opened_on: str
    due_date: str
    overdue: bool
    escalation_level: int
    answered_on: str | None
    closed_on: str | None
    replies: list[Reply]


__all__ = ["AssignIn", "Case", "CaseIn", "CloseIn", "EscalateIn", "LookupIn", "Reply", "ReplyIn"]
