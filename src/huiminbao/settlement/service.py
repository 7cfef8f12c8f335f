"""Reading what the settlement domain has paid. Functions take a keyword-only session and never commit."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.models import InsuredPerson
from huiminbao.settlement.models import AdjudicationRun, Settlement, SettlementOutcome


def paid_to(*, session: Session, plan_id: str, psn_no: str) -> int:
    """Fen paid to this person under the plan: one-stop and file settlements (refunds netted) and the
    plan's latest batch adjudication run."""
    latest = sa.select(sa.func.max(AdjudicationRun.id)).where(AdjudicationRun.plan_id == plan_id).scalar_subquery()
    batch = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(SettlementOutcome.payout_fen), 0)).where(
            SettlementOutcome.run_id == latest, SettlementOutcome.psn_no == psn_no
        )
    )
    settled = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Settlement.payout_fen), 0))
        .join(InsuredPerson, InsuredPerson.id == Settlement.person_id)
        .where(Settlement.plan_id == plan_id, InsuredPerson.psn_no == psn_no)
    )
    return int(batch or 0) + int(settled or 0)


__all__ = ["paid_to"]
