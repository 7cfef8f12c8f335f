"""The demo's complaints and inquiries (``hmb db load-demo``): a few dozen cases about the demo city's policy
holders, so that the service queue, the supervisors' 投诉 dashboard and the reports' 投诉 sheet have
something to show.

Everything goes through the service functions, as the demo's counter clerk and adjuster (and the demo's
resident accounts, online, when the claims step made them) would, each call dated on its own day of the
plan year: cases are opened across the year in every category and channel; most are answered within a few
working days and closed, some answered and left open, a few escalated after their due date passed, and
the last ones still open at the year's end (``as_of``), some of them past due. The choices are seeded and
the whole is skipped when the demo's staff have opened cases already, so loading twice adds nothing.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.identity import audit
from huiminbao.identity.models import Role, User
from huiminbao.plans import compiled_plan
from huiminbao.service import service as svc
from huiminbao.service.models import CaseCategory, CaseChannel, CaseKind, CaseStatus, ServiceCase
from huiminbao.settlement.onestop import COVERING

PREFIX = "demo-"  # the demo's user names, as the claims demo makes them: their cases mark the demo as loaded
CLERK = audit.Actor(f"{PREFIX}clerk", Role.CLERK.value)
ADJUSTER = audit.Actor(f"{PREFIX}adjuster-1", Role.ADJUSTER.value)
CASES = 48
OPEN_TAIL = 6  # the year's last cases: still open at ``as_of`` (the earliest of them past due)
# what the others end as: closed, answered (and left so), escalated past due then answered and closed, or
# escalated past due and still with the next level
FATES = ("close", "close", "close", "answer", "close", "escalate", "close", "answer", "close", "stuck")

TOPICS: dict[CaseCategory, tuple[CaseKind, list[tuple[str, str]]]] = {
    CaseCategory.CLAIM_TIME: (
        CaseKind.COMPLAINT,
        [
            ("理赔申请超过七个工作日未处理", "出院后提交的理赔申请至今没有结果，请尽快处理。"),
            ("补充材料后仍未审核", "按要求补交了发票和出院小结，理赔仍显示审核中。"),
        ],
    ),
    CaseCategory.CLAIM_AMOUNT: (
        CaseKind.COMPLAINT,
        [
            ("赔付金额比预估少", "在线试算的金额与实际赔付不一致，请说明原因。"),
            ("乙类自付部分未赔付", "住院的乙类先行自付费用没有赔付，是否计算有误？"),
        ],
    ),
    CaseCategory.ENROLLMENT: (
        CaseKind.INQUIRY,
        [
            ("为父母投保的条件", "用职工个人账户能否为父母和配偶的父母投保？"),
            ("退保后保费如何退还", "已缴费的保单退保后，保费退回到哪里？"),
        ],
    ),
    CaseCategory.PAYMENT: (
        CaseKind.COMPLAINT,
        [
            ("个人账户重复扣款", "个人账户被扣了两次保费，请核实并退还。"),
            ("线上支付成功但订单未生效", "手机上已支付成功，订单仍显示待缴费。"),
        ],
    ),
    CaseCategory.COVERAGE: (
        CaseKind.INQUIRY,
        [
            ("既往症是否可以赔付", "本人有既往症，住院费用能否报销？比例是多少？"),
            ("异地住院能否报销", "在省外住院，已办理异地就医备案，能否一站式结算？"),
        ],
    ),
    CaseCategory.ATTITUDE: (
        CaseKind.COMPLAINT,
        [
            ("热线客服态度不好", "咨询理赔进度时客服不耐烦，没有说明办理时限。"),
            ("柜面人员解释不清", "在柜面办理时工作人员对材料要求说法前后不一。"),
        ],
    ),
    CaseCategory.INFORMATION: (
        CaseKind.INQUIRY,
        [
            ("特药目录在哪里查询", "特定高额药品目录和定点药店在哪里可以查到？"),
            ("电子保单如何下载", "投保后在哪里查看和下载电子保单？"),
        ],
    ),
    CaseCategory.OTHER: (
        CaseKind.INQUIRY,
        [
            ("发票丢失如何理赔", "住院发票遗失，是否可以用复印件申请理赔？"),
        ],
    ),
}
ANSWERS = {
    CaseKind.COMPLAINT: "您好，已核实您反映的情况并转相关部门处理，处理结果已同步更新，请留意通知。",
    CaseKind.INQUIRY: "您好，您咨询的问题已按保障方案条款答复如上，如有疑问请拨打服务热线。",
}
STAFF_CHANNELS = (
    CaseChannel.HOTLINE,
    CaseChannel.HOTLINE,
    CaseChannel.COUNTER,
    CaseChannel.LETTER,
    CaseChannel.REGULATOR,
)


@dataclass
class DemoCases:
    opened: int = 0
    statuses: Counter[CaseStatus] = field(default_factory=Counter)
    overdue: int = 0  # still running at ``as_of`` past their due date


def load_cases(*, session: Session, plan_id: str, clock: svc.Clock, seed: int = 2024, cases: int = CASES) -> DemoCases:
    """Open ``cases`` cases about the plan's holders over its cover year and move them along. Never commits."""
    plan = compiled_plan(plan_id).plan
    start, as_of = plan.cover_start, plan.cover_end
    result = DemoCases()
    ours = sa.select(ServiceCase.id).where(ServiceCase.opened_by.startswith(PREFIX)).limit(1)
    if session.scalar(ours) is None:
        rng = random.Random(seed)
        holders = list(
            session.scalars(
                sa.select(InsuredPerson.psn_no)
                .join(Policy, Policy.person_id == InsuredPerson.id)
                .where(Policy.plan_id == plan_id, Policy.status.in_(COVERING))
                .order_by(InsuredPerson.psn_no)
            )
        )
        residents = {
            u.psn_no: u
            for u in session.scalars(
                sa.select(User).where(User.username.startswith(PREFIX), User.role == Role.RESIDENT)
            )
            if u.psn_no
        }
        span = (as_of - start).days
        days = sorted(start + timedelta(days=rng.randrange(span - 20)) for _ in range(cases - OPEN_TAIL))
        days += [as_of - timedelta(days=d) for d in (15, 12, 9, 5, 3, 1)][:OPEN_TAIL]
        categories = list(TOPICS)
        for i, day in enumerate(days):
            category = categories[i % len(categories)]
            online = bool(residents) and i % 4 == 0
            psn_no = rng.choice(sorted(residents)) if online else rng.choice(holders) if holders else None
            fate = "open" if i >= len(days) - OPEN_TAIL else rng.choice(FATES)
            _drive(session, category, day, psn_no, residents.get(psn_no) if online else None, fate, clock, rng)
            result.opened += 1
    counts = session.execute(
        sa.select(ServiceCase.status, sa.func.count())
        .where(ServiceCase.opened_by.startswith(PREFIX))
        .group_by(ServiceCase.status)
    ).all()
    result.statuses = Counter({status: n for status, n in counts})
    running = (CaseStatus.OPEN, CaseStatus.ESCALATED)
    result.overdue = (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(ServiceCase)
            .where(
                ServiceCase.opened_by.startswith(PREFIX), ServiceCase.status.in_(running), ServiceCase.due_date < as_of
            )
        )
        or 0
    )
    return result


def _drive(
    session: Session, category: CaseCategory, day: date, psn_no: str | None, resident: User | None, fate: str,
    clock: svc.Clock, rng: random.Random,
) -> None:  # fmt: skip
    """Open one case on ``day`` and walk it to its fate, each step on its own later day."""
    kind, topics = TOPICS[category]
    subject, text = rng.choice(topics)
    if resident is not None:
        opener = audit.Actor(resident.username, Role.RESIDENT.value)
        who = svc.Resident(resident.username, resident.psn_no)
        channel = CaseChannel.ONLINE
    else:
        opener, who, channel = CLERK, None, rng.choice(STAFF_CHANNELS)
    case = svc.open_case(
        session=session, actor=opener, kind=kind, category=category, channel=channel, subject=subject, text=text,
        psn_no=psn_no, claim_no=None, day=day, clock=clock, resident=who,
    )  # fmt: skip
    if fate == "open":
        return
    handler = ADJUSTER if category in (CaseCategory.CLAIM_TIME, CaseCategory.CLAIM_AMOUNT) else CLERK
    svc.take(session=session, actor=handler, case=case)
    if fate in ("escalate", "stuck"):  # as the nightly sweep does the day after the due date
        late = case.due_date + timedelta(days=1)
        svc.escalate(
            session=session, actor=svc.SYSTEM, case=case, day=late, clock=clock,
            reason=f"超过答复期限 {case.due_date.isoformat()} 未答复，自动升级",
        )  # fmt: skip
        if fate == "stuck":
            return
        day = late
    answered = day + timedelta(days=rng.randint(1, 4))
    svc.reply(session=session, actor=handler, case=case, text=ANSWERS[kind], internal=False, day=answered, clock=clock)
    if fate in ("close", "escalate"):
        svc.close(session=session, actor=handler, case=case, note="", day=answered + timedelta(days=rng.randint(1, 5)))


__all__ = ["DemoCases", "load_cases"]
