"""Which plans' rows a caller may read: an insurer's staff see the plans its consortium underwrites.

Adjusters and finance act for one insurer (``User.insurer_code``); a plan file's ``consortium`` names
the insurers that underwrite the plan (共保体). Those users read the settlements, year-end runs, one-stop
volume, enrollment figures and charity funds of their insurer's plans only, and run year-end for those
only. Every route and page keyed by a plan asks here, so the rule lives in one place. Other roles are
not bound by plan: supervisors and administrators see every plan, hospitals are bound to their own
hospital's settlements by their own rule. A plan outside the caller's consortium is refused with 403,
as another hospital's settlement is.
"""

from __future__ import annotations

from huiminbao.access.errors import ApiError
from huiminbao.identity.models import Role, User
from huiminbao.plans import Plan, list_plans, underwritten_by

INSURER_ROLES = frozenset({Role.ADJUSTER, Role.FINANCE})
"""The roles that act for one insurer and see its consortium's plans only."""


def visible_plans(caller: User | str) -> frozenset[str] | None:
    """The ids of the plans whose rows the caller may read; None: not bound by plan (a hospital's
    signed system, given as its code, and every role but adjusters and finance). A user of those roles
    without an insurer code sees no plan."""
    if isinstance(caller, str) or caller.role not in INSURER_ROLES:
        return None
    return underwritten_by(caller.insurer_code)


def check_plan(caller: User | str, plan_id: str, field: str | None = "plan") -> None:
    """Refuse a plan outside the caller's consortium (403 ``not_own_consortium``, naming ``field``)."""
    allowed = visible_plans(caller)
    if allowed is not None and plan_id not in allowed:
        raise ApiError(403, "not_own_consortium", "只能查看本机构参与共保的方案", field)


def readable_plans(caller: User) -> list[Plan]:
    """The plans a page may offer the caller to choose from; 403 ``no_consortium_plan`` when there is none,
    so a page never falls back to a plan the caller may not read."""
    allowed = visible_plans(caller)
    plans = [p for p in list_plans() if allowed is None or p.id in allowed]
    if not plans:
        raise ApiError(
            403, "no_consortium_plan", f"本机构（{caller.insurer_code or '未设机构代码'}）未参与任何方案的共保"
        )
    return plans
