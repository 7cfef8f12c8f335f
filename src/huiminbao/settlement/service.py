"""Reading what the settlement domain has paid. Functions take a keyword-only session and never commit."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.settlement.models import AdjudicationRun, SettlementOutcome


def paid_to(*, session: Session, plan_id: str, psn_no: str) -> int:
    """Fen paid to this person under the plan, by the plan's latest adjudication run."""
    latest = sa.select(sa.func.max(AdjudicationRun.id)).where(AdjudicationRun.plan_id == plan_id).scalar_subquery()
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(SettlementOutcome.payout_fen), 0)).where(
            SettlementOutcome.run_id == latest, SettlementOutcome.psn_no == psn_no
        )
    )
    return int(total or 0)


__all__ = ["paid_to"]
