"""Complaints and inquiries: open, take, reply, escalate, close, and the counts supervisors see.

Who may open what: a resident opens online, for themselves or a family member whose policy they paid for;
staff open what reaches them by the hotline, at the counter, by letter or passed on by the regulator, for
anyone (or for a caller not in the roster). A resident sees the cases about them or opened by them, and
only the replies meant for them; staff see everything, internal notes included. Every change is in the
audit log (the case number, statuses and dates; never the text).

The clock: a case is due ``complaint_working_days`` or ``inquiry_working_days`` statutory working days
after the day it is opened (that day not counted); a resident's follow-up to an answered case restarts it
from that day; an escalation gives the next level ``complaint_escalate_working_days`` from the day it
reaches them. ``escalate_overdue`` is the nightly sweep.

Functions take a keyword-only session and never commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.calendar import CalendarError, default_calendar
from huiminbao.enrollment.models import InsuredPerson
from huiminbao.enrollment.policies import family
from huiminbao.identity import audit
from huiminbao.identity.phone import redact_phones
from huiminbao.identity.pii import redact_certnos
from huiminbao.notify.outbox import enqueue
from huiminbao.service.models import (
    RUNNING,
    CaseCategory,
    CaseChannel,
    CaseKind,
    CaseStatus,
    ReplyVisibility,
    ServiceCase,
    ServiceReply,
)
from huiminbao.settings import at_day

KIND_NAMES = {CaseKind.COMPLAINT: "投诉", CaseKind.INQUIRY: "咨询"}
CATEGORY_NAMES = {
    CaseCategory.CLAIM_TIME: "理赔时效",
    CaseCategory.CLAIM_AMOUNT: "理赔金额",
    CaseCategory.ENROLLMENT: "投保与退保",
    CaseCategory.PAYMENT: "缴费与个人账户",
    CaseCategory.COVERAGE: "保障范围与条款",
    CaseCategory.ATTITUDE: "服务态度",
    CaseCategory.INFORMATION: "信息咨询",
    CaseCategory.OTHER: "其他",
}
CHANNEL_NAMES = {
    CaseChannel.ONLINE: "线上",
    CaseChannel.HOTLINE: "热线",
    CaseChannel.COUNTER: "柜面",
    CaseChannel.LETTER: "信函",
    CaseChannel.REGULATOR: "监管转办",
}
STATUS_NAMES = {
    CaseStatus.OPEN: "待处理",
    CaseStatus.ANSWERED: "已答复",
    CaseStatus.ESCALATED: "已升级",
    CaseStatus.CLOSED: "已办结",
}
STAFF_CHANNELS = frozenset(CaseChannel) - {CaseChannel.ONLINE}
SYSTEM = audit.Actor("system", "system")
BEIJING = ZoneInfo("Asia/Shanghai")  # times at the edges are Beijing time (INTERFACES.md)


class ServiceError(ValueError):
    """A refusal with its HTTP status, ``code``, Chinese message and the field it concerns."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass(frozen=True)
class Resident:
    """A signed-in resident: what decides which cases are theirs."""

    username: str
    psn_no: str | None


@dataclass(frozen=True)
class Clock:
    """Working days to answer, from settings: a complaint, an inquiry, an escalated case."""

    complaint: int
    inquiry: int
    escalated: int

    @classmethod
    def of(cls, settings: Any) -> Clock:
        return cls(
            settings.complaint_working_days, settings.inquiry_working_days, settings.complaint_escalate_working_days
        )

    def days(self, kind: CaseKind) -> int:
        return self.complaint if kind is CaseKind.COMPLAINT else self.inquiry


def redact(text: str) -> str:
    """Free text as it may be stored: anything shaped like an ID number or a mobile number masked."""
    return redact_phones(redact_certnos(text.strip()))


def due_after(day: date, working_days: int) -> date:
    """``working_days`` statutory working days after ``day`` (not counted), by the platform's calendar; a
    year the calendar does not know yet is the operator's to add (``HMB_CALENDAR_FILE``), not a bad request."""
    try:
        return default_calendar().add_working_days(day, working_days)
    except CalendarError:
        raise ServiceError(
            503, "calendar_not_covered", f"工作日历尚未包含 {day.year} 年的节假日安排，请联系管理员"
        ) from None


def _case_no(day: date) -> str:
    """A case number: KF, the date, 8 random digits (unique by constraint)."""
    return f"KF{day:%Y%m%d}{secrets.randbelow(10**8):08d}"


def open_case(
    *, session: Session, actor: audit.Actor, kind: CaseKind, category: CaseCategory, channel: CaseChannel,
    subject: str, text: str, psn_no: str | None, claim_no: str | None, day: date, clock: Clock,
    resident: Resident | None = None,
) -> ServiceCase:  # fmt: skip
    """A new case, due by the clock of its kind. A resident opens online for themselves or their family;
    staff open for anyone by any other channel (``psn_no`` None: a caller not in the roster)."""
    if resident is not None:
        if channel is not CaseChannel.ONLINE:
            raise ServiceError(422, "channel_not_allowed", "参保人只能在线提交诉求", "channel")
        if resident.psn_no is None:
            raise ServiceError(403, "no_person", "账号未关联参保人，无法提交诉求", "psn_no")
        psn_no = psn_no or resident.psn_no
        if psn_no != resident.psn_no and psn_no not in family(session=session, psn_no=resident.psn_no):
            raise ServiceError(403, "not_own_family", "只能为本人或本人为其投保的家人提交诉求", "psn_no")
    elif channel not in STAFF_CHANNELS:
        raise ServiceError(
            422, "channel_not_allowed", "工作人员登记的诉求渠道应为热线、柜面、信函或监管转办", "channel"
        )
    person = None
    if psn_no:
        person = session.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == psn_no)).one_or_none()
        if person is None:
            raise ServiceError(404, "person_not_found", f"参保人员库中没有人员编号 {psn_no}", "psn_no")
    subject, text = redact(subject)[:100], redact(text)
    if not subject or not text:
        raise ServiceError(422, "empty_text", "请填写标题和内容", "text" if subject else "subject")
    case = ServiceCase(
        case_no=_case_no(day), kind=kind, category=category, channel=channel, person_id=person.id if person else None,
        psn_no=psn_no or None, claim_no=(claim_no or "").strip()[:32] or None, subject=subject, text=text,
        status=CaseStatus.OPEN, opened_by=actor.name, opened_on=day, due_date=due_after(day, clock.days(kind)),
        escalation_level=0,
    )  # fmt: skip
    session.add(case)
    session.flush()
    audit.record(
        session=session, actor=actor, action="service.open", entity="service_case", entity_id=case.case_no,
        after={"kind": kind.value, "category": category.value, "channel": channel.value, "psn_no": case.psn_no,
               "claim_no": case.claim_no, "due_date": case.due_date.isoformat()},
    )  # fmt: skip
    return case


def get_case(*, session: Session, case_no: str, resident: Resident | None = None) -> ServiceCase:
    """The case; for a resident only one of theirs (another's answers as not found, not as forbidden:
    a case number says nothing about whether it exists)."""
    case = session.scalars(sa.select(ServiceCase).where(ServiceCase.case_no == case_no)).one_or_none()
    if case is None or (resident is not None and not _theirs(case, resident)):
        raise ServiceError(404, "case_not_found", f"没有诉求工单 {case_no}", "case_no")
    return case


def _theirs(case: ServiceCase, resident: Resident) -> bool:
    return case.opened_by == resident.username or (resident.psn_no is not None and case.psn_no == resident.psn_no)


def list_cases(
    *, session: Session, today: date, resident: Resident | None = None, kind: CaseKind | None = None,
    status: CaseStatus | None = None, overdue: bool = False, handler: str | None = None, limit: int = 200,
) -> list[ServiceCase]:  # fmt: skip
    """A resident's cases (newest first), or the staff queue filtered (running cases first, by due date)."""
    q = sa.select(ServiceCase)
    if resident is not None:
        mine = ServiceCase.opened_by == resident.username
        if resident.psn_no is not None:
            mine = sa.or_(mine, ServiceCase.psn_no == resident.psn_no)
        return list(session.scalars(q.where(mine).order_by(ServiceCase.id.desc()).limit(limit)))
    if kind is not None:
        q = q.where(ServiceCase.kind == kind)
    if status is not None:
        q = q.where(ServiceCase.status == status)
    if overdue:
        q = q.where(ServiceCase.status.in_(RUNNING), ServiceCase.due_date < today)
    if handler is not None:
        q = q.where(ServiceCase.handler == handler)
    closed_last = sa.case((ServiceCase.status.in_(RUNNING), 0), else_=1)
    return list(session.scalars(q.order_by(closed_last, ServiceCase.due_date, ServiceCase.id).limit(limit)))


def is_overdue(case: ServiceCase, today: date) -> bool:
    return case.status in RUNNING and case.due_date < today


def case_view(case: ServiceCase, *, today: date, internal: bool) -> dict[str, Any]:
    """A case as the API and pages show it; ``internal`` False (a resident) leaves out staff notes."""
    replies = [r for r in case.replies if internal or r.visibility is ReplyVisibility.RESIDENT]
    return {
        "case_no": case.case_no,
        "kind": case.kind.value,
        "kind_name": KIND_NAMES[case.kind],
        "category": case.category.value,
        "category_name": CATEGORY_NAMES[case.category],
        "channel": case.channel.value,
        "channel_name": CHANNEL_NAMES[case.channel],
        "psn_no": case.psn_no,
        "claim_no": case.claim_no,
        "subject": case.subject,
        "text": case.text,
        "status": case.status.value,
        "status_name": STATUS_NAMES[case.status],
        "handler": case.handler if internal else None,
        "opened_on": case.opened_on.isoformat(),
        "due_date": case.due_date.isoformat(),
        "overdue": is_overdue(case, today),
        "escalation_level": case.escalation_level,
        "answered_on": case.answered_on.isoformat() if case.answered_on else None,
        "closed_on": case.closed_on.isoformat() if case.closed_on else None,
        "replies": [
            {
                "author": r.author if internal else ("本人" if r.author_role == "resident" else "客服"),
                "from_resident": r.author_role == "resident",
                "internal": r.visibility is ReplyVisibility.INTERNAL,
                "text": r.text,
                "at": r.at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            }
            for r in replies
        ],
    }


def _audit(actor: audit.Actor, case: ServiceCase, action: str, before: dict[str, Any], session: Session) -> None:
    after = {"status": case.status.value, "handler": case.handler, "due_date": case.due_date.isoformat()}
    after |= {"escalation_level": case.escalation_level}
    audit.record(
        session=session, actor=actor, action=action, entity="service_case", entity_id=case.case_no,
        before=before, after=after,
    )  # fmt: skip


def _state(case: ServiceCase) -> dict[str, Any]:
    return {
        "status": case.status.value,
        "handler": case.handler,
        "due_date": case.due_date.isoformat(),
        "escalation_level": case.escalation_level,
    }


def _not_closed(case: ServiceCase) -> None:
    if case.status is CaseStatus.CLOSED:
        raise ServiceError(409, "case_closed", f"工单 {case.case_no} 已办结", "case_no")


def take(*, session: Session, actor: audit.Actor, case: ServiceCase, handler: str | None = None) -> ServiceCase:
    """Give the case to a handler (by default the one asking: 领取)."""
    _not_closed(case)
    before = _state(case)
    case.handler = (handler or actor.name).strip()[:64]
    _audit(actor, case, "service.assign", before, session)
    return case


def reply(
    *, session: Session, actor: audit.Actor, case: ServiceCase, text: str, internal: bool, day: date, clock: Clock,
) -> ServiceReply:  # fmt: skip
    """A message on the case. Staff to the resident: the case is answered (its clock stops); staff
    internally: a note, nothing else changes. The resident (``actor.role`` resident): a follow-up, which
    reopens an answered case with a fresh clock from today."""
    _not_closed(case)
    body = redact(text)
    if not body:
        raise ServiceError(422, "empty_text", "请填写回复内容", "text")
    from_resident = actor.role == "resident"
    if from_resident and internal:
        raise ServiceError(403, "internal_note_not_allowed", "参保人不能添加内部备注", "internal")
    before = _state(case)
    row = ServiceReply(
        case=case, author=actor.name, author_role=actor.role, text=body,
        visibility=ReplyVisibility.INTERNAL if internal else ReplyVisibility.RESIDENT, at=at_day(day),
    )  # fmt: skip
    session.add(row)
    if from_resident:
        if case.status is CaseStatus.ANSWERED:
            case.status = CaseStatus.OPEN
            case.due_date = due_after(day, clock.days(case.kind))
    elif not internal:
        case.status, case.answered_on = CaseStatus.ANSWERED, day
        if case.handler is None:
            case.handler = actor.name
    session.flush()
    _audit(actor, case, "service.note" if internal else "service.reply", before, session)
    if not internal and not from_resident:
        notify_resident(session=session, case=case, event="service.replied")
    return row


def escalate(
    *, session: Session, actor: audit.Actor, case: ServiceCase, reason: str, day: date, clock: Clock
) -> ServiceCase:
    """Pass the case to the next level with a new due date; the reason is kept as an internal note."""
    _not_closed(case)
    before = _state(case)
    case.escalation_level += 1
    case.status, case.escalated_at = CaseStatus.ESCALATED, at_day(day)
    case.due_date = due_after(day, clock.escalated)
    why = redact(reason) or "未说明原因"
    note = ServiceReply(
        case=case, author=actor.name, author_role=actor.role, visibility=ReplyVisibility.INTERNAL,
        text=f"升级至第 {case.escalation_level} 级：{why}", at=at_day(day),
    )  # fmt: skip
    session.add(note)
    session.flush()
    _audit(actor, case, "service.escalate", before, session)
    return case


def escalate_overdue(*, session: Session, today: date, clock: Clock, actor: audit.Actor = SYSTEM) -> list[str]:
    """Escalate every case whose clock runs and whose due date has passed (the nightly sweep); the case
    numbers escalated. Each gets a new due date, so a second sweep the same day escalates nothing again."""
    late = session.scalars(
        sa.select(ServiceCase)
        .where(ServiceCase.status.in_(RUNNING), ServiceCase.due_date < today)
        .order_by(ServiceCase.due_date, ServiceCase.id)
    ).all()
    for case in late:
        escalate(
            session=session, actor=actor, case=case, day=today, clock=clock,
            reason=f"超过答复期限 {case.due_date.isoformat()} 未答复，自动升级",
        )  # fmt: skip
    return [c.case_no for c in late]


def close(*, session: Session, actor: audit.Actor, case: ServiceCase, note: str, day: date) -> ServiceCase:
    """Close the case (办结); a closing note, if any, goes to the resident."""
    _not_closed(case)
    before = _state(case)
    if body := redact(note):
        session.add(
            ServiceReply(
                case=case,
                author=actor.name,
                author_role=actor.role,
                visibility=ReplyVisibility.RESIDENT,
                text=body,
                at=at_day(day),
            )
        )
    case.status, case.closed_on = CaseStatus.CLOSED, day
    session.flush()
    _audit(actor, case, "service.close", before, session)
    notify_resident(session=session, case=case, event="service.closed")
    return case


def notify_resident(*, session: Session, case: ServiceCase, event: str) -> None:
    """Tell the resident of a reply or a closed case through the outbox, in the same transaction (a
    caller not in the roster has no person to notify: the reply reaches them by the channel they used)."""
    if case.psn_no is None:
        return
    what = "已有答复，请登录查看" if event == "service.replied" else "已办结"
    enqueue(
        session=session, event=event, dedupe_key=f"{event}:{case.case_no}:{len(case.replies)}",
        psn_no=case.psn_no, subject=f"客服工单 {case.case_no}", body=f"您的工单 {case.case_no} {what}",
    )  # fmt: skip


def case_counts(
    *, session: Session, today: date, since: date | None = None, until: date | None = None
) -> dict[str, Any]:
    """Cases opened in a period, counted by kind and category, by channel and by status, and how many are
    overdue now: aggregates only (no case, person or text), for the bureau's supervisors. Cells are not
    suppressed: a count of complaints about claim times describes the service, not a person."""
    where = []
    if since is not None:
        where.append(ServiceCase.opened_on >= since)
    if until is not None:
        where.append(ServiceCase.opened_on <= until)

    def grouped(*cols: Any) -> Sequence[Any]:
        return session.execute(sa.select(*cols, sa.func.count()).where(*where).group_by(*cols)).all()

    by_kind_category = {(k, c): n for k, c, n in grouped(ServiceCase.kind, ServiceCase.category)}
    by_channel = {c: n for c, n in grouped(ServiceCase.channel)}
    by_status = {s: n for s, n in grouped(ServiceCase.status)}
    overdue = session.scalar(
        sa.select(sa.func.count()).where(*where, ServiceCase.status.in_(RUNNING), ServiceCase.due_date < today)
    )
    escalated = session.scalar(sa.select(sa.func.count()).where(*where, ServiceCase.escalation_level > 0))
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "total": sum(by_kind_category.values()),
        "overdue": overdue or 0,
        "escalated": escalated or 0,
        "by_kind": [
            {
                "kind": k.value,
                "name": KIND_NAMES[k],
                "total": sum(n for (kk, _), n in by_kind_category.items() if kk is k),
                "by_category": [
                    {"category": c.value, "name": CATEGORY_NAMES[c], "count": by_kind_category.get((k, c), 0)}
                    for c in CaseCategory
                ],
            }
            for k in CaseKind
        ],
        "by_channel": [
            {"channel": c.value, "name": CHANNEL_NAMES[c], "count": by_channel.get(c, 0)} for c in CaseChannel
        ],
        "by_status": [{"status": s.value, "name": STATUS_NAMES[s], "count": by_status.get(s, 0)} for s in CaseStatus],
    }


__all__ = [
    "CATEGORY_NAMES",
    "CHANNEL_NAMES",
    "KIND_NAMES",
    "STATUS_NAMES",
    "Clock",
    "Resident",
    "ServiceError",
    "case_counts",
    "case_view",
    "close",
    "due_after",
    "escalate",
    "escalate_overdue",
    "get_case",
    "list_cases",
    "notify_resident",
    "open_case",
    "redact",
    "reply",
    "take",
]
