"""监管看板: the supervision figures of a plan as charts, each with the table it is drawn from.

The page reads ``supervision.figures`` and turns each figure into chart specs (title, units, categories,
series) that ``static/charts.js`` hands to the vendored ECharts; the specs travel in a
``<script type="application/json">`` block, which the Content-Security-Policy lets through because it is
data, not code. Every chart has a table under it with the same numbers, for screen readers and for the
suppressed cells, which the table shows as "<10" where the chart leaves a gap.
"""

from __future__ import annotations

import enum
from datetime import date
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from huiminbao.access.policies import SignedIn
from huiminbao.db import SessionDep
from huiminbao.identity.models import Role, User
from huiminbao.money import to_fen, to_yuan_grouped
from huiminbao.plans import Plan
from huiminbao.supervision import figures, lossratio
from huiminbao.synth.profile import profile_data
from huiminbao.web.routes import overseen_plans
from huiminbao.web.templating import render

router = APIRouter(prefix="/supervision", include_in_schema=False)
DashboardDep = Annotated[User, Depends(SignedIn(Role.SUPERVISOR, Role.ADMIN, Role.FINANCE))]
SMALL = "<10"  # a suppressed count, as the tables show it
HIDDEN = "—"  # a figure drawn from a suppressed count
COMPLEMENT = "不显示"  # a count of 10 or more, hidden so that a small one beside it cannot be worked out


class Section(enum.StrEnum):
    ENROLLMENT = "enrollment"
    PREMIUM = "premium"
    PAYOUTS = "payouts"
    BENEFICIARIES = "beneficiaries"
    CLAIMS = "claims"
    COMPLAINTS = "complaints"
    LOSS_RATIO = "loss_ratio"


SECTION_NAMES = {
    Section.ENROLLMENT: "投保",
    Section.PREMIUM: "保费",
    Section.PAYOUTS: "赔付",
    Section.BENEFICIARIES: "受益人群",
    Section.CLAIMS: "理赔时效",
    Section.COMPLAINTS: "投诉",
    Section.LOSS_RATIO: "赔付率",
}


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    session: SessionDep,
    user: DashboardDep,
    plan: str | None = None,
    section: Section = Section.ENROLLMENT,
    start: str = "",
    end: str = "",
) -> Response:
    """One section of the chosen plan's dashboard for the period (whole plan when no dates are given);
    finance chooses among its own consortium's plans."""
    plans, chosen = overseen_plans(request, session, user, plan)
    period, problem = _period(start, end)
    today = request.app.state.settings.platform_date()
    if section == Section.LOSS_RATIO:
        figure = loss_ratio_figure(session=session, plan=chosen, end=period[1], today=today)
    else:
        figure = _read(session, chosen, section, period, today)
    charts = CHARTS[section](figure, chosen)
    context = {
        "active": "监管",
        "tab": "dashboard",
        "plans": plans,
        "plan": chosen,
        "section": section,
        "sections": SECTION_NAMES,
        "start": period[0],
        "end": period[1],
        "problem": problem,
        "figure": figure,
        "charts": charts,
        "specs": [{k: v for k, v in c.items() if k != "table"} for c in charts],
        "facts": FACTS[section](figure),
    }
    return render(request, "supervision_dashboard.html", context)


def _read(
    session: Session, plan: Plan, section: Section, period: tuple[date | None, date | None], today: date
) -> dict[str, Any]:
    """One section's figure for the period; claims and cases are overdue on the platform's date (HMB_TODAY)."""
    read = {
        Section.ENROLLMENT: figures.enrollment,
        Section.PREMIUM: figures.premium,
        Section.PAYOUTS: figures.payouts,
        Section.BENEFICIARIES: figures.beneficiaries,
        Section.CLAIMS: figures.claims,
        Section.COMPLAINTS: figures.complaints,
    }[section]
    if section in (Section.CLAIMS, Section.COMPLAINTS):
        return read(session=session, plan=plan, start=period[0], end=period[1], today=today)
    return read(session=session, plan=plan, start=period[0], end=period[1])


def loss_ratio_figure(*, session: Session, plan: Plan, end: date | None, today: date) -> dict[str, Any]:
    """The loss ratio of the judged years (``lossratio.loss_ratio``) and the plan-year's IBNR by month of
    care (``lossratio.ibnr``), both valued on the same day."""
    day = lossratio.valued_on(end, today)
    return {
        "ratio": lossratio.loss_ratio(session=session, plan=plan, as_of=day),
        "ibnr": lossratio.ibnr(session=session, plan=plan, as_of=day),
    }


def _period(start: str, end: str) -> tuple[tuple[date | None, date | None], str | None]:
    """The period asked for, or the whole plan with a sentence saying why the dates were not used."""
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        return (None, None), "日期格式应为 YYYY-MM-DD，已显示全部期间"
    if first and last and first > last:
        return (None, None), "开始日期晚于结束日期，已显示全部期间"
    return (first, last), None


# --- formatting -----------------------------------------------------------------------------------


def wan(fen: int | None) -> float | None:
    """Fen as 万元 for a chart axis (two decimals); None stays a gap."""
    return None if fen is None else round(fen / 1_000_000, 2)


def pct(bp: int | None) -> float | None:
    return None if bp is None else bp / 100


def persons_text(row: dict[str, Any], key: str) -> str:
    """A count as a table shows it: "<10" when suppressed as small, "不显示" when suppressed only so that a
    small one cannot be worked out from the total."""
    if row.get("complement"):
        return COMPLEMENT
    n = row[key]
    return SMALL if n is None else f"{n:,}"


def money_text(fen: int | None) -> str:
    return HIDDEN if fen is None else to_yuan_grouped(fen)


def pct_text(bp: int | None) -> str:
    return HIDDEN if bp is None else f"{bp / 100:.1f}%"


def any_suppressed(rows: list[dict[str, Any]]) -> bool:
    return any(r.get("suppressed") for r in rows)


@cache
def district_names(region_code: str, plan_id: str) -> dict[str, str]:
    """Names of the city's districts by code, from the city's profile when the platform has one (the demo
    cities do); a district without one is shown by its code alone."""
    data, files = profile_data(region_code, plan_id)
    if f"{region_code}.yaml" not in files:
        return {}
    return {str(code): str(name) for code, name in data.get("counties", ())}


def chart(
    key: str,
    title: str,
    categories: list[str],
    series: list[dict[str, Any]],
    units: list[str],
    head: list[str],
    rows: list[list[str]],
    *,
    kind: str = "bar",
    suppressed: bool = False,
    stack: bool = False,
    note: str = "",
    gap: str | None = None,
) -> dict[str, Any]:
    """One chart spec for charts.js, with its table (``head`` and text ``rows``); ``gap`` says what a
    missing value is when it is not a suppressed cell (the tooltip's word and the empty chart's sentence)."""
    if suppressed:
        note = "不足 10 人的格不显示（表中记为 <10；为免由合计推算而一并隐去的格记为“不显示”）"
    return {
        "id": f"chart-{key}",
        "title": title,
        "note": note,
        "kind": kind,
        "stack": stack,
        "units": units,
        "categories": categories,
        "series": series,
        "gap": gap,
        "table": {"head": head, "rows": rows},
    }


# --- the sections' charts -------------------------------------------------------------------------


def _enrollment(f: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    names = district_names(plan.region_code, plan.id)
    out = []
    for key, title, rows in (
        ("district", "各参保地投保情况", f["by_district"]),
        ("age", "各年龄段投保情况（按保障期开始日的年龄）", f["by_age_band"]),
        ("insutype", "各险种投保情况", f["by_insutype"]),
        ("population", "特殊人群投保情况", f["by_population"]),
    ):
        label = [
            f"{r['name']} {names[r['key']]}" if key == "district" and r["key"] in names else r["name"] for r in rows
        ]
        out.append(
            chart(
                key,
                title,
                label,
                [
                    {"name": "基本医保参保人", "values": [r["insured"] for r in rows]},
                    {"name": "已投保", "values": [r["policies"] for r in rows]},
                    {"name": "投保率", "values": [pct(r["rate_bp"]) for r in rows], "kind": "line", "axis": 1},
                ],
                ["人", "%"],
                ["分组", "基本医保参保人（人）", "已投保（人）", "投保率"],
                [
                    [
                        n,
                        persons_text(r, "insured"),
                        persons_text(r, "policies") if r["insured"] else HIDDEN,
                        pct_text(r["rate_bp"]),
                    ]
                    for n, r in zip(label, rows, strict=True)
                ],
                suppressed=any_suppressed(rows),
            )
        )
    return out


def _premium(f: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    rows = f["by_month"]
    months = [r["month"] for r in rows]
    return [
        chart(
            "premium-month",
            "各月保费收入（按缴费日，退费按退保日）",
            months,
            [
                {"name": "实收保费", "values": [wan(r["collected_fen"]) for r in rows]},
                {"name": "退费", "values": [wan(r["refunded_fen"]) for r in rows]},
                {"name": "净保费", "values": [wan(r["net_fen"]) for r in rows], "kind": "line"},
            ],
            ["万元"],
            ["月份", "缴费保单（件）", "退保（件）", "实收保费（元）", "退费（元）", "净保费（元）"],
            [
                [
                    r["month"],
                    persons_text(r, "policies"),
                    persons_text(r, "refunds"),
                    money_text(r["collected_fen"]),
                    money_text(r["refunded_fen"]),
                    money_text(r["net_fen"]),
                ]
                for r in rows
            ],
            suppressed=any_suppressed(rows),
        )
    ]


def _payouts(f: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    months, liabs, sources = f["by_month"], f["by_liability"], f["by_source"]
    adjust = f["adjustments"]["by_liability"]
    charts = [
        chart(
            "payout-month",
            "各月赔付金额与受益人数（按医保结算时间）",
            [r["month"] for r in months],
            [
                {"name": "赔付金额", "values": [wan(r["payout_fen"]) for r in months]},
                {"name": "受益人数", "values": [r["persons"] for r in months], "kind": "line", "axis": 1},
            ],
            ["万元", "人"],
            ["月份", "赔付金额（元）", "受益人数（人）"],
            [[r["month"], money_text(r["payout_fen"]), persons_text(r, "persons")] for r in months],
            suppressed=any_suppressed(months),
        ),
        chart(
            "payout-liability",
            "各保障责任赔付金额",
            [r["name"] for r in liabs],
            [{"name": "赔付金额", "values": [wan(r["payout_fen"]) for r in liabs]}],
            ["万元"],
            ["保障责任", "赔付金额（元）", "受益人数（人）"],
            [[r["name"], money_text(r["payout_fen"]), persons_text(r, "persons")] for r in liabs],
            kind="hbar",
            suppressed=any_suppressed(liabs),
        ),
        chart(
            "payout-source",
            "一站式结算与理赔申请的赔付占比（理赔按核准计入，含尚未支付的；赔付率页将其列为未决）",
            [r["name"] for r in sources],
            [{"name": "赔付金额", "values": [wan(r["payout_fen"]) for r in sources]}],
            ["万元"],
            ["赔付途径", "赔付金额（元）", "受益人数（人）"],
            [[r["name"], money_text(r["payout_fen"]), persons_text(r, "persons")] for r in sources],
            kind="pie",
            suppressed=any_suppressed(sources),
        ),
    ]
    if f["adjustments"]["total"]["persons"] == 0:
        return charts  # no year-end run yet (or it changed nothing): an empty chart would say nothing
    return [
        *charts,
        chart(
            "payout-adjustments",
            "年终重算调整（与各月赔付分列）",
            [r["name"] for r in adjust],
            [
                {"name": "补付", "values": [wan(r["topup_fen"]) for r in adjust]},
                {"name": "追回", "values": [wan(r["recovered_fen"]) for r in adjust]},
            ],
            ["万元"],
            ["保障责任", "涉及人数（人）", "补付（元）", "追回（元）"],
            [
                [r["name"], persons_text(r, "persons"), money_text(r["topup_fen"]), money_text(r["recovered_fen"])]
                for r in adjust
            ],
            kind="hbar",
            suppressed=any_suppressed(adjust),
        ),
    ]


def _beneficiaries(f: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    bands = f["by_band"]
    return [
        chart(
            "benefit-band",
            "受益人按年度赔付金额分布",
            [r["name"] for r in bands],
            [{"name": "受益人数", "values": [r["persons"] for r in bands]}],
            ["人"],
            ["赔付金额", "受益人数（人）", "赔付金额合计（元）"],
            [[r["name"], persons_text(r, "persons"), money_text(r["payout_fen"])] for r in bands],
            suppressed=any_suppressed(bands),
        )
    ]


def _claims(f: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    states, bands = f["by_state"], f["days_to_pay"]["by_band"]
    return [
        chart(
            "claims-state",
            "理赔申请按状态（按提交日期）",
            [r["name"] for r in states],
            [{"name": "申请件数", "values": [r["count"] for r in states]}],
            ["件"],
            ["状态", "申请件数（件）"],
            [[r["name"], f"{r['count']:,}"] for r in states],
        ),
        chart(
            "claims-days",
            "已支付申请从提交到支付的工作日",
            [r["name"] for r in bands],
            [{"name": "申请件数", "values": [r["count"] for r in bands]}],
            ["件"],
            ["用时", "申请件数（件）"],
            [[r["name"], f"{r['count']:,}"] for r in bands],
        ),
    ]


def _complaints(f: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    cats, statuses, bands = f["by_category"], f["by_status"], f["days_to_close"]["by_band"]
    return [
        chart(
            "complaints-category",
            "投诉与咨询按类别（按受理日期）",
            [r["name"] for r in cats],
            [
                {"name": "投诉", "values": [r["complaint"] for r in cats]},
                {"name": "咨询", "values": [r["inquiry"] for r in cats]},
            ],
            ["件"],
            ["类别", "投诉（件）", "咨询（件）"],
            [[r["name"], f"{r['complaint']:,}", f"{r['inquiry']:,}"] for r in cats],
            stack=True,
        ),
        chart(
            "complaints-status",
            "投诉与咨询按状态",
            [r["name"] for r in statuses],
            [{"name": "件数", "values": [r["count"] for r in statuses]}],
            ["件"],
            ["状态", "件数（件）"],
            [[r["name"], f"{r['count']:,}"] for r in statuses],
            kind="pie",
        ),
        chart(
            "complaints-days",
            "已办结工单从受理到办结的天数",
            [r["name"] for r in bands],
            [{"name": "件数", "values": [r["count"] for r in bands]}],
            ["件"],
            ["用时", "件数（件）"],
            [[r["name"], f"{r['count']:,}"] for r in bands],
        ),
    ]


def yuan_wan(yuan: str | None) -> float | None:
    """A yuan string of the loss ratio's figures as 万元 for a chart axis; None stays a gap."""
    return None if yuan is None else wan(to_fen(yuan))


def yuan_cell(yuan: str | None) -> str:
    return HIDDEN if yuan is None else to_yuan_grouped(to_fen(yuan))


def _loss_ratio(f: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    lr, tri = f["ratio"], f["ibnr"]
    years, avg = lr["years"], lr["average"]
    missing = [str(y["year"]) for y in years if not y["present"]]
    floor = {"value": lr["floor_bp"] / 100, "label": f"方案要求 {lr['floor']}"} if lr["floor_bp"] else None

    def part(key: str) -> list[float | None]:
        return [yuan_wan(y[key]) if y["present"] else None for y in years]

    year_rows = [
        [f"{y['year']} 年（{y['plan'] or '无方案文件'}）",
         *([yuan_cell(y[k]) for k in ("earned", "paid", "reserves", "ibnr", "incurred")] if y["present"] else
           ["无保单数据", HIDDEN, HIDDEN, HIDDEN, HIDDEN]),
         y.get("loss_ratio") or HIDDEN]
        for y in years
    ]  # fmt: skip
    year_rows.append([f"平均（{'、'.join(map(str, avg['years'])) or '无'}）", yuan_cell(avg["earned"]),
                      "", "", "", yuan_cell(avg["incurred"]), avg["loss_ratio"] or HIDDEN])  # fmt: skip
    rows = tri["rows"]
    month_rows = [
        [r["origin"], str(r["age"]), yuan_cell(r["latest"]), f"{r['cdf']:.4f}", yuan_cell(r["ultimate"]),
         yuan_cell(r["ibnr"])]
        for r in rows
    ]  # fmt: skip
    if rows:
        t = tri["total"]
        month_rows.append(["合计", "", yuan_cell(t["latest"]), "", yuan_cell(t["ultimate"]), yuan_cell(t["ibnr"])])
    return [
        chart(
            "loss-ratio-years",
            f"各考核年度已赚保费、发生赔款与赔付率（统计日 {lr['as_of']}）",
            [f"{y['year']} 年" for y in years],
            [
                {"name": "已赚保费", "values": part("earned"), "stack": "earned"},
                {"name": "已付赔款", "values": part("paid"), "stack": "incurred"},
                {"name": "未决赔款准备金", "values": part("reserves"), "stack": "incurred"},
                {"name": "IBNR", "values": part("ibnr"), "stack": "incurred"},
                {
                    "name": "赔付率",
                    "values": [pct(y.get("loss_ratio_bp")) for y in years],
                    "kind": "line",
                    "axis": 1,
                    "floor": floor,
                },
            ],
            ["万元", "%"],
            [
                "年度（方案）",
                "已赚保费（元）",
                "已付赔款（元）",
                "未决赔款准备金（元）",
                "IBNR（元）",
                "发生赔款（元）",
                "赔付率",
            ],
            year_rows,
            note=f"{'、'.join(missing)} 年度无保单数据，图中留空，平均不计该年度" if missing else "",
            gap="无数据",
        ),
        chart(
            "loss-ratio-ibnr",
            f"{plan.year} 年度各就医月份已付赔款与 IBNR（链梯法）",
            [r["origin"] for r in rows],
            [
                {"name": "已付（最新累计）", "values": [yuan_wan(r["latest"]) for r in rows]},
                {"name": "IBNR", "values": [yuan_wan(r["ibnr"]) for r in rows]},
            ],
            ["万元"],
            ["就医月份", "最新发展期（月）", "最新累计已付（元）", "累计发展因子", "最终赔款（元）", "IBNR（元）"],
            month_rows,
            stack=True,
            gap="无数据",
        ),
    ]


CHARTS = {
    Section.ENROLLMENT: _enrollment,
    Section.PREMIUM: _premium,
    Section.PAYOUTS: _payouts,
    Section.BENEFICIARIES: _beneficiaries,
    Section.CLAIMS: _claims,
    Section.COMPLAINTS: _complaints,
    Section.LOSS_RATIO: _loss_ratio,
}


# --- the headline figures above the charts ---------------------------------------------------------


def _enrollment_facts(f: dict[str, Any]) -> list[tuple[str, str]]:
    t, r = f["total"], f["renewal"]
    renewal = "无上年方案" if r is None else pct_text(r["rate_bp"])
    return [
        ("基本医保参保人", persons_text(t, "insured") + " 人"),
        ("已投保", persons_text(t, "policies") + " 人"),
        ("投保率", pct_text(t["rate_bp"])),
        ("续保率", renewal),
    ]


def _premium_facts(f: dict[str, Any]) -> list[tuple[str, str]]:
    t = f["total"]
    return [
        ("缴费保单", persons_text(t, "policies") + " 件"),
        ("实收保费", money_text(t["collected_fen"]) + " 元"),
        ("退费", money_text(t["refunded_fen"]) + " 元"),
        ("净保费", money_text(t["net_fen"]) + " 元"),
    ]


def _payout_facts(f: dict[str, Any]) -> list[tuple[str, str]]:
    t, share = f["total"], f["onestop_share"]
    return [
        ("赔付金额", money_text(t["payout_fen"]) + " 元"),
        ("受益人数", persons_text(t, "persons") + " 人"),
        ("一站式结算赔付占比", pct_text(share["payout_bp"])),
        ("一站式结算受益人占比", pct_text(share["persons_bp"])),
        ("年终重算调整", "无" if f["adjustments"]["total"]["persons"] == 0 else "见下方"),
    ]


def _beneficiary_facts(f: dict[str, Any]) -> list[tuple[str, str]]:
    t = f["total"]
    return [
        ("受益人数", persons_text(t, "persons") + " 人"),
        ("人均赔付", money_text(t["mean_fen"]) + " 元"),
        ("赔付中位数", money_text(t["median_fen"]) + " 元"),
        ("90% 分位", money_text(t["p90_fen"]) + " 元"),
    ]


def _claim_facts(f: dict[str, Any]) -> list[tuple[str, str]]:
    d = f["days_to_pay"]
    late = HIDDEN if d["late"] is None else f"{d['late']} 件"
    return [
        ("理赔申请", f"{f['total']:,} 件"),
        ("支付用时中位数", HIDDEN if d["median"] is None else f"{d['median']} 个工作日"),
        ("90% 分位", HIDDEN if d["p90"] is None else f"{d['p90']} 个工作日"),
        (f"超过 {d['limit']} 个工作日支付" if d["limit"] else "超时支付", late),
        ("当前逾期未结", f"{f['overdue']} 件"),
    ]


def _complaint_facts(f: dict[str, Any]) -> list[tuple[str, str]]:
    d = f["days_to_close"]
    return [
        *[(k["name"], f"{k['count']:,} 件") for k in f["kinds"]],
        ("办结用时中位数", HIDDEN if d["median"] is None else f"{d['median']} 天"),
        ("90% 分位", HIDDEN if d["p90"] is None else f"{d['p90']} 天"),
        ("当前逾期", f"{f['overdue']} 件"),
    ]


def _loss_ratio_facts(f: dict[str, Any]) -> list[tuple[str, str]]:
    lr = f["ratio"]
    avg, span = lr["average"], lr["years_judged"]
    return [
        (f"{span} 年平均赔付率（含 IBNR）" if span > 1 else "年度赔付率（含 IBNR）", avg["loss_ratio"] or HIDDEN),
        ("方案要求", f"不低于 {lr['floor']}" if lr["floor"] else "未规定"),
        (f"{lr['year']} 年度 IBNR", yuan_cell(f["ibnr"]["total"]["ibnr"]) + " 元"),
        ("统计日", lr["as_of"]),
    ]


FACTS = {
    Section.ENROLLMENT: _enrollment_facts,
    Section.PREMIUM: _premium_facts,
    Section.PAYOUTS: _payout_facts,
    Section.BENEFICIARIES: _beneficiary_facts,
    Section.CLAIMS: _claim_facts,
    Section.COMPLAINTS: _complaint_facts,
    Section.LOSS_RATIO: _loss_ratio_facts,
}
