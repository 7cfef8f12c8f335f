"""What is left of a person's deductibles and limits after their accumulators: what a one-stop
settlement answers beside the payout, so the hospital can tell the patient."""

from __future__ import annotations

from typing import Any

from huiminbao.engine.rules import EXACT, TierRules
from huiminbao.money import BP, round_half_up_div
from huiminbao.plans import expr as E


def remaining(rules: TierRules, context: dict[str, Any], state: dict[str, int]) -> dict[str, int]:
    """Fen left of each deductible (``deductible:<pool>``), each liability's annual limit
    (``limit:<liability>``) and the overall limit (``overall_limit``). ``state`` holds the engine's
    accumulators (``ded:`` in fen x 10^4, ``ent:`` exact in fen x 10^8, ``paid`` in fen); ``context``
    the person's fields the deductible rules read (``engine.reference.record_context``)."""
    out: dict[str, int] = {}
    for p in rules.pools:
        amount = next((r.value for r in p.rules if E.evaluate(r.when, context, rules.catalogs)), p.default)
        out[f"deductible:{p.key}"] = max(0, round_half_up_div(amount * BP - state.get(f"ded:{p.key}", 0), BP))
    for x in rules.liabilities:
        if x.limit is not None:
            left = x.limit * EXACT - state.get(f"ent:{x.id}", 0)
            out[f"limit:{x.id}"] = max(0, round_half_up_div(left, EXACT))
    if rules.overall_limit is not None:
        out["overall_limit"] = max(0, rules.overall_limit - state.get("paid", 0))
    return out
