"""A plan tier made ready for adjudication: liabilities in precedence order, deductible pools,
compiled conditions and the words that explain them. Shared by the vectorised engine and the
reference adjudicator so both read exactly the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from huiminbao.money import BP
from huiminbao.plans import expr as E
from huiminbao.plans.loader import Compiled, Rule, require_known

EXACT = BP * BP  # exact payouts are held in fen x 10^8 (a counting factor and a ratio, both in bp)
NOT_APPLICABLE = "不符合本责任的给付条件"  # when a plan gives no ``when_reason``


@dataclass(frozen=True)
class LiabilityRules:
    id: str
    name: str
    pool: str  # deductible pool key: the liability's own, or a shared deductible's id
    conditions: tuple[Rule, ...]  # ``when`` and ``requires``, all must hold; label: why a stay failing it is not paid
    lines: E.Expr | None  # fee-line liabilities claim matching lines
    base: E.Expr
    counting: tuple[Rule, ...]
    exclusions: tuple[Rule, ...]  # label: the exclusion's reason
    ratio_default: int
    ratios: tuple[Rule, ...]
    limit: int | None  # fen; None when only the overall limit applies


@dataclass(frozen=True)
class Pool:
    """A deductible: one liability's own, or shared by several (consumed in precedence order)."""

    key: str
    default: int  # fen
    rules: tuple[Rule, ...]  # person conditions giving another amount (first match wins)
    members: tuple[str, ...]  # liability ids in precedence order


@dataclass(frozen=True)
class TierRules:
    plan_id: str
    tier_id: str
    liabilities: tuple[LiabilityRules, ...]  # precedence order
    pools: tuple[Pool, ...]
    overall_limit: int | None
    catalogs: E.Catalogs

    def pool_of(self, liability_id: str) -> Pool:
        return next(p for p in self.pools if liability_id in p.members)


def tier_rules(compiled: Compiled, tier_id: str | None = None) -> TierRules:
    """Build the engine's view of one tier; refuses a tier with figures the source left out."""
    tier = compiled.tier(tier_id)
    spec = tier.spec
    require_known(compiled, spec)
    order = [x.id for x in spec.ordered()]
    shared = {d.id: d for d in spec.deductibles}
    liabilities: list[LiabilityRules] = []
    members: dict[str, list[str]] = {}
    own: dict[str, Pool] = {}
    for lid in order:
        x = tier.liability(lid)
        pool = x.spec.deductible.shared or x.spec.id
        members.setdefault(pool, []).append(x.spec.id)
        if x.spec.deductible.shared is None:
            assert x.spec.deductible.amount is not None
            own[pool] = Pool(pool, x.spec.deductible.amount, x.deductible_rules, (x.spec.id,))
        liabilities.append(
            LiabilityRules(
                id=x.spec.id,
                name=x.spec.name,
                pool=pool,
                conditions=(
                    *([Rule(x.when, 0, x.spec.when_reason or NOT_APPLICABLE)] if x.when is not None else []),
                    *x.requires,
                ),
                lines=x.lines,
                base=x.base,
                counting=x.counting,
                exclusions=x.exclusions,
                ratio_default=x.spec.ratio.default,
                ratios=x.ratios,
                limit=x.spec.limit.amount if x.spec.limit is not None else None,
            )
        )
    pools = []
    for key, ids in members.items():
        if key in shared:
            assert shared[key].amount is not None
            pools.append(Pool(key, shared[key].amount or 0, tier.deductible_rules[key], tuple(ids)))
        else:
            pools.append(own[key])
    overall = spec.overall_limit.amount if spec.overall_limit is not None else None
    return TierRules(
        plan_id=compiled.plan.id,
        tier_id=spec.id,
        liabilities=tuple(liabilities),
        pools=tuple(pools),
        overall_limit=overall,
        catalogs=compiled.catalogs,
    )
