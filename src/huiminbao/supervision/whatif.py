"""What-if pricing: a candidate plan run against a past year beside the plan that paid it.

An actuary changes a deductible, a ratio, adds a drug liability or a tier, and wants to know before
publishing what the past year would have cost under it: payout by liability, how many persons would
have been paid and how the payout spreads over them (deciles), the loss ratio at today's premium and the
premium per person that would reach the target loss ratio. Both plans run through the one batch engine
(``engine.adjudicate``) on the same frames, read once; this module is pure (frames and compiled plans
in, a ``Comparison`` out) so the CLI, the API and the page give the same figures.

The candidate is priced on the base plan's year: its cover period is moved onto the base plan's
(``priced_on``), otherwise a candidate for next year would find every past record outside its cover
and pay nothing. Today's premium is the base plan's, per person by tier and population as enrollment
charges it (``enrollment.eligibility.premium``); persons are the insured frame's rows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.engine.prepare import age_expr, tier_column
from huiminbao.money import BP, bp_to_percent, round_half_up_div, to_yuan, to_yuan_grouped
from huiminbao.plans import Compiled, load_plan_file
from huiminbao.plans.catalog import Catalog
from huiminbao.plans.loader import load_catalog
from huiminbao.scale.years import Year

DECILES = 10


class WhatIfError(ValueError):
    """A request that cannot be priced; the message (Chinese) says why, ``field`` names the input."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Side:
    """One plan's figures on the year."""

    plan_id: str
    name: str
    year: int
    tier: str | None  # the tier everyone was priced in; None: each person in their own
    payout: dict[str, int]  # liability id -> payout (fen)
    paid: dict[str, int]  # liability id -> persons paid under it
    total: int
    persons_paid: int
    deciles: tuple[int, ...]  # the largest payout of each tenth of the persons paid, smallest first
    loss_ratio: int | None  # basis points of today's premium income; None without premium
    premium_for_target: int | None  # fen per person


@dataclass(frozen=True)
class Comparison:
    base: Side
    candidate: Side
    liabilities: tuple[tuple[str, str], ...]  # (id, name): the base plan's, then those only the candidate has
    settlements: int
    persons: int
    premium_income: int  # fen, at today's premium
    target: int  # basis points
    notes: tuple[str, ...]

    @property
    def premium_per_person(self) -> int:
        return round_half_up_div(self.premium_income, self.persons) if self.persons else 0

    def to_json(self) -> dict[str, Any]:
        """Amounts as yuan strings, ratios as percentages (INTERFACES.md's edge conventions)."""
        b, c = self.base, self.candidate
        return {
            "base": _side_json(b, self.liabilities),
            "candidate": _side_json(c, self.liabilities),
            "change": {
                "payout": to_yuan(c.total - b.total),
                "persons_paid": c.persons_paid - b.persons_paid,
                "loss_ratio": _change_bp(b.loss_ratio, c.loss_ratio),
                "premium_for_target": _change_yuan(b.premium_for_target, c.premium_for_target),
                "liabilities": {
                    x: {
                        "payout": to_yuan(c.payout.get(x, 0) - b.payout.get(x, 0)),
                        "persons": c.paid.get(x, 0) - b.paid.get(x, 0),
                    }
                    for x, _ in self.liabilities
                },
            },
            "liabilities": [{"id": x, "name": name} for x, name in self.liabilities],
            "settlements": self.settlements,
            "persons": self.persons,
            "premium_income": to_yuan(self.premium_income),
            "premium_per_person": to_yuan(self.premium_per_person),
            "target_loss_ratio": bp_to_percent(self.target),
            "notes": list(self.notes),
        }


def _side_json(side: Side, liabilities: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {
        "plan": side.plan_id,
        "name": side.name,
        "year": side.year,
        "tier": side.tier,
        "payout": to_yuan(side.total),
        "persons_paid": side.persons_paid,
        "deciles": [to_yuan(d) for d in side.deciles],
        "loss_ratio": None if side.loss_ratio is None else bp_to_percent(side.loss_ratio),
        "premium_for_target": None if side.premium_for_target is None else to_yuan(side.premium_for_target),
        "liabilities": {
            x: {"payout": to_yuan(side.payout.get(x, 0)), "persons": side.paid.get(x, 0)} for x, _ in liabilities
        },
    }


def _change_bp(a: int | None, b: int | None) -> str | None:
    return None if a is None or b is None else bp_to_percent(b - a)


def _change_yuan(a: int | None, b: int | None) -> str | None:
    return None if a is None or b is None else to_yuan(b - a)


def target_bp(text: str | None, base: Compiled) -> int:
    """The target loss ratio as written ("80%" or "0.8"); by default the base plan's floor."""
    if text is None or not str(text).strip():
        if base.plan.loss_ratio_floor is None:
            raise WhatIfError(
                f"方案 {base.plan.id} 未规定赔付率下限（loss_ratio_floor），请给出目标赔付率", "target_loss_ratio"
            )
        return base.plan.loss_ratio_floor
    raw = str(text).strip()
    try:
        value = Decimal(raw[:-1]) / 100 if raw.endswith("%") else Decimal(raw)
    except InvalidOperation:
        raise WhatIfError(f"目标赔付率“{raw}”应写作 80% 或 0.8", "target_loss_ratio") from None
    bp = value * BP
    if not value.is_finite() or bp != bp.to_integral_value() or bp <= 0:
        raise WhatIfError(f"目标赔付率“{raw}”应大于 0，精确到万分之一（如 80% 或 0.8）", "target_loss_ratio")
    return int(bp)


def load_candidate(path: Path) -> Compiled:
    """A candidate plan file, validated as any plan file (errors name the file and field). A catalog it
    names that lies beside it (a new drug list for a new liability) is used before the platform's."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError, OSError):
        return load_plan_file(path)  # the loader words the error, naming the file
    refs = data.get("catalogs") if isinstance(data, dict) else None
    beside: dict[str, Catalog] = {}
    for ref in (refs or {}).values():
        name = ref.get("file") if isinstance(ref, dict) else None
        if isinstance(name, str) and Path(name).name == name and (path.parent / name).is_file():
            beside[name] = load_catalog(path.parent / name)
    return load_plan_file(path, catalogs=beside)


def priced_on(candidate: Compiled, base: Compiled) -> tuple[Compiled, str | None]:
    """The candidate with the base plan's cover period, and a note saying so when that moved it."""
    have, want = candidate.plan.cover, base.plan.cover
    if (have.start, have.end) == (want.start, want.end):
        return candidate, None
    plan = candidate.plan.model_copy(update={"cover": want})
    note = (
        f"候选方案保障期 {have.start} 至 {have.end} 按基准方案的保障期 {want.start} 至 {want.end} 计算"
        f"（以 {base.plan.year} 年度的数据试算）"
    )
    return dataclasses.replace(candidate, plan=plan), note


def compare(
    base: Compiled,
    candidate: Compiled,
    year: Year | Iterable[Year],
    *,
    tier: str | None = None,
    target: int | None = None,
) -> Comparison:
    """Price the year under the base plan and the candidate, side by side. The year is one ``Year`` or its
    parts by person (``scale.years.year_parts``): every figure is a sum over persons and a person is in
    one part, so the parts' sums add up to the whole year's to the fen (the whole year is one part)."""
    candidate, moved = priced_on(candidate, base)
    notes = [moved] if moved else []
    goal = target if target is not None else target_bp(None, base)
    base_tier = cand_tier = None
    if tier is not None:
        if tier not in {t.id for t in candidate.plan.tiers}:
            have = "、".join(t.id for t in candidate.plan.tiers)
            raise WhatIfError(f"候选方案 {candidate.plan.id} 没有档次 {tier}（有：{have}）", "tier")
        cand_tier = tier
        base_tier = tier if tier in {t.id for t in base.plan.tiers} else base.plan.tier().id
        if base_tier != tier:
            notes.append(f"基准方案没有档次 {tier}，按其默认档次 {base_tier} 计算")
    plans = ((base, base_tier), (candidate, cand_tier))
    runs: tuple[list[_Run], list[_Run]] = ([], [])
    income = persons = settlements = 0
    for part in [year] if isinstance(year, Year) else year:
        persons += part.insured.height
        settlements += part.settlements.height
        income += _premium_income(base, _in_tier(part.insured, base_tier))
        for done, (plan, t) in zip(runs, plans, strict=True):
            done.append(_run(plan, part, _in_tier(part.insured, t)))
    sides = [_side(plan, t, done, income, persons, goal) for done, (plan, t) in zip(runs, plans, strict=True)]
    names = {x.spec.id: x.spec.name for p in (base, candidate) for t in reversed(p.tiers) for x in t.liabilities}
    order = [x.spec.id for p in (base, candidate) for t in p.tiers for x in t.liabilities]
    liabilities = tuple((x, names[x]) for x in dict.fromkeys(order))
    if not income:
        notes.append("参保人保费合计为零，赔付率与所需保费无法计算")
    return Comparison(
        base=sides[0],
        candidate=sides[1],
        liabilities=liabilities,
        settlements=settlements,
        persons=persons,
        premium_income=income,
        target=goal,
        notes=tuple(notes),
    )


def _in_tier(insured: pl.DataFrame, tier: str | None) -> pl.DataFrame:
    """Everyone in one tier (the question "what if all had tier T"), or as the data has them."""
    return insured if tier is None else insured.with_columns(pl.lit(tier, pl.Utf8).alias("tier"))


def _premium_income(base: Compiled, insured: pl.DataFrame) -> int:
    """Today's premium of every insured person: the tier the base plan puts them in, the first
    population price that applies, else everyone's price (``enrollment.eligibility.premium``)."""
    if not insured.height:
        return 0
    price: Any = pl.when(pl.lit(False)).then(pl.lit(0, pl.Int64))
    tier = pl.col("_tier")
    for t in base.plan.tiers:
        for p in t.premiums:
            if p.population is not None:
                price = price.when((tier == t.id) & pl.col("populations").list.contains(p.population)).then(p.amount)
        everyone = next((p.amount for p in t.premiums if p.population is None), t.premiums[0].amount)
        price = price.when(tier == t.id).then(everyone)
    people = insured.with_columns(age_expr(pl.col("birth_date"), base.plan.cover_start).alias("age"))
    priced = people.select(tier_column(base).alias("_tier"), "populations").select(price.otherwise(None).alias("p"))
    if priced["p"].null_count():
        have = "、".join(t.id for t in base.plan.tiers)
        raise WhatIfError(f"参保人的档次（tier）不是基准方案 {base.plan.id} 的档次（有：{have}）", "tier")
    return int(priced["p"].sum())


@dataclass(frozen=True)
class _Run:
    """One plan's sums over the persons of one part: what the parts add up."""

    by_liability: pl.DataFrame  # liability, payout (fen), persons paid under it
    per_person: pl.Series  # each paid person's year total (fen), positive only
    total: int


def _run(plan: Compiled, year: Year, insured: pl.DataFrame) -> _Run:
    result = adjudicate(plan, year.settlements, insured, year.fee_lines, all_lines=False)
    per_person = result.settlements.group_by("psn_no").agg(pl.col("payout").sum()).filter(pl.col("payout") > 0)
    by_liability = (
        result.lines.group_by("psn_no", "liability")
        .agg(pl.col("payout").sum())
        .group_by("liability")
        .agg(pl.col("payout").sum(), (pl.col("payout") > 0).sum().cast(pl.Int64).alias("persons"))
    )
    return _Run(by_liability, per_person["payout"], int(result.settlements["payout"].sum()))


def _side(plan: Compiled, tier: str | None, runs: list[_Run], income: int, persons: int, target: int) -> Side:
    by_liability = (
        pl.concat([r.by_liability for r in runs]).group_by("liability").agg(pl.col("payout", "persons").sum())
    )
    per_person = pl.concat([r.per_person for r in runs]).sort()
    total = sum(r.total for r in runs)
    n = per_person.len()
    deciles = tuple(int(per_person[math.ceil(k * n / DECILES) - 1]) for k in range(1, DECILES + 1)) if n else ()
    return Side(
        plan_id=plan.plan.id,
        name=plan.plan.name,
        year=plan.plan.year,
        tier=tier,
        payout={r["liability"]: int(r["payout"]) for r in by_liability.iter_rows(named=True)},
        paid={r["liability"]: int(r["persons"]) for r in by_liability.iter_rows(named=True)},
        total=total,
        persons_paid=n,
        deciles=deciles,
        loss_ratio=round_half_up_div(total * BP, income) if income else None,
        premium_for_target=round_half_up_div(total * BP, target * persons) if persons else None,
    )


def _yuan(fen: int | None, signed: bool = False) -> str:
    if fen is None:
        return "—"
    return ("+" if signed and fen > 0 else "") + to_yuan_grouped(fen)


def _count(n: int, signed: bool = False) -> str:
    return ("+" if signed and n > 0 else "") + f"{n:,}"


def _diff(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else b - a


def rows(c: Comparison) -> list[tuple[str, str, str, str]]:
    """The side-by-side table as people read it (figure, base, candidate, change), for the CLI and the page."""
    b, k = c.base, c.candidate
    out = []
    for x, name in c.liabilities:
        pb, pk = b.payout.get(x, 0), k.payout.get(x, 0)
        out.append((f"{name}（元）", _yuan(pb), _yuan(pk), _yuan(pk - pb, True)))
        nb, nk = b.paid.get(x, 0), k.paid.get(x, 0)
        out.append((f"{name}（获赔人数）", _count(nb), _count(nk), _count(nk - nb, True)))
    out.append(("赔付合计（元）", _yuan(b.total), _yuan(k.total), _yuan(k.total - b.total, True)))
    out.append(
        ("获赔人数", _count(b.persons_paid), _count(k.persons_paid), _count(k.persons_paid - b.persons_paid, True))
    )
    lr = _diff(b.loss_ratio, k.loss_ratio)
    points = "—" if lr is None else ("+" if lr > 0 else "") + bp_to_percent(lr).removesuffix("%") + " 个百分点"
    shown = [("—" if r is None else bp_to_percent(r)) for r in (b.loss_ratio, k.loss_ratio)]
    out.append(("赔付率（现行保费）", *shown, points))
    need = _diff(b.premium_for_target, k.premium_for_target)
    out.append(
        (
            f"赔付率 {bp_to_percent(c.target)} 所需人均保费（元）",
            _yuan(b.premium_for_target),
            _yuan(k.premium_for_target),
            _yuan(need, True),
        )
    )
    return out


def decile_rows(c: Comparison) -> list[tuple[str, str, str]]:
    """Each tenth of the persons paid and the largest payout in it, base and candidate."""
    b, k = c.base.deciles, c.candidate.deciles
    return [
        (f"{(i + 1) * 100 // DECILES}%", _yuan(b[i]) if b else "—", _yuan(k[i]) if k else "—") for i in range(DECILES)
    ]


__all__ = [
    "Comparison",
    "Side",
    "WhatIfError",
    "Year",
    "compare",
    "decile_rows",
    "load_candidate",
    "priced_on",
    "rows",
    "target_bp",
]
