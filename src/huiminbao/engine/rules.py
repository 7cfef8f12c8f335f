"""A plan tier made ready for adjudication: liabilities in precedence order, deductible pools,
compiled conditions. Shared by the vectorised engine and the reference adjudicator so both
read exactly the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from huiminbao.money import BP
from huiminbao.plans import expr as E
from huiminbao.plans.loader import Compiled, require_known
from huiminbao.plans.schema import Tier

EXACT = BP * BP  # exact payouts are held in fen x 10^8 (a counting factor and a ratio, both in bp)


@dataclass(frozen=True)
class Cond:
    expr: E.Expr
    value: int  # a ratio, factor or amount in its unit


@dataclass(frozen=True)
class LiabilityRules:
    id: str
    name: str
    pool: str  # deductible pool key: the liability's own, or a shared deductible's id
    when: E.Expr | None
    lines: E.Expr | None  # fee-line liabilities claim matching lines
    base: E.Expr
    counting: tuple[Cond, ...]
    exclusions: tuple[E.Expr, ...]
    ratio_default: int
    ratios: tuple[Cond, ...]
    limit: int | None  # fen; None when only the overall limit applies


@dataclass(frozen=True)
class Pool:
    """A deductible: one liability's own, or shared by several (consumed in precedence order)."""

    key: str
    default: int  # fen
    rules: tuple[Cond, ...]  # person conditions giving another amount (first match wins)
    members: tuple[str, ...]  # liability ids in precedence order


@dataclass(frozen=True)
class TierRules:
    plan_id: str
    tier_id: str
    liabilities: tuple[LiabilityRules, ...]  # precedence order
    pools: tuple[Pool, ...]
    overall_limit: int | None
    catalogs: E.Catalogs
    illustrative: bool

    def pool_of(self, liability_id: str) -> Pool:
        return next(p for p in self.pools if liability_id in p.members)


def tier_rules(compiled: Compiled, tier_id: str | None = None) -> TierRules:
    """Build the engine's view of one tier; refuses a tier with figures the source left out."""
    plan = compiled.plan
    tier: Tier = plan.tier(tier_id)
    require_known(compiled, tier)
    ti = plan.tiers.index(tier)
    index = {liab.id: i for i, liab in enumerate(tier.liabilities)}

    def ex(path: str) -> E.Expr | None:
        return compiled.exprs.get(path)

    shared = {d.id: d for d in tier.deductibles}
    liabilities: list[LiabilityRules] = []
    pool_members: dict[str, list[str]] = {}
    own: dict[str, Pool] = {}
    for liab in tier.ordered():
        lp = f"tiers[{ti}].liabilities[{index[liab.id]}]"
        pool = liab.deductible.shared or f"{liab.id}"
        pool_members.setdefault(pool, []).append(liab.id)
        if liab.deductible.shared is None:
            assert liab.deductible.amount is not None
            own[pool] = Pool(
                key=pool,
                default=liab.deductible.amount,
                rules=tuple(
                    Cond(compiled.exprs[f"{lp}.deductible.rules[{k}].when"], r.amount)
                    for k, r in enumerate(liab.deductible.rules)
                ),
                members=(liab.id,),
            )
        base = compiled.exprs[f"{lp}.base"]
        liabilities.append(
            LiabilityRules(
                id=liab.id,
                name=liab.name,
                pool=pool,
                when=ex(f"{lp}.when"),
                lines=ex(f"{lp}.lines"),
                base=base,
                counting=tuple(
                    Cond(compiled.exprs[f"{lp}.counting[{k}].when"], r.factor) for k, r in enumerate(liab.counting)
                ),
                exclusions=tuple(compiled.exprs[f"{lp}.exclusions[{k}].when"] for k in range(len(liab.exclusions))),
                ratio_default=liab.ratio.default,
                ratios=tuple(
                    Cond(compiled.exprs[f"{lp}.ratio.rules[{k}].when"], r.ratio) for k, r in enumerate(liab.ratio.rules)
                ),
                limit=liab.limit.amount if liab.limit is not None else None,
            )
        )
    pools: list[Pool] = []
    for key, members in pool_members.items():
        if key in shared:
            d = shared[key]
            di = tier.deductibles.index(d)
            assert d.amount is not None
            pools.append(
                Pool(
                    key=key,
                    default=d.amount,
                    rules=tuple(
                        Cond(compiled.exprs[f"tiers[{ti}].deductibles[{di}].rules[{k}].when"], r.amount)
                        for k, r in enumerate(d.rules)
                    ),
                    members=tuple(members),
                )
            )
        else:
            pools.append(own[key])
    overall = tier.overall_limit.amount if tier.overall_limit is not None else None
    return TierRules(
        plan_id=plan.id,
        tier_id=tier.id,
        liabilities=tuple(liabilities),
        pools=tuple(pools),
        overall_limit=overall,
        catalogs=compiled.catalogs,
        illustrative=plan.status.value == "illustrative",
    )
