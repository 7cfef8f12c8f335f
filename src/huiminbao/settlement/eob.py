"""The explanation of benefit (赔付说明, EOB) of a stored settlement, and its PDF.

Built from what was stored, never by adjudicating again: the record as the hospital sent it (its amounts
and fee lines) and the answer it was given (one line per liability with its reason, what is left), so the
page, the PDF and the hospital's system always tell the same story. Which liability a fee line fell under
is derived from the plan's fee-line filters (pure: the record and the plan file, no database), since the
engine answers per liability, not per fee line. Money is integer fen here; the edges format it.

Claims render the settlements a claim paid together: ``explain_settlement`` per settlement, then one
``eob_pdf`` for all of them, and the ``_eob.html`` macro for pages.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from huiminbao.engine.prepare import Status
from huiminbao.engine.reference import record_context
from huiminbao.engine.rules import TierRules, tier_rules
from huiminbao.enrollment.epolicy import cjk_font
from huiminbao.money import to_fen, to_yuan, to_yuan_grouped
from huiminbao.plans import Plan, PlanError, Tier, compiled_plan, load_plan
from huiminbao.plans import expr as E
from huiminbao.settlement.models import Settlement, SettlementKind
from huiminbao.vocabulary import CHRGITM_LVS, FEE_LINE_AMOUNTS, MED_TYPES, SETTLEMENT_AMOUNTS

KIND_NAMES = {SettlementKind.PAYMENT: "结算", SettlementKind.REFUND: "退费"}
STATUSES = {  # the engine's settlement status, for a settlement with no reason of its own
    "covered": "正常",
    "not_insured": "未参保",
    "insutype_not_covered": "险种不在保障范围",
    "area_not_covered": "参保地不在保障范围",
    "outside_cover": "不在保障期内",
    "waiting_period": "等待期内",
    "basic_suspended": "基本医保暂停",
    "basic_ended": "基本医保终止",
}
BY_TOTALS = "按本次结算汇总金额计入"  # a fee line no fee-line liability took: the settlement's liabilities count it


@dataclass(frozen=True)
class Amounts:
    """The record's amounts as basic insurance settled them (refunds: negated)."""

    total_fen: int  # medfee_sumamt
    ownpay_fen: int  # fulamt_ownpay_amt, fully self-paid items
    overlimit_fen: int  # overlmt_selfpay
    preselfpay_fen: int  # preselfpay_amt, class-B first self-pay
    inscope_fen: int  # inscp_scp_amt
    fund_paid_fen: int  # fund_pay_sumamt, what basic insurance and the other public funds paid
    personal_fen: int  # psn_part_amt, what the patient still owed


@dataclass(frozen=True)
class FeeLine:
    sn: str
    code: str
    level: str  # 甲类 / 乙类 / 自费, or the code as sent
    amount_fen: int
    ownpay_fen: int
    preselfpay_fen: int
    inscope_fen: int
    liability: str  # the fee-line liability that took it, or BY_TOTALS


@dataclass(frozen=True)
class EobLine:
    liability: str
    name: str
    base_fen: int
    counted_fen: int
    deductible_used_fen: int
    ratio: str  # as the answer wrote it: "80%"
    entitled_fen: int
    paid_fen: int
    reason: str | None


@dataclass(frozen=True)
class Left:
    what: str  # 免赔额 / 年度限额 / 年度累计赔付限额
    of: str  # the liability or shared deductible it belongs to
    left_fen: int


@dataclass(frozen=True)
class Eob:
    setl_id: str
    kind: SettlementKind
    kind_name: str
    refund_of: str | None  # a refund's original
    refunded_by: str | None  # the refund that reversed this settlement
    hospital_code: str
    hospital_name: str | None
    psn_no: str
    person_name: str | None  # masked
    policy_no: str
    plan_id: str
    plan_name: str  # city, year and name; the id when the plan file is gone
    tier_name: str
    med_type: str
    med_type_name: str
    begndate: date
    enddate: date | None
    setl_time: datetime
    diseases: tuple[str, ...]
    amounts: Amounts
    fee_lines: tuple[FeeLine, ...]
    lines: tuple[EobLine, ...]
    left: tuple[Left, ...]
    paid_fen: int
    status: str
    status_name: str
    reason: str | None  # why the settlement as a whole paid nothing
    summary: tuple[str, ...]  # in plain Chinese, why the payout is less than the personal share


def plan_tier(plan_id: str, tier_id: str) -> tuple[Plan | None, Tier | None]:
    """The settlement's plan and tier for their names; None when the plan file is gone (the ids are shown
    then: a stored answer stays readable)."""
    try:
        plan = load_plan(plan_id)
        return plan, plan.tier(tier_id)
    except (PlanError, KeyError):  # KeyError: no such plan (PlanNotFound) or tier
        return None, None


def what_is_left(answer: Mapping[str, Any], tier: Tier | None) -> list[Left]:
    """What the answer says is left after the settlement: each deductible (a liability's own, or a shared
    one by its name), each liability's annual limit, the overall limit."""
    names = {ln["liability"]: ln["name"] for ln in answer["lines"]}
    shared = {d.id: d.name for d in tier.deductibles} if tier is not None else {}
    out = []
    for key, value in answer["remaining"].items():
        what, _, ref = key.partition(":")
        if what == "deductible":
            out.append(Left("免赔额", shared.get(ref) or names.get(ref, ref), to_fen(value)))
        elif what == "limit":
            out.append(Left("年度限额", names.get(ref, ref), to_fen(value)))
        else:
            out.append(Left("年度累计赔付限额", "全部责任合计", to_fen(value)))
    return out


def _fen(values: Mapping[str, Any], field: str) -> int:
    value = values.get(field)
    return 0 if value in (None, "") else to_fen(value)


def _in_fen(values: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {**values, **{f: _fen(values, f) for f in fields if f in values}}


def _rules(plan_id: str, tier_id: str) -> tuple[TierRules, date] | None:
    """The tier's rules and the plan's cover start (for the record's context); None when the plan file or
    the tier is gone."""
    try:
        compiled = compiled_plan(plan_id)
        return tier_rules(compiled, tier_id), compiled.plan.cover_start
    except (PlanError, KeyError):
        return None


def _attribute(
    found: tuple[TierRules, date] | None,
    setlinfo: Mapping[str, Any],
    fee_lines: list[dict[str, Any]],
    counted: Mapping[str, int],
) -> list[str]:
    """Per fee line, the name of the fee-line liability that took it (the first in precedence order whose
    filter matches and which applied to the stay), else BY_TOTALS. A liability applied when it counted
    something, or when its conditions hold on the record (conditions on the person, which the record
    lacks, are taken as holding: the liability's reason then says why it paid nothing)."""
    if found is None:
        return [BY_TOTALS] * len(fee_lines)
    rules, start = found
    row = record_context(start, _in_fen(setlinfo, SETTLEMENT_AMOUNTS), None, Status.COVERED)

    def applies(liab: Any) -> bool:
        if counted.get(liab.id, 0) > 0:
            return True
        return all(E.evaluate(c.when, row, rules.catalogs) for c in liab.conditions if set(c.when.fields) <= row.keys())

    takers = [x for x in rules.liabilities if x.lines is not None and applies(x)]
    out = []
    for line in fee_lines:
        values = _in_fen(line, FEE_LINE_AMOUNTS)
        taker = next((x for x in takers if E.evaluate(x.lines, values, rules.catalogs)), None)
        out.append(taker.name if taker is not None else BY_TOTALS)
    return out


def _summary(kind: SettlementKind, init: str | None, answer: Mapping[str, Any], lines: Sequence[EobLine]) -> list[str]:
    if kind is SettlementKind.REFUND:
        return [f"本次为退费，冲销原结算 {init}：原结算的赔付全部退回，所用免赔额和限额恢复。"]
    if answer.get("reason"):
        return [answer["reason"]]
    return list(dict.fromkeys(f"{ln.name}：{ln.reason}" for ln in lines if ln.reason))


def _line(ln: Mapping[str, Any]) -> EobLine:
    """An answer's explanation line (yuan strings) in fen."""
    return EobLine(
        liability=ln["liability"], name=ln["name"], base_fen=to_fen(ln["base"]), counted_fen=to_fen(ln["counted"]),
        deductible_used_fen=to_fen(ln["deductible_used"]), ratio=ln["ratio"], entitled_fen=to_fen(ln["entitled"]),
        paid_fen=to_fen(ln["payout"]), reason=ln.get("reason"),
    )  # fmt: skip


def _fee(k: int, ln: Mapping[str, Any], taker: str) -> FeeLine:
    level = ln.get("chrgitm_lv") or ""
    return FeeLine(
        sn=str(ln.get("feedetl_sn") or k + 1), code=str(ln.get("med_list_codg") or ""),
        level=CHRGITM_LVS.get(level, level), amount_fen=_fen(ln, "det_item_fee_sumamt"),
        ownpay_fen=_fen(ln, "fulamt_ownpay_amt"), preselfpay_fen=_fen(ln, "preselfpay_amt"),
        inscope_fen=_fen(ln, "inscp_scp_amt"), liability=taker,
    )  # fmt: skip


def _amounts(info: Mapping[str, Any]) -> Amounts:
    return Amounts(
        total_fen=_fen(info, "medfee_sumamt"), ownpay_fen=_fen(info, "fulamt_ownpay_amt"),
        overlimit_fen=_fen(info, "overlmt_selfpay"), preselfpay_fen=_fen(info, "preselfpay_amt"),
        inscope_fen=_fen(info, "inscp_scp_amt"), fund_paid_fen=_fen(info, "fund_pay_sumamt"),
        personal_fen=_fen(info, "psn_part_amt"),
    )  # fmt: skip


def explain_settlement(settlement: Settlement, *, hospital_name: str | None, person_name: str | None = None) -> Eob:
    """The explanation of benefit of one stored settlement (pure: nothing is read but the plan files)."""
    record = json.loads(settlement.record)
    answer = json.loads(settlement.response)
    info = record["setlinfo"]
    plan, tier = plan_tier(answer["plan"], answer["tier"])
    lines = [_line(ln) for ln in answer["lines"]]
    fees = record.get("feedetl") or []
    counted = {ln.liability: ln.counted_fen for ln in lines}
    takers = _attribute(_rules(answer["plan"], answer["tier"]) if fees else None, info, fees, counted)
    fee_lines = [_fee(k, ln, taker) for k, (ln, taker) in enumerate(zip(fees, takers, strict=True))]
    med_type = str(info.get("med_type") or "")
    return Eob(
        setl_id=settlement.setl_id,
        kind=settlement.kind,
        kind_name=KIND_NAMES[settlement.kind],
        refund_of=settlement.init_setl_id,
        refunded_by=settlement.refunded_by,
        hospital_code=settlement.hospital_code,
        hospital_name=hospital_name,
        psn_no=answer["psn_no"],
        person_name=person_name,
        policy_no=answer["policy_no"],
        plan_id=answer["plan"],
        plan_name=f"{plan.city} {plan.year} {plan.name}" if plan is not None else answer["plan"],
        tier_name=tier.name if tier is not None else answer["tier"],
        med_type=med_type,
        med_type_name=MED_TYPES.get(med_type[:2], med_type),
        begndate=settlement.begndate,
        enddate=date.fromisoformat(info["enddate"]) if info.get("enddate") else None,
        setl_time=settlement.setl_time,
        diseases=tuple(record.get("diseases") or ()),
        amounts=_amounts(info),
        fee_lines=tuple(fee_lines),
        lines=tuple(lines),
        left=tuple(what_is_left(answer, tier)),
        paid_fen=settlement.payout_fen,
        status=answer["status"],
        status_name=STATUSES.get(answer["status"], answer["status"]),
        reason=answer.get("reason"),
        summary=tuple(_summary(settlement.kind, settlement.init_setl_id, answer, lines)),
    )


def as_json(eob: Eob) -> dict[str, Any]:
    """The EOB for the API: every ``*_fen`` field as a yuan string without the suffix, dates ISO 8601,
    times as the national platform writes them, enums by value."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                (f.name[:-4] if f.name.endswith("_fen") else f.name): (
                    to_yuan(getattr(value, f.name)) if f.name.endswith("_fen") else plain(getattr(value, f.name))
                )
                for f in dataclasses.fields(value)
            }
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, SettlementKind):
            return value.value
        return value

    out: dict[str, Any] = plain(eob)
    return out


# --- the PDF ----------------------------------------------------------------------------------


def _y(fen: int) -> str:
    return to_yuan_grouped(fen)


def _table(rows: list[list[Any]], widths: list[float], font: str, numeric_from: int = 1) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#9aa7b8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"),
            ]
        )
    )
    return table


def _story(e: Eob, font: str, styles: dict[str, ParagraphStyle]) -> list[Any]:
    p, h, small = styles["body"], styles["h2"], styles["small"]
    a = e.amounts
    title = f"{e.kind_name} {e.setl_id}"
    facts = [
        [
            "医院",
            f"{e.hospital_name or ''}（{e.hospital_code}）",
            "结算时间",
            e.setl_time.strftime("%Y-%m-%d %H:%M:%S"),
        ],
        ["人员编号", e.psn_no + (f"（{e.person_name}）" if e.person_name else ""), "保单号", e.policy_no],
        ["方案", f"{e.plan_name} · {e.tier_name}", "医疗类别", e.med_type_name],
        ["就医日期", f"{e.begndate} 至 {e.enddate or ''}", "诊断", "、".join(e.diseases)],
    ]
    fact_table = Table(
        [[Paragraph(str(c), small) for c in row] for row in facts], colWidths=[18 * mm, 67 * mm, 18 * mm, 67 * mm]
    )
    fact_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TEXTCOLOR", (0, 0), (0, -1), colors.grey)]))
    amounts = [
        ["医疗费总额", "全自费", "超限价自费", "先行自付", "政策范围内", "基金支付", "个人负担"],
        [_y(x) for x in (a.total_fen, a.ownpay_fen, a.overlimit_fen, a.preselfpay_fen, a.inscope_fen,
                         a.fund_paid_fen, a.personal_fen)],
    ]  # fmt: skip
    story: list[Any] = [
        Paragraph(title, styles["h1"]),
        fact_table,
        Spacer(1, 3 * mm),
        Paragraph("医保结算金额（元）", h),
        _table(amounts, [170 * mm / 7] * 7, font, numeric_from=0),
    ]
    if e.fee_lines:
        rows = [["序号", "目录编码", "等级", "金额", "全自费", "先行自付", "政策范围内", "所属责任"]]
        rows += [
            [f.sn, f.code, f.level, _y(f.amount_fen), _y(f.ownpay_fen), _y(f.preselfpay_fen), _y(f.inscope_fen),
             Paragraph(f.liability, small)]
            for f in e.fee_lines
        ]  # fmt: skip
        widths = [10 * mm, 28 * mm, 12 * mm, 20 * mm, 18 * mm, 18 * mm, 20 * mm, 44 * mm]
        story += [Paragraph("费用明细（元）", h), _table(rows, widths, font, numeric_from=3)]
    rows = [["保障责任", "计算基数", "计入金额", "扣免赔额", "比例", "赔付", "原因"]]
    rows += [
        [Paragraph(ln.name, small), _y(ln.base_fen), _y(ln.counted_fen), _y(ln.deductible_used_fen), ln.ratio,
         _y(ln.paid_fen), Paragraph(ln.reason or "", small)]
        for ln in e.lines
    ]  # fmt: skip
    rows.append(["合计", "", "", "", "", _y(e.paid_fen), ""])
    widths = [38 * mm, 20 * mm, 20 * mm, 20 * mm, 12 * mm, 20 * mm, 40 * mm]
    story += [Paragraph("逐项赔付（元）", h), _table(rows, widths, font)]
    if e.left:
        rows = [["项目", "责任", "剩余（元）"]] + [[x.what, Paragraph(x.of, small), _y(x.left_fen)] for x in e.left]
        story += [Paragraph("本次结算后剩余额度", h), _table(rows, [40 * mm, 90 * mm, 40 * mm], font, numeric_from=2)]
    story.append(Paragraph("赔付说明", h))
    story.append(Paragraph(f"个人负担 {_y(a.personal_fen)} 元，惠民保赔付 {_y(e.paid_fen)} 元。", p))
    story += [Paragraph(text, p) for text in e.summary]
    return story


def eob_pdf(title: str, header: list[tuple[str, str]], eobs: list[Eob]) -> bytes:
    """One PDF (A4) for one or several settlements' EOBs: the title, the header's label/value pairs (an
    application number, the masked insured person), the total paid, then each settlement on its own page."""
    font = cjk_font()
    base = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    styles = {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10),
        "h1": ParagraphStyle("h1", parent=base, fontSize=16, leading=22, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base, fontSize=11, leading=16, spaceBefore=6, spaceAfter=3),
    }
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
        title=title, author="惠民保运营平台",
    )  # fmt: skip
    story: list[Any] = [Paragraph(title, ParagraphStyle("title", parent=base, fontSize=20, leading=28))]
    facts = [*header, ("结算笔数", str(len(eobs))), ("惠民保赔付合计", f"{_y(sum(e.paid_fen for e in eobs))} 元")]
    story += [Paragraph(f"{label}：{value}", base) for label, value in facts]
    story.append(
        Paragraph("金额单位：元。赔付以保险条款为准：免赔额、赔付比例和限额按保单年度累计计算。", styles["small"])
    )
    for k, e in enumerate(eobs):
        parts = _story(e, font, styles)
        story += [PageBreak() if k else Spacer(1, 6 * mm), KeepTogether(parts[:2]), *parts[2:]]
    doc.build(story)
    return out.getvalue()


__all__ = ["BY_TOTALS", "Eob", "EobLine", "FeeLine", "Left", "as_json", "eob_pdf", "explain_settlement", "plan_tier"]
