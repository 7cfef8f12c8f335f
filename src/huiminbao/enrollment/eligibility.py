"""Who may buy a plan, when, at which tier and premium: the plan file's rules, with the reason in Chinese.

Pure: the caller looks the person up in the roster and passes what the rules read (``Applicant``), the
platform's date and the channel. Every refusal carries the contract's code (INTERFACES.md) and a sentence
a resident or a counter clerk can act on; an eligible answer says which tier, what premium and from when
the cover runs, and by which rule (the window, or an exception such as veterans at the counter).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from huiminbao.engine.prepare import age_at, person_tier
from huiminbao.enrollment.models import Channel, InsuStatus
from huiminbao.money import to_yuan
from huiminbao.plans import Compiled
from huiminbao.plans.schema import CoverFrom, Tier
from huiminbao.vocabulary import INSUTYPES_KNOWN, POPULATIONS


class Refusal(enum.StrEnum):
    """The contract's refusal codes (INTERFACES.md, ``hmb policy buy``), plus ``unknown_tier``."""

    NOT_IN_ROSTER = "not_in_roster"
    NOT_ELIGIBLE = "not_eligible"
    OUTSIDE_WINDOW = "outside_window"
    ALREADY_INSURED = "already_insured"
    RELATION_NOT_ALLOWED = "relation_not_allowed"
    TOO_MANY_MEMBERS = "too_many_members"
    UNKNOWN_TIER = "unknown_tier"


@dataclass(frozen=True)
class Applicant:
    """What the rules read of a roster entry."""

    psn_no: str
    insutype: str
    insu_admdvs: str
    insu_status: InsuStatus
    birth_date: date
    populations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    eligible: bool
    reason: str
    code: Refusal | None = None
    tier: str | None = None
    tier_name: str | None = None
    premium_fen: int | None = None
    cover_start: date | None = None
    cover_end: date | None = None
    rule: str | None = None  # the window, or the exception that lets this person in

    def as_dict(self) -> dict[str, object]:
        return {
            "eligible": self.eligible,
            "code": self.code.value if self.code else None,
            "reason": self.reason,
            "tier": self.tier,
            "tier_name": self.tier_name,
            "premium": to_yuan(self.premium_fen) if self.premium_fen is not None else None,
            "cover_start": self.cover_start.isoformat() if self.cover_start else None,
            "cover_end": self.cover_end.isoformat() if self.cover_end else None,
            "rule": self.rule,
        }


def refuse(code: Refusal, reason: str) -> Decision:
    return Decision(False, reason, code)


def premium(tier: Tier, populations: tuple[str, ...]) -> int:
    """The tier's premium for this person: the first population price that applies, else everyone's."""
    for p in tier.premiums:
        if p.population is not None and p.population in populations:
            return p.amount
    for p in tier.premiums:
        if p.population is None:
            return p.amount
    return tier.premiums[0].amount


def decide(
    compiled: Compiled,
    person: Applicant | None,
    *,
    day: date,
    channel: Channel | None = None,
    tier: str | None = None,
) -> Decision:
    """May this person buy this plan on ``day`` through ``channel`` (None: any channel)?"""
    plan = compiled.plan
    if person is None:
        return refuse(Refusal.NOT_IN_ROSTER, "基本医保参保人员名册中没有此人员编号")
    rules = plan.eligibility
    if not person.insu_admdvs.startswith(rules.admdvs_prefix):
        return refuse(Refusal.NOT_ELIGIBLE, f"不是{plan.city}基本医保参保人（参保地 {person.insu_admdvs}）")
    if person.insutype not in rules.insutypes:
        kind = INSUTYPES_KNOWN.get(person.insutype, person.insutype)
        return refuse(Refusal.NOT_ELIGIBLE, f"{kind}不在{plan.name}的投保范围内")
    if person.insu_status != InsuStatus.INSURED:
        words = "暂停" if person.insu_status == InsuStatus.SUSPENDED else "终止"
        return refuse(Refusal.NOT_ELIGIBLE, f"基本医保已{words}参保，不能投保")
    if day > plan.cover_end:
        return refuse(Refusal.OUTSIDE_WINDOW, f"{plan.name}保障期已于 {plan.cover_end} 结束")
    window = plan.enrollment.window
    rule, cover_from = None, CoverFrom.ENROLLMENT
    if (window.start is None or day >= window.start) and day <= window.end:
        rule = "投保期内" + (f"（{window.start} 至 {window.end}）" if window.start else f"（{window.end} 截止）")
    else:
        for ex in plan.enrollment.exceptions:
            open_to = not ex.channels or channel is None or channel.value in ex.channels
            if ex.population in person.populations and day <= ex.until and open_to:
                label = ex.label or POPULATIONS.get(ex.population, ex.population)
                where = "（" + "、".join(_CHANNELS.get(c, c) for c in ex.channels) + "）" if ex.channels else ""
                rule, cover_from = f"{label}可在 {ex.until} 前随时投保{where}", ex.cover_from
                break
        if rule is None:
            when = f"{window.start} 至 {window.end}" if window.start else f"{window.end} 截止"
            return refuse(Refusal.OUTSIDE_WINDOW, f"不在投保期内（投保期 {when}）")
    facts = {
        "insutype": person.insutype,
        "age": age_at(person.birth_date, plan.cover_start),
        "populations": list(person.populations),
        "preexisting": [],
        "tier": tier,
    }
    chosen = person_tier(compiled, facts)
    try:
        spec = plan.tier(chosen)
    except KeyError:
        names = "、".join(f"{t.id}（{t.name}）" for t in plan.tiers)
        return refuse(Refusal.UNKNOWN_TIER, f"{plan.name}没有档次 {chosen}，可选：{names}")
    start = plan.cover_start
    if cover_from == CoverFrom.BIRTH:
        start = max(start, person.birth_date)
    elif day > start:
        start = day  # joining after cover began: covered from the day of enrolment
    amount = premium(spec, person.populations)
    return Decision(
        True,
        f"可以投保{plan.name}{spec.name}，保费 {to_yuan(amount)} 元，保障期 {start} 至 {plan.cover_end}；{rule}",
        tier=spec.id,
        tier_name=spec.name,
        premium_fen=amount,
        cover_start=start,
        cover_end=plan.cover_end,
        rule=rule,
    )


_CHANNELS = {
    "personal_account": "医保个人账户",
    "online": "线上",
    "counter": "线下柜台",
    "group": "团体投保",
    "charity": "慈善资助",
}


__all__ = ["Applicant", "Decision", "Refusal", "decide", "premium", "refuse"]
