"""The Jinja2 environment, its filters, and the navigation shared by every page.

Amounts arrive as integer fen and are formatted here, once, with ``money.to_yuan``:
templates never do arithmetic on money.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.templating import Jinja2Templates

from huiminbao import __version__
from huiminbao.money import bp_to_percent, to_yuan
from huiminbao.web import TEMPLATES_DIR

STATUS_LABELS = {"official": "正式文件", "news": "新闻稿", "from_qa": "问答页整理", "illustrative": "示意数据"}


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str | None  # None: not built yet, shown greyed out


NAV: tuple[NavItem, ...] = (
    NavItem("方案", "/"),
    NavItem("试算", "/estimate"),
    NavItem("参保人", None),
    NavItem("医院结算", None),
    NavItem("理赔", None),
    NavItem("财务", None),
    NavItem("监管", None),
    NavItem("精算", None),
    NavItem("管理", None),
)


def yuan(fen: int | None) -> str:
    """Integer fen as yuan with thousands separators: 1600000 -> "16,000.00"."""
    if fen is None:
        return "—"
    text = to_yuan(fen)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, frac = text.split(".")
    return f"{sign}{int(whole):,}.{frac}"


def status_label(status: object) -> str:
    value = getattr(status, "value", status)
    return STATUS_LABELS.get(str(value), str(value))


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["yuan"] = yuan
templates.env.filters["percent"] = bp_to_percent
templates.env.filters["status_label"] = status_label
templates.env.globals["nav"] = NAV
templates.env.globals["version"] = __version__
templates.env.globals["product_name"] = "惠民保运营平台"
