"""``/api/v1/settlements``: one-stop settlement at the hospital (INTERFACES.md).

The hospital's settlement system posts the national record, signed, at discharge and gets the
惠民保 payout back in the same call; a resend of the same ``setl_id`` answers the stored response
byte for byte and pays nothing more. Settlements go through the process's ``flows.onestop.Batcher``:
those that arrive together are settled together, each exactly as it would be alone.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response

from huiminbao.access.errors import ApiError
from huiminbao.access.policies import HospitalSigned, SignedOrAllow
from huiminbao.access.scope import check_plan
from huiminbao.api.errors import ERRORS
from huiminbao.db import SessionDep
from huiminbao.enrollment.epolicy import EPolicyError
from huiminbao.flows.onestop import Batcher
from huiminbao.identity import audit
from huiminbao.identity.models import Role, User
from huiminbao.settlement.eob import as_json, eob_pdf
from huiminbao.settlement.models import Settlement
from huiminbao.settlement.onestop import Item, SettlementRefused, get_settlement_or_raise
from huiminbao.settlement.reader import RecordError
from huiminbao.settlement.service import eob_of, resident_may_see

router = APIRouter(prefix="/api/v1", tags=["settlements"])
SETTLE = ("POST", "/api/v1/settlements")  # queues in the batcher, not in the admission middleware
READERS = (Role.HOSPITAL, Role.ADJUSTER, Role.FINANCE, Role.ADMIN)
EOB_READERS = (*READERS, Role.RESIDENT)  # a resident reads the explanation of their own and their family's
EXAMPLE = {
    "setlinfo": {
        "setl_id": "371500202403100001", "psn_no": "37150000000000000001", "mdtrt_id": "M1", "med_type": "21",
        "insutype": "390", "begndate": "2024-03-01", "enddate": "2024-03-10", "setl_time": "2024-03-10 15:20:00",
        "medfee_sumamt": "32000.00", "fulamt_ownpay_amt": "2000.00", "overlmt_selfpay": "0.00",
        "preselfpay_amt": "0.00", "inscp_scp_amt": "30000.00", "act_pay_dedc": "800.00", "hifp_pay": "20000.00",
        "fund_pay_sumamt": "20000.00", "psn_part_amt": "12000.00", "acct_pay": "0.00", "psn_cash_pay": "12000.00",
        "fixmedins_code": "H37150200001", "insu_admdvs": "371502", "mdtrt_area_admvs": "371502", "refd_setl_flag": "0",
    },
    "feedetl": [],
    "diseases": ["I63.9"],
}  # fmt: skip
JSON = {200: {"content": {"application/json": {}}, "description": "payout, one line per liability, what is left"}}


def _json(body: bytes, replayed: bool) -> Response:
    return Response(body, media_type="application/json", headers={"X-HMB-Replayed": "true"} if replayed else None)


def _refused(exc: SettlementRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.field)


@router.post("/settlements", responses={**JSON, **ERRORS}, response_class=Response)
async def post_settlement(
    request: Request,
    hospital: Annotated[str, Depends(HospitalSigned(defer_nonce=True))],
    body: Annotated[dict[str, Any], Body(examples=[EXAMPLE])],
) -> Response:
    """Settle one record (or a refund: ``refd_setl_flag`` "1" and ``init_setl_id``) at once: the payout
    and one line per liability, with what is left of the deductibles and limits. The same ``setl_id``
    and body answers the stored response again (header ``X-HMB-Replayed: true``); another body: 409."""
    actor = audit.Actor(f"hospital:{hospital}", Role.HOSPITAL.value, request.client.host if request.client else None)
    batcher: Batcher = request.app.state.batcher
    outcome = await batcher.submit(Item(actor, hospital, body, nonce=request.state.nonce))
    if isinstance(outcome, SettlementRefused):
        raise _refused(outcome)
    if isinstance(outcome, RecordError):
        raise outcome
    return _json(outcome.body, outcome.replayed)


def readable_settlement(session: SessionDep, caller: User | str, setl_id: str) -> Settlement:
    """The settlement if the caller may read it: the hospital that sent it (signed, or its users), adjusters
    and finance of an insurer in the plan's consortium, administrators, and the resident it concerns or who
    paid for its policy; 404 when there is none, 403 otherwise. The pages ask the same."""
    try:
        found = get_settlement_or_raise(session=session, setl_id=setl_id)
    except SettlementRefused as exc:
        raise _refused(exc) from None
    if isinstance(caller, User) and caller.role == Role.RESIDENT:
        if not resident_may_see(session=session, settlement=found, psn_no=caller.psn_no):
            raise ApiError(403, "not_own_settlement", "只能查看本人或本人所购家庭成员的结算", "setl_id")
        return found
    hospital = isinstance(caller, str) or caller.role == Role.HOSPITAL
    own = caller if isinstance(caller, str) else caller.hospital_code
    if hospital and own != found.hospital_code:
        raise ApiError(403, "not_own_settlement", "只能查看本院的结算", "setl_id")
    check_plan(caller, found.plan_id, "setl_id")
    return found


def eob_pdf_response(session: SessionDep, found: Settlement) -> Response:
    """One settlement's explanation of benefit as a PDF (the pages' downloads share it)."""
    e = eob_of(session=session, settlement=found)
    header = [("结算ID", e.setl_id), ("参保人", e.person_name or e.psn_no), ("人员编号", e.psn_no)]
    try:
        pdf = eob_pdf(f"惠民保赔付说明（{e.kind_name}）", header, [e])
    except EPolicyError as exc:
        raise ApiError(503, "font_missing", str(exc), None) from None
    disposition = f'inline; filename="eob-{found.setl_id}.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get("/settlements/{setl_id}", responses={**JSON, **ERRORS}, response_class=Response)
def get_settlement(
    setl_id: str, session: SessionDep, caller: Annotated[User | str, Depends(SignedOrAllow(*READERS))]
) -> Response:
    """The stored answer of a settlement: for the hospital that sent it (signed, or its users), for
    adjusters and finance of an insurer in the plan's consortium, and for administrators."""
    found = readable_settlement(session, caller, setl_id)
    return _json(found.response.encode("utf-8"), replayed=False)


@router.get("/settlements/{setl_id}/eob", responses=ERRORS)
def get_eob(
    setl_id: str, session: SessionDep, caller: Annotated[User | str, Depends(SignedOrAllow(*EOB_READERS))]
) -> dict[str, Any]:
    """The explanation of benefit of a settlement (赔付说明): the record's amounts, the fee lines and the
    liability each fell under, one row per liability with its reason, what is left, and in plain Chinese
    why the payout is less than the personal share; amounts in yuan. The readers of the settlement, and
    the resident it concerns or who paid for its policy."""
    return as_json(eob_of(session=session, settlement=readable_settlement(session, caller, setl_id)))


@router.get(
    "/settlements/{setl_id}/eob.pdf",
    responses={200: {"content": {"application/pdf": {}}, "description": "赔付说明 PDF"}, **ERRORS},
    response_class=Response,
)
def get_eob_pdf(
    setl_id: str, session: SessionDep, caller: Annotated[User | str, Depends(SignedOrAllow(*EOB_READERS))]
) -> Response:
    """The explanation of benefit as a PDF (embedded Chinese font), with the same readers as its JSON."""
    return eob_pdf_response(session, readable_settlement(session, caller, setl_id))
