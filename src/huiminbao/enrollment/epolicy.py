"""The electronic policy (电子保单): one PDF per insured person, in Chinese.

It carries what a resident or a hospital clerk needs to see: the plan and tier, the cover period, the
premium, the liabilities table (deductible, ratio, limit, as the plan file says them), the insured
person's masked ID number and masked name, and a QR code whose link leads to the public verification
page (``/verify/<code>``), which says whether the policy is valid without any personal data.

The font is the Debian ``fonts-wqy-zenhei`` TrueType collection, embedded: reportlab's built-in CID
fonts leave Chinese blank in many viewers. The QR code is drawn as vector squares from ``segno``'s matrix.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import segno
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Table, TableStyle

from huiminbao.money import bp_to_percent, to_yuan, to_yuan_grouped
from huiminbao.plans.schema import Amount, Plan, Ratio, Tier

FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
FONT = "WenQuanYiZenHei"
STATUS_NAMES = {
    "pending_payment": "待缴费",
    "active": "有效",
    "suspended": "已暂停",
    "ended": "已终止",
    "cancelled": "已撤销",
    "refunded": "已退保",
}


class EPolicyError(RuntimeError):
    """The e-policy cannot be rendered (the CJK font is not installed)."""


@dataclass(frozen=True)
class EPolicy:
    policy_no: str
    plan: Plan
    tier: Tier
    name_masked: str
    certno_masked: str
    relation: str
    premium_fen: int
    status: str
    cover_start: date
    cover_end: date
    verify_code: str
    verify_url: str
    issued: date


def cjk_font() -> str:
    """The embedded CJK font's name, registered with reportlab once (the e-policy and the EOB use it)."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        if not FONT_FILE.exists():
            raise EPolicyError(f"中文字体 {FONT_FILE} 不存在：apt-get install -y fonts-wqy-zenhei")
        pdfmetrics.registerFont(TTFont(FONT, str(FONT_FILE), subfontIndex=0))
    return FONT


def amount_text(a: Amount | None, tier: Tier) -> str:
    """A deductible or limit in words, as the plan page shows it."""
    if a is None:
        return "仅受年度总限额约束"
    if a.unknown is not None:
        return "未公布"
    if a.shared is not None:
        pool = next((d for d in tier.deductibles if d.id == a.shared), None)
        if pool is None:
            return f"共用：{a.shared}"
        return f"共用{pool.name}" + (f" {to_yuan_grouped(pool.amount)} 元" if pool.amount is not None else "")
    assert a.amount is not None
    text = f"{to_yuan_grouped(a.amount)} 元"
    for r in a.rules:
        text += f"\n{r.label or r.when}：{to_yuan_grouped(r.amount)} 元"
    return text


def ratio_text(r: Ratio) -> str:
    text = bp_to_percent(r.default)
    for rule in r.rules:
        text += f"\n{rule.label or rule.when}：{bp_to_percent(rule.ratio)}"
    return text


def render(e: EPolicy) -> bytes:
    """The e-policy as PDF bytes (A4, one page)."""
    font = cjk_font()
    out = io.BytesIO()
    pdf = Canvas(out, pagesize=A4, pageCompression=1)
    pdf.setTitle(f"{e.plan.name} 电子保单 {e.policy_no}")
    pdf.setAuthor(e.plan.name)
    width, height = A4
    left, top = 20 * mm, height - 22 * mm
    pdf.setFont(font, 20)
    pdf.drawString(left, top, f"{e.plan.name} 电子保单")
    pdf.setFont(font, 10)
    pdf.setFillColor(colors.grey)
    pdf.drawString(left, top - 7 * mm, f"{e.plan.province}{e.plan.city} · {e.plan.year} 年度 · 城市定制型商业医疗保险")
    pdf.setFillColor(colors.black)
    facts = [
        ("保单号", e.policy_no),
        ("保障方案", e.tier.name),
        ("被保险人", e.name_masked),
        ("证件号码", e.certno_masked),
        ("与投保人关系", e.relation),
        ("保费", f"{to_yuan(e.premium_fen)} 元"),
        ("保障期间", f"{e.cover_start} 至 {e.cover_end}"),
        ("保单状态", STATUS_NAMES.get(e.status, e.status)),
        ("出单日期", e.issued.isoformat()),
    ]
    y = top - 18 * mm
    pdf.setFont(font, 11)
    for label, value in facts:
        pdf.setFillColor(colors.grey)
        pdf.drawString(left, y, label)
        pdf.setFillColor(colors.black)
        pdf.drawString(left + 30 * mm, y, value)
        y -= 7 * mm
    _qr(pdf, e.verify_url, x=width - 20 * mm - 40 * mm, y=top - 60 * mm, size=40 * mm)
    pdf.setFont(font, 9)
    pdf.drawCentredString(width - 40 * mm, top - 65 * mm, f"验真码 {e.verify_code}")

    rows = [["保险责任", "免赔额", "赔付比例", "年度限额"]]
    rows += [
        [liab.name, amount_text(liab.deductible, e.tier), ratio_text(liab.ratio), amount_text(liab.limit, e.tier)]
        for liab in e.tier.liabilities
    ]
    if e.tier.overall_limit is not None:
        rows.append(["年度累计赔付限额", "", "", amount_text(e.tier.overall_limit, e.tier)])
    table = Table(rows, colWidths=[62 * mm, 38 * mm, 36 * mm, 34 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, 9),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#9aa7b8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
            ]
        )
    )
    _, table_height = table.wrapOn(pdf, width - 40 * mm, height)
    table.drawOn(pdf, left, y - 6 * mm - table_height)
    y = y - 14 * mm - table_height
    pdf.setFont(font, 8)
    pdf.setFillColor(colors.grey)
    for line in (
        "扫描二维码或访问验真页面，输入验真码，可查验本保单是否有效（页面不显示个人信息）。",
        "赔付以保险条款为准：免赔额、赔付比例和限额按保单年度累计计算。",
    ):
        pdf.drawString(left, y, line)
        y -= 5 * mm
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _qr(pdf: Canvas, data: str, *, x: float, y: float, size: float) -> None:
    """The QR code as filled squares (with its quiet zone), ``size`` wide, lower-left corner at (x, y)."""
    qr = segno.make(data, error="m")
    matrix = list(qr.matrix_iter(scale=1, border=4))
    cell = size / len(matrix)
    pdf.setFillColor(colors.black)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                pdf.rect(x + c * cell, y + size - (r + 1) * cell, cell, cell, stroke=0, fill=1)


__all__ = ["EPolicy", "EPolicyError", "amount_text", "cjk_font", "ratio_text", "render"]
