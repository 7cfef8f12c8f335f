"""A claim's states, the changes allowed between them, and their words in Chinese.

The review is a state machine: ``ALLOWED`` is the whole table of transitions, and ``check`` refuses any
other, naming both states. Who may make a change is the service's business (a resident withdraws or
supplies documents, an adjuster reviews and decides, finance pays); what may follow what is here alone.
"""

from __future__ import annotations

from huiminbao.claims.models import ClaimState, DocumentKind, RejectReason

S = ClaimState
ALLOWED: dict[ClaimState, frozenset[ClaimState]] = {
    S.SUBMITTED: frozenset({S.IN_REVIEW, S.DOCUMENTS_REQUESTED, S.REJECTED, S.WITHDRAWN}),
    S.DOCUMENTS_REQUESTED: frozenset({S.IN_REVIEW, S.REJECTED, S.WITHDRAWN}),
    S.IN_REVIEW: frozenset({S.DOCUMENTS_REQUESTED, S.APPROVED, S.PARTLY_APPROVED, S.REJECTED}),
    S.APPROVED: frozenset({S.PAYMENT_INSTRUCTED}),
    S.PARTLY_APPROVED: frozenset({S.PAYMENT_INSTRUCTED}),
    S.PAYMENT_INSTRUCTED: frozenset({S.PAID}),
    S.REJECTED: frozenset(),
    S.PAID: frozenset(),
    S.WITHDRAWN: frozenset(),
}
OPEN = frozenset({S.SUBMITTED, S.DOCUMENTS_REQUESTED, S.IN_REVIEW})  # the clock runs (or is paused)
DECIDED = frozenset({S.APPROVED, S.PARTLY_APPROVED, S.REJECTED, S.PAYMENT_INSTRUCTED, S.PAID})

STATE_NAMES: dict[ClaimState, str] = {
    S.SUBMITTED: "已提交",
    S.DOCUMENTS_REQUESTED: "待补充材料",
    S.IN_REVIEW: "审核中",
    S.APPROVED: "已核准",
    S.PARTLY_APPROVED: "部分核准",
    S.REJECTED: "不予赔付",
    S.PAYMENT_INSTRUCTED: "已发起支付",
    S.PAID: "已支付",
    S.WITHDRAWN: "已撤回",
}

REASON_TEXT: dict[RejectReason, str] = {
    RejectReason.NOT_COVERED: "不属于保障责任范围",
    RejectReason.OUTSIDE_COVER: "就医不在保障期间内",
    RejectReason.NOT_FILED: "省外就医未办理异地就医备案",
    RejectReason.PREEXISTING: "既往症除外责任",
    RejectReason.DOCUMENTS_INCOMPLETE: "申请材料不全，逾期未补充",
    RejectReason.DOCUMENTS_INVALID: "申请材料与医保结算记录不符",
    RejectReason.DUPLICATE: "已在其他申请或一站式结算中处理",
    RejectReason.OTHER: "其他原因",
}

DOCUMENT_NAMES: dict[DocumentKind, str] = {
    DocumentKind.INVOICE: "医疗费用发票",
    DocumentKind.FEE_LIST: "费用明细清单",
    DocumentKind.DISCHARGE_SUMMARY: "出院小结",
    DocumentKind.PRESCRIPTION: "处方",
    DocumentKind.FILING_PROOF: "异地就医备案证明",
    DocumentKind.PHARMACY_RECEIPT: "药店购药凭证",
    DocumentKind.OTHER: "其他材料",
}


ACTOR_NAMES: dict[str, str] = {
    "resident": "本人",
    "clerk": "柜面",
    "adjuster": "理赔审核",
    "finance": "财务",
    "admin": "管理员",
}
"""Who made a change, as a resident is shown it: by role, not by staff name (others: 系统)."""


class IllegalTransition(Exception):
    """A change of state the table does not allow."""

    def __init__(self, current: ClaimState, wanted: ClaimState):
        self.current, self.wanted = current, wanted
        super().__init__(f"理赔申请当前为「{STATE_NAMES[current]}」，不能改为「{STATE_NAMES[wanted]}」")


def check(current: ClaimState, wanted: ClaimState) -> None:
    if wanted not in ALLOWED[current]:
        raise IllegalTransition(current, wanted)
