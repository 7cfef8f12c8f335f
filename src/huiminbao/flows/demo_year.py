"""The demo year's one-stop settlements (``hmb db load-demo``): the policy holders' stays of the demo city
settled as their hospitals would have settled them at discharge, so that the supervision dashboards, the
loss ratio and the regulator's reports have a year of one-stop payouts beside the demo's claims.

It is the in-process path of ``hmb settle --file`` (``flows.settle_file.settle_bodies``, the same
``settle_batch`` as the API), not HTTP: ``hmb replay`` is the slow, signed way to send the same year.
Stays kept as the bureau's records for the demo's claims are left to the claims (a hospital's send of one
would be refused ``already_claimed`` once its claim is paid), and so are the refunds of those stays; stays
settled by an earlier load are not sent again, so loading twice settles nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from huiminbao.claims.models import BureauRecord
from huiminbao.db.session import Database
from huiminbao.enrollment.models import InsuredPerson, Policy
from huiminbao.flows.settle_file import settle_bodies
from huiminbao.identity import audit
from huiminbao.settlement.models import Settlement
from huiminbao.settlement.onestop import COVERING
from huiminbao.vocabulary import REFUND_FLAG


@dataclass
class DemoYear:
    """What the demo's one-stop step did with the city's records."""

    settled: int = 0
    payout_fen: int = 0
    held: int = 0  # kept for the demo's claims: not sent
    done: int = 0  # settled by an earlier load: not sent again
    uninsured: int = 0  # of persons holding no policy of the plan: not sent
    refused: Counter[str] = field(default_factory=Counter)  # by code


def settle_year(
    db: Database,
    *,
    plan_id: str,
    city: list[tuple[int, dict[str, Any]]],
    batch: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> DemoYear:
    """Settle the city's records (``bodies``'s (line, body), in ``setl_time`` order) of the plan's policy
    holders one-stop, but for the claims' stays and those already settled; each batch commits alone."""
    with db.session() as s:
        holders = set(
            s.scalars(
                sa.select(InsuredPerson.psn_no)
                .join(Policy, Policy.person_id == InsuredPerson.id)
                .where(Policy.plan_id == plan_id, Policy.status.in_(COVERING))
            )
        )
        held = set(s.scalars(sa.select(BureauRecord.setl_id)))
        done = set(s.scalars(sa.select(Settlement.setl_id)))
    out, todo = DemoYear(), []
    for line, body in city:
        info = body["setlinfo"]
        setl_id = str(info.get("setl_id") or "")
        original = str(info.get("init_setl_id") or "") if str(info.get("refd_setl_flag")) == REFUND_FLAG else ""
        if str(info.get("psn_no") or "") not in holders:
            out.uninsured += 1
        elif setl_id in held or original in held:
            out.held += 1
        elif setl_id in done:
            out.done += 1
        else:
            todo.append((line, body))
    result = settle_bodies(db, todo, actor=audit.CLI, batch=batch, progress=progress)
    out.settled, out.payout_fen = result.settled, result.payout_fen
    out.done += result.replayed
    out.refused.update(r["code"] for r in result.refused)
    return out


__all__ = ["DemoYear", "settle_year"]
