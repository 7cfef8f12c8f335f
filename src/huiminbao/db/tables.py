"""Every table of the platform, imported so that ``Base.metadata`` knows them all.

Each domain keeps its tables in its own ``models.py``; Alembic's env and the tests
import this module to see the whole schema.
"""

from huiminbao.admin.models import PlanVersion
from huiminbao.claims.models import BureauRecord, Claim, ClaimDocument, ClaimItem, ClaimTransition
from huiminbao.enrollment.models import (
    CharityFund,
    InsuredPerson,
    Payment,
    Policy,
    PolicyEvent,
    PolicyOrder,
    RosterImport,
)
from huiminbao.identity.models import AuditEntry, AuditHead, Hospital, UsedNonce, User
from huiminbao.notify.models import Outbox
from huiminbao.service.models import ServiceCase, ServiceReply
from huiminbao.settlement.models import (
    Accumulator,
    AdjudicationRun,
    Adjustment,
    RunStatus,
    Settlement,
    SettlementLine,
    SettlementOutcome,
)

__all__ = [
    "Accumulator",
    "AdjudicationRun",
    "Adjustment",
    "AuditEntry",
    "AuditHead",
    "BureauRecord",
    "CharityFund",
    "Claim",
    "ClaimDocument",
    "ClaimItem",
    "ClaimTransition",
    "Hospital",
    "InsuredPerson",
    "Outbox",
    "Payment",
    "PlanVersion",
    "Policy",
    "PolicyEvent",
    "PolicyOrder",
    "RosterImport",
    "RunStatus",
    "ServiceCase",
    "ServiceReply",
    "Settlement",
    "SettlementLine",
    "SettlementOutcome",
    "UsedNonce",
    "User",
]
