"""The regulator's workbooks: a plan's monthly and annual reports as .xlsx, for the bureau to file.

Every number comes from ``supervision.figures``, as the dashboards show it, so a report and a dashboard of
the same period agree to the fen. A workbook has a cover sheet (说明: plan, period, when it was made, the
small-cell rule, the sources) and one sheet per figure, each a table whose header row is frozen and whose
last row is the total; amounts are written as yuan numbers (integer fen / 100, exact to two decimals) in
``#,##0.00``, counts in ``#,##0``, ratios in ``0.00%``. Totals are values, not formulas, so a reader that
does not compute formulas sees them too. A suppressed count is the text "<10" (or "不显示" for a cell
hidden only so that a small one cannot be worked out from the total), never the number; an amount or a
ratio drawn from it is "—".

The monthly report covers one calendar month; a month is valid from the month the plan's enrollment opened
(its window's start, or the first premium paid when the file gives none) to the month its cover ends. The
annual report covers the whole plan-year: every event of the plan, the premium paid during enrollment
included; its period is the plan's year and nothing else.
"""

from __future__ import annotations

import enum
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import xlsxwriter
from sqlalchemy.orm import Session

from huiminbao.enrollment.models import OrderStatus, PolicyOrder
from huiminbao.enrollment.service import MIN_CELL
from huiminbao.identity import audit
from huiminbao.money import to_fen
from huiminbao.plans import Plan
from huiminbao.settings import today as platform_today
from huiminbao.supervision import figures, lossratio

SMALL = "<10"  # a suppressed count
HIDDEN = "—"  # an amount or ratio drawn from a suppressed count, or none to give
COMPLEMENT = "不显示"  # a count hidden only so that a small one beside it cannot be worked out
MONEY, COUNT, RATE, FACTOR, TEXT = "#,##0.00", "#,##0", "0.00%", "0.0000", "@"
SOURCES = (
    "基本医保参保名册（参保地、险种、出生日期、特殊人群标识）",
    "惠民保订单与保单（缴费时间、保费、退保）",
    "一站式结算与理赔结算记录（医保结算时间、各保障责任赔付额）及年终重算调整",
    "理赔申请（提交、支付日期）与客服工单（投诉、咨询）",
)


class Kind(enum.StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"


KIND_NAMES = {Kind.MONTHLY: "月度", Kind.ANNUAL: "年度"}


class PeriodError(ValueError):
    """A period the report cannot cover; ``field`` names the input, ``message`` says why in Chinese."""

    def __init__(self, message: str, field: str = "period") -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Report:
    """A workbook made for someone, with the names a download gives it."""

    data: bytes
    name: str  # in Chinese: 聊惠保 2024-03 月度监管报表.xlsx
    ascii_name: str  # for clients that cannot read filename*: liaocheng-2024-monthly-2024-03.xlsx


# --- periods --------------------------------------------------------------------------------------


def first_month(*, session: Session, plan: Plan) -> date:
    """The first day of the first month a monthly report may cover: the enrollment window's start, or
    the first premium paid when the plan file gives no start, or the start of cover, whichever is first."""
    paid = session.scalar(
        sa.select(sa.func.min(PolicyOrder.paid_at)).where(
            PolicyOrder.plan_id == plan.id, PolicyOrder.status == OrderStatus.PAID
        )
    )
    found = [plan.cover_start, *([plan.enrollment.window.start] if plan.enrollment.window.start else [])]
    if paid is not None:
        found.append((paid if paid.tzinfo else paid.replace(tzinfo=UTC)).astimezone(figures.BEIJING).date())
    return min(found).replace(day=1)


def months(*, session: Session, plan: Plan) -> list[str]:
    """Every month a monthly report may cover, "YYYY-MM", oldest first."""
    day, last, out = first_month(session=session, plan=plan), plan.cover_end, []
    while day <= last:
        out.append(day.strftime("%Y-%m"))
        day = (day + timedelta(days=32)).replace(day=1)
    return out


def month_bounds(*, session: Session, plan: Plan, month: str) -> tuple[date, date]:
    """The first and last day of ``month`` ("YYYY-MM"), refused when malformed or outside the plan."""
    if not re.fullmatch(r"\d{4}-\d{2}", month or "") or not 1 <= int(month[5:]) <= 12:
        raise PeriodError(f"月度报表的期间应为 YYYY-MM（如 {plan.cover_start:%Y-%m}），实际为 {month or '空'}")
    start = date(int(month[:4]), int(month[5:]), 1)
    valid = months(session=session, plan=plan)
    if month not in valid:
        raise PeriodError(f"{month} 不在方案 {plan.name} 的投保与保障期内（{valid[0]} 至 {valid[-1]}）")
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return start, end


def plan_year(plan: Plan, year: str | int | None) -> str:
    """The annual report's period: the plan's year, given or not; any other year is refused."""
    text = str(plan.year) if year in (None, "") else str(year).strip()
    if text != str(plan.year):
        raise PeriodError(
            f"年度报表的期间应为方案年度 {plan.year}（保障期 {plan.cover_start} 至 {plan.cover_end}），实际为 {text}"
        )
    return text


# --- cells ----------------------------------------------------------------------------------------


def count(row: dict[str, Any], key: str) -> int | str:
    """A count as the report writes it: the number, or "<10" / "不显示" when suppressed."""
    if row.get("complement"):
        return COMPLEMENT
    value = row[key]
    return SMALL if value is None else int(value)


def derived(value: int | None) -> int | str:
    """An amount (fen) or a ratio (bp) drawn from a count: "—" when that count is suppressed."""
    return HIDDEN if value is None else int(value)


@dataclass(frozen=True)
class Column:
    title: str
    form: str  # MONEY (value in fen), COUNT, RATE (value in basis points), FACTOR (a float) or TEXT


@dataclass(frozen=True)
class Block:
    """One table of a sheet: header row, rows, an optional total row, then notes."""

    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]
    total: Sequence[Any] | None = None
    notes: Sequence[str] = ()


def _width(value: Any) -> int:
    """Columns wide enough for Chinese text: a CJK character takes two widths of a Latin one."""
    text = f"{value:,.2f}" if isinstance(value, float) else str(value)
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


class Book:
    """One workbook being written, with its cell formats."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.wb = xlsxwriter.Workbook(self.buffer, {"in_memory": True})
        base = {"font_name": "等线", "font_size": 11}
        self.head = self.wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
        self.bold = self.wb.add_format({**base, "bold": True})
        self.text = self.wb.add_format({**base})
        self.marker = self.wb.add_format({**base, "align": "right", "font_color": "#7F7F7F"})
        self.forms = {f: self.wb.add_format({**base, "num_format": f}) for f in (MONEY, COUNT, RATE, FACTOR)}
        self.totals = {
            f: self.wb.add_format({**base, "num_format": f, "bold": True, "top": 1})
            for f in (MONEY, COUNT, RATE, FACTOR)
        }
        self.total_text = self.wb.add_format({**base, "bold": True, "top": 1})
        self.total_marker = self.wb.add_format({**base, "bold": True, "top": 1, "align": "right"})

    def cell(self, ws: Any, r: int, c: int, value: Any, form: str, *, total: bool = False) -> Any:
        """Write one cell; returns what it shows, for the column's width."""
        if isinstance(value, str) or value is None or form == TEXT:
            shown = "" if value is None else str(value)
            marker = form != TEXT
            fmt = (
                (self.total_marker if marker else self.total_text) if total else (self.marker if marker else self.text)
            )
            ws.write_string(r, c, shown, fmt)
            return shown
        number: float | int = (
            value / 100 if form == MONEY else value / 10_000 if form == RATE else float(value) if form == FACTOR
            else int(value)
        )  # fmt: skip
        ws.write_number(r, c, number, (self.totals if total else self.forms)[form])
        return f"{number:,.2f}" if form == MONEY else f"{number:.4f}" if form == FACTOR else number

    def table(
        self,
        name: str,
        columns: Sequence[Column],
        rows: Sequence[Sequence[Any]],
        total: Sequence[Any] | None,
        notes: Sequence[str] = (),
    ) -> None:
        """A sheet holding one table: the header row frozen, the rows, the total row, then notes. A cell given
        as ``(value, form)`` has a format of its own (the summary's column mixes amounts, counts and ratios)."""
        self.sheet(name, [Block(columns, rows, total, notes)])

    def sheet(self, name: str, blocks: Sequence[Block]) -> None:
        """A sheet of tables one under another, a blank row between them; the first header row is frozen."""
        ws = self.wb.add_worksheet(name)
        widths: dict[int, int] = {}
        top = 0
        for block in blocks:
            top = self._block(ws, top, block, widths) + 1
        for c, w in widths.items():
            ws.set_column(c, c, min(max(w + 2, 8), 60))
        ws.freeze_panes(1, 0)

    def _block(self, ws: Any, top: int, block: Block, widths: dict[int, int]) -> int:
        """Write one table from row ``top``, widening ``widths``; returns the row after its last note."""

        def widen(c: int, shown: Any) -> None:
            widths[c] = max(widths.get(c, 0), _width(shown))

        for c, col in enumerate(block.columns):
            ws.write_string(top, c, col.title, self.head)
            widen(c, col.title)
        for r, row in enumerate(block.rows, start=top + 1):
            for c, (value, col) in enumerate(zip(row, block.columns, strict=True)):
                value, form = value if isinstance(value, tuple) else (value, col.form)
                widen(c, self.cell(ws, r, c, value, form))
        end = top + len(block.rows) + 1
        if block.total is not None:
            for c, (value, col) in enumerate(zip(block.total, block.columns, strict=True)):
                widen(c, self.cell(ws, end, c, value, col.form, total=True))
            end += 1
        for i, note in enumerate(block.notes):
            ws.write_string(end + 1 + i, 0, note, self.text)
        return end + (1 + len(block.notes) if block.notes else 0)

    def close(self) -> bytes:
        self.wb.close()
        return self.buffer.getvalue()


# --- the sheets -----------------------------------------------------------------------------------

SUPPRESSION = (
    f"不足 {MIN_CELL} 人的格不显示人数，记为 {SMALL}，由其得出的金额和比率记为 {HIDDEN}；若一组中只有一格不足 {MIN_CELL} 人，"
    f"另有一格一并不显示（记为 {COMPLEMENT}），以免由合计推算。理赔申请与客服工单按件计，不作隐藏。"
)


def _cover(book: Book, plan: Plan, kind: Kind, period: str, span: str, now: datetime) -> None:
    rows: list[list[Any]] = [
        ["报表", f"{plan.city}{plan.name} {KIND_NAMES[kind]}监管报表"],
        ["方案", f"{plan.name}（{plan.id}）"],
        ["城市", f"{plan.province}{plan.city}（{plan.region_code}）"],
        ["保障期", f"{plan.cover_start} 至 {plan.cover_end}"],
        ["报表期间", f"{period}（{span}）"],
        ["生成时间", f"{now.astimezone(figures.BEIJING):%Y-%m-%d %H:%M:%S}（北京时间）"],
        ["金额单位", "元，保留两位小数"],
        ["小格隐藏规则", SUPPRESSION],
        *[["数据来源", s] for s in SOURCES],
        *[["方案依据", f"{s.title}（{s.document}）"] for s in plan.sources],
    ]
    book.table("说明", [Column("项目", TEXT), Column("内容", TEXT)], rows, None)


def _summary(book: Book, plan: Plan, f: dict[str, Any], valued: Valued) -> None:
    e, p, pay, ben, cl, co = (
        f[k] for k in ("enrollment", "premium", "payouts", "beneficiaries", "claims", "complaints")
    )
    et, pt, yt, bt = e["total"], p["total"], pay["total"], ben["total"]
    renewal = e["renewal"]
    rows: list[list[Any]] = [
        ["基本医保参保人数", count(et, "insured"), COUNT, "方案参保地内的基本医保参保人"],
        ["已投保人数", count(et, "policies") if et["insured"] is not None else HIDDEN, COUNT, "期间内有保障的参保人"],
        ["投保率", derived(et["rate_bp"]), RATE, ""],
        ["续保率", derived(renewal["rate_bp"]) if renewal else HIDDEN, RATE,
         f"上年方案 {renewal['previous_plan']} 的参保人中本年续保的比例" if renewal else "平台无上年方案"],
        ["缴费保单（件）", count(pt, "policies"), COUNT, "按订单缴费日（北京时间）"],
        ["退保（件）", count(pt, "refunds"), COUNT, "按退保日"],
        ["实收保费（元）", derived(pt["collected_fen"]), MONEY, ""],
        ["退费（元）", derived(pt["refunded_fen"]), MONEY, ""],
        ["净保费（元）", derived(pt["net_fen"]), MONEY, ""],
        ["赔付金额（元）", derived(yt["payout_fen"]), MONEY, "按医保结算时间，已扣除冲销"],
        ["受益人数", count(yt, "persons"), COUNT, "期间内获赔付（净额大于零）的人数"],
        ["一站式结算赔付占比", derived(pay["onestop_share"]["payout_bp"]), RATE, ""],
        ["一站式结算受益人数占比", derived(pay["onestop_share"]["persons_bp"]), RATE, ""],
        ["人均赔付（元）", derived(bt["mean_fen"]), MONEY, f"受益人不少于 {MIN_CELL} 人时给出"],
        ["赔付中位数（元）", derived(bt["median_fen"]), MONEY, ""],
        ["赔付 90 分位数（元）", derived(bt["p90_fen"]), MONEY, ""],
        ["年终重算补付（元）", derived(pay["adjustments"]["total"]["topup_fen"]), MONEY, "与各月赔付分列"],
        ["年终重算追回（元）", derived(pay["adjustments"]["total"]["recovered_fen"]), MONEY, ""],
        *_incurred(plan, valued),
        ["理赔申请（件）", cl["total"], COUNT, "按提交日期"],
        ["已支付申请从提交到支付的中位工作日", derived(cl["days_to_pay"]["median"]), COUNT, ""],
        ["超过时限支付（件）", derived(cl["days_to_pay"]["late"]), COUNT,
         f"时限 {plan.claim_days} 个工作日" if plan.claim_days else "方案未定时限"],
        ["逾期未结申请（件）", cl["overdue"], COUNT, f"截至 {cl['today']}"],
        ["投诉与咨询（件）", co["total"], COUNT, "按受理日期"],
        ["逾期未办结工单（件）", co["overdue"], COUNT, f"截至 {co['today']}"],
    ]  # fmt: skip
    book.table(
        "概况",
        [Column("指标", TEXT), Column("数值", COUNT), Column("说明", TEXT)],
        [[name, (value, form), note] for name, value, form, note in rows],
        None,
        [SUPPRESSION],
    )


def _enrollment(book: Book, f: dict[str, Any]) -> None:
    e = f["enrollment"]
    rows = []
    for label, group in (
        ("参保地", e["by_district"]),
        ("年龄段", e["by_age_band"]),
        ("险种", e["by_insutype"]),
        ("特殊人群", e["by_population"]),
    ):
        for r in group:
            policies = count(r, "policies") if r["insured"] is not None or r.get("complement") else SMALL
            rows.append([label, str(r["name"]), count(r, "insured"), policies, derived(r["rate_bp"])])
    t = e["total"]
    total = ["合计", "", count(t, "insured"), count(t, "policies") if t["insured"] is not None else SMALL,
             derived(t["rate_bp"])]  # fmt: skip
    book.table(
        "投保",
        [
            Column("分类", TEXT),
            Column("分组", TEXT),
            Column("基本医保参保人（人）", COUNT),
            Column("已投保（人）", COUNT),
            Column("投保率", RATE),
        ],
        rows,
        total,
        ["每一分类各自合计为全体；年龄按保障期开始日计。特殊人群可重叠，不作合计。", SUPPRESSION],
    )


def _premium(book: Book, f: dict[str, Any]) -> None:
    p = f["premium"]

    def line(first: str, r: dict[str, Any]) -> list[Any]:
        return [first, count(r, "policies"), count(r, "refunds"), derived(r["collected_fen"]),
                derived(r["refunded_fen"]), derived(r["net_fen"])]  # fmt: skip

    book.table(
        "保费",
        [
            Column("月份", TEXT),
            Column("缴费保单（件）", COUNT),
            Column("退保（件）", COUNT),
            Column("实收保费（元）", MONEY),
            Column("退费（元）", MONEY),
            Column("净保费（元）", MONEY),
        ],
        [line(r["month"], r) for r in p["by_month"]],
        line("合计", p["total"]),
        ["保费按订单缴费日（北京时间）计入月份，退费按退保日计入。", SUPPRESSION],
    )


def _payouts(book: Book, f: dict[str, Any]) -> None:
    y = f["payouts"]
    rows = []
    for label, group, key in (
        ("月份", y["by_month"], "month"),
        ("保障责任", y["by_liability"], "name"),
        ("赔付途径", y["by_source"], "name"),
    ):
        rows += [[label, r[key], derived(r["payout_fen"]), count(r, "persons")] for r in group]
    for r in y["adjustments"]["by_liability"]:
        if r["persons"] != 0:
            rows.append(["年终重算补付", r["name"], derived(r["topup_fen"]), count(r, "persons")])
            rows.append(["年终重算追回", r["name"], derived(r["recovered_fen"]), count(r, "persons")])
    t = y["total"]
    book.table(
        "赔付",
        [Column("分类", TEXT), Column("分组", TEXT), Column("赔付金额（元）", MONEY), Column("受益人数（人）", COUNT)],
        rows,
        ["合计", "", derived(t["payout_fen"]), count(t, "persons")],
        [
            "赔付按医保结算时间计入月份，已扣除冲销；月份、保障责任、赔付途径各自合计为全体赔付。"
            "一人兼有两种途径的，在每种途径各计一次。年终重算调整与各月赔付分列，不计入合计。",
            SUPPRESSION,
        ],
    )


def _beneficiaries(book: Book, f: dict[str, Any]) -> None:
    b = f["beneficiaries"]
    book.table(
        "受益人群",
        [Column("期间赔付金额", TEXT), Column("受益人数（人）", COUNT), Column("赔付金额合计（元）", MONEY)],
        [[r["name"], count(r, "persons"), derived(r["payout_fen"])] for r in b["by_band"]],
        ["合计", count(b["total"], "persons"), derived(b["total"]["payout_fen"])],
        ["按每人期间内赔付净额分组。", SUPPRESSION],
    )


def _claims(book: Book, f: dict[str, Any]) -> None:
    c = f["claims"]
    days = c["days_to_pay"]
    rows = [["状态", r["name"], r["count"]] for r in c["by_state"]]
    rows += [["已支付申请用时", r["name"], r["count"]] for r in days["by_band"]]
    book.table(
        "理赔",
        [Column("分类", TEXT), Column("分组", TEXT), Column("申请件数（件）", COUNT)],
        rows,
        ["合计", "", c["total"]],
        [
            f"按提交日期计入期间；用时为提交至支付的法定工作日，已支付 {days['paid']} 件，"
            f"其中可计工作日 {days['measured']} 件。合计为各状态之和。"
        ],
    )


def _complaints(book: Book, f: dict[str, Any]) -> None:
    co = f["complaints"]
    kinds = co["kinds"]
    rows = [[r["name"], *(r[k["key"]] for k in kinds), sum(r[k["key"]] for k in kinds)] for r in co["by_category"]]
    book.table(
        "投诉",
        [Column("类别", TEXT), *(Column(f"{k['name']}（件）", COUNT) for k in kinds), Column("合计（件）", COUNT)],
        rows,
        ["合计", *(k["count"] for k in kinds), co["total"]],
        [
            "按受理日期计入期间；只计参保名册上属于方案参保地的来电人。"
            + "；".join(f"{s['name']} {s['count']} 件" for s in co["by_status"])
        ],
    )


@dataclass(frozen=True)
class Valued:
    """The loss ratio as of one day: the plan-year's figures (fen, bp; None without policies), the judged
    years (``lossratio.loss_ratio``) and the month-of-care triangle (``lossratio.ibnr``)."""

    day: date
    year: dict[str, Any] | None
    ratio: dict[str, Any]
    triangle: dict[str, Any]


def valued(*, session: Session, plan: Plan, end: date | None, today: date) -> Valued:
    """The loss ratio with IBNR valued at the period's end, or the platform's today when that is earlier
    (the annual report, which has no end, on today)."""
    day = lossratio.valued_on(end, today)
    return Valued(
        day=day,
        year=lossratio.plan_year(session=session, plan=plan, as_of=day),
        ratio=lossratio.loss_ratio(session=session, plan=plan, as_of=day),
        triangle=lossratio.ibnr(session=session, plan=plan, as_of=day),
    )


def _incurred(plan: Plan, v: Valued) -> list[list[Any]]:
    """The summary's loss-ratio rows: the plan-year's incurred loss ratio and its parts, and the floor."""
    y = v.year or {}
    none = "数据库中没有该年度的保单" if v.year is None else ""

    def fen(key: str) -> int | str:
        return HIDDEN if y.get(key) is None else y[key]

    span = plan.loss_ratio_years or 1
    floor = f"按 {span} 年平均考核，见“赔付率”表" if span > 1 else "按年度考核"
    return [
        ["已赚保费（元）", fen("earned"), MONEY, none or f"截至统计日 {v.day}，保费按保障期逐日分摊"],
        ["已付赔款（元）", fen("paid"), MONEY, "一站式结算、已支付理赔及年终重算调整"],
        ["未决赔款准备金（元）", fen("reserves"), MONEY, "已审批未支付及未审结的理赔"],
        ["IBNR（元）", fen("ibnr"), MONEY, "已发生未报告赔款，按就医月份的已付三角形以链梯法估计"],
        ["发生赔款（元）", fen("incurred"), MONEY, "已付 + 未决 + IBNR"],
        ["赔付率", fen("loss_ratio_bp"), RATE, f"发生赔款 ÷ 已赚保费，统计日 {v.day}"],
        ["方案赔付率要求", HIDDEN if plan.loss_ratio_floor is None else plan.loss_ratio_floor, RATE,
         floor if plan.loss_ratio_floor is not None else "方案未规定"],
    ]  # fmt: skip


def _yuan(text: str | None) -> int | None:
    """A yuan string of the loss-ratio figures back in fen, as the book writes money."""
    return None if text is None else to_fen(text)


def _loss_ratio(book: Book, plan: Plan, v: Valued) -> None:
    """The judged years with their average against the floor and the warnings; then the plan-year's paid
    triangle with its factors, and latest, ultimate and IBNR per month of care."""
    lr, tri = v.ratio, v.triangle
    parts = ("earned", "paid", "one_stop", "claims", "adjustments", "reserves", "ibnr", "incurred")
    years = []
    for y in lr["years"]:
        if y["present"]:
            ratio = HIDDEN if y["loss_ratio_bp"] is None else y["loss_ratio_bp"]
            years.append([str(y["year"]), y["plan"], y["policies"], *(_yuan(y[k]) for k in parts), ratio])
        else:
            years.append([str(y["year"]), y["plan"] or "无方案文件", "无保单数据", *[HIDDEN] * len(parts), HIDDEN])
    avg = lr["average"]
    average = [f"平均（{'、'.join(map(str, avg['years'])) or '无'}）", "", "", _yuan(avg["earned"]),
               *[""] * 6, _yuan(avg["incurred"]), HIDDEN if avg["loss_ratio_bp"] is None else avg["loss_ratio_bp"]]  # fmt: skip
    verdict = "方案未规定赔付率要求" if avg["meets"] is None else ("达标" if avg["meets"] else "未达标")
    judged_on = f" {lr['years_judged']} 年平均" if lr["years_judged"] > 1 else "年度"
    judged = Block(
        [Column("年度", TEXT), Column("方案", TEXT), Column("保单（件）", COUNT),
         *(Column(f"{t}（元）", MONEY) for t in ("已赚保费", "已付赔款", "其中一站式结算", "其中理赔", "其中年终调整",
                                                  "未决赔款准备金", "IBNR", "发生赔款")),
         Column("赔付率", RATE)],
        years,
        average,
        [
            f"统计日 {v.day}。"
            + (f"方案要求{judged_on}赔付率不低于 {lr['floor']}：{verdict}。" if lr["floor"] else verdict + "。"),
            *lr["warnings"],
            *([f"方案原文：{lr['cite']}"] if lr["cite"] else []),
        ],
    )  # fmt: skip
    ages = tri["ages"]
    cells = [[o, *(_yuan(c) for c in row)] for o, row in zip(tri["origins"], tri["triangle"], strict=True)]
    if ages:  # the factors under the triangle, each under the age it develops from
        cells.append(["逐期发展因子", *((f["factor"], FACTOR) for f in tri["factors"]), ""])
        cells.append(["累计发展因子", *((f["factor"], FACTOR) for f in tri["cdf"])])
    grid = Block(
        [Column("就医月份", TEXT), *(Column(f"第 {a} 月", MONEY) for a in ages)],
        cells,
        None,
        [f"{plan.year} 年度累计已付三角形：行为就医月份，列为自就医当月起至结算（或理赔审结）月份的月数，金额为累计。"],
    )
    rows = tri["rows"]
    t = tri["total"]
    months = Block(
        [Column("就医月份", TEXT), Column("最新发展期（月）", COUNT), Column("最新累计已付（元）", MONEY),
         Column("累计发展因子", FACTOR), Column("最终赔款（元）", MONEY), Column("IBNR（元）", MONEY)],
        [[r["origin"], r["age"], _yuan(r["latest"]), r["cdf"], _yuan(r["ultimate"]), _yuan(r["ibnr"])] for r in rows],
        ["合计", "", _yuan(t["latest"]), "", _yuan(t["ultimate"]), _yuan(t["ibnr"])],
        list(lr["basis"]),
    )  # fmt: skip
    book.sheet("赔付率", [judged, grid, months])


def _workbook(
    *, session: Session, plan: Plan, kind: Kind, period: str, start: date | None, end: date | None, now: datetime,
    today: date | None,
) -> bytes:  # fmt: skip
    today = today or platform_today()
    f = figures.dashboard(session=session, plan=plan, start=start, end=end, today=today)
    v = valued(session=session, plan=plan, end=end, today=today)
    span = f"{start} 至 {end}" if start and end else "方案全年度，含投保期缴纳的保费"
    book = Book()
    _cover(book, plan, kind, period, span, now)
    _summary(book, plan, f, v)
    for write in (_enrollment, _premium, _payouts, _beneficiaries, _claims, _complaints):
        write(book, f)
    _loss_ratio(book, plan, v)
    return book.close()


def monthly(
    *, session: Session, plan: Plan, month: str, now: datetime | None = None, today: date | None = None
) -> bytes:
    """The plan's monthly report for ``month`` ("YYYY-MM"); ``PeriodError`` when the month is malformed or
    outside the plan's enrollment and cover. ``today`` is the platform's date (HMB_TODAY), which claims are
    overdue on and the loss ratio is valued at when the month has not ended."""
    start, end = month_bounds(session=session, plan=plan, month=month)
    return _workbook(session=session, plan=plan, kind=Kind.MONTHLY, period=month, start=start, end=end,
                     now=now or datetime.now(figures.BEIJING), today=today)  # fmt: skip


def annual(
    *, session: Session, plan: Plan, year: str | int | None = None, now: datetime | None = None,
    today: date | None = None,
) -> bytes:  # fmt: skip
    """The plan's annual report over the whole plan-year; ``year``, when given, must be the plan's year. The
    loss ratio is valued at ``today`` (the platform's date), as late as the other figures run."""
    period = plan_year(plan, year)
    return _workbook(session=session, plan=plan, kind=Kind.ANNUAL, period=period, start=None, end=None,
                     now=now or datetime.now(figures.BEIJING), today=today)  # fmt: skip


def take(
    *, session: Session, actor: audit.Actor, plan: Plan, kind: Kind, period: str | None, today: date | None = None
) -> Report:
    """A report made for ``actor`` on the platform's date ``today`` and written to the audit log (who took
    which report of which period); the caller commits."""
    if kind == Kind.MONTHLY:
        data = monthly(session=session, plan=plan, month=period or "", today=today)
        shown = period or ""
    else:
        shown = plan_year(plan, period)
        data = annual(session=session, plan=plan, year=shown, today=today)
    audit.record(session=session, actor=actor, action="report.take", entity="plan", entity_id=plan.id,
                 after={"kind": kind.value, "period": shown, "bytes": len(data)})  # fmt: skip
    return Report(
        data=data,
        name=f"{plan.name} {shown} {KIND_NAMES[kind]}监管报表.xlsx",
        ascii_name=f"{plan.id}-{kind.value}-{shown}.xlsx",
    )


__all__ = [
    "KIND_NAMES",
    "Kind",
    "PeriodError",
    "Report",
    "annual",
    "month_bounds",
    "monthly",
    "months",
    "plan_year",
    "take",
]
