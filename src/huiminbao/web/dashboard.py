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

from huiminbao.access.policies import SignedIn
from huiminbao.access.scope import check_plan, readable_plans
from huiminbao.db import SessionDep
from huiminbao.identity.models import Role, User
from huiminbao.money import to_yuan_grouped
from huiminbao.plans import Plan, PlanNotFound, load_plan
from huiminbao.supervision import figures
from huiminbao.synth.profile import profile_data
from huiminbao.web.routes import not_found_page
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


SECTION_NAMES = {
    Section.ENROLLMENT: "投保",
    Section.PREMIUM: "保费",
    Section.PAYOUTS: "赔付",
    Section.BENEFICIARIES: "受益人群",
    Section.CLAIMS: "理赔时效",
    Section.COMPLAINTS: "投诉",
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
    plans = sorted(readable_plans(user), key=lambda p: (-p.year, p.id))
    try:
        chosen = load_plan(plan) if plan else plans[0]
    except PlanNotFound:
        return not_found_page(request, f"方案 {plan}")
    check_plan(user, chosen.id)
    period, problem = _period(start, end)
    read = {
        Section.ENROLLMENT: figures.enrollment,
        Section.PREMIUM: figures.premium,
        Section.PAYOUTS: figures.payouts,
        Section.BENEFICIARIES: figures.beneficiaries,
        Section.CLAIMS: figures.claims,
        Section.COMPLAINTS: figures.complaints,
    }[section]
    if section in (Section.CLAIMS, Section.COMPLAINTS):  # overdue on the platform's date (HMB_TODAY)
        today = request.app.state.settings.platform_date()
        figure = read(session=session, plan=chosen, start=period[0], end=period[1], today=today)
    else:
        figure = read(session=session, plan=chosen, start=period[0], end=period[1])
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
) -> dict[str, Any]:
    """One chart spec for charts.js, with its table (``head`` and text ``rows``)."""
    note = "不足 10 人的格不显示（表中记为 <10；为免由合计推算而一并隐去的格记为“不显示”）" if suppressed else ""
    return {
        "id": f"chart-{key}",
        "title": title,
        "note": note,
        "kind": kind,
        "stack": stack,
        "units": units,
        "categories": categories,
        "series": series,
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
            "一站式结算与理赔申请的赔付占比",
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


CHARTS = {
    Section.ENROLLMENT: _enrollment,
    Section.PREMIUM: _premium,
    Section.PAYOUTS: _payouts,
    Section.BENEFICIARIES: _beneficiaries,
    Section.CLAIMS: _claims,
    Section.COMPLAINTS: _complaints,
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


FACTS = {
    Section.ENROLLMENT: _enrollment_facts,
    Section.PREMIUM: _premium_facts,
    Section.PAYOUTS: _payout_facts,
    Section.BENEFICIARIES: _beneficiary_facts,
    Section.CLAIMS: _claim_facts,
    Section.COMPLAINTS: _complaint_facts,
}
