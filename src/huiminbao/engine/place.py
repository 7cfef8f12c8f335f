"""Whether a plan covers the place of care at all: the one-stop path refuses a record it cannot pay on
anywhere (a 4xx the hospital's system shows at once) rather than answering a payout of nothing.

Place conditions are a liability's ``when`` or ``requires`` that read where the care was given
(``out_of_province``, ``out_of_city``, the filing flag, the care area or the institution). The place is
not covered when no liability's conditions all hold, and at least one liability fails only on place:
the care is of a kind the plan pays for, but not there (Liaocheng 2025: out-of-province care without
filing). A stay no liability would pay for wherever it happened is not a place question.
"""

from __future__ import annotations

from typing import Any

from huiminbao.engine.rules import TierRules
from huiminbao.plans import expr as E

# a place name a condition reads -> the settlement record's field the hospital should look at
PLACE = {
    "out_of_province": "mdtrt_area_admvs",
    "out_of_city": "mdtrt_area_admvs",
    "mdtrt_area_admvs": "mdtrt_area_admvs",
    "out_area_filed": "out_area_filed",
    "fixmedins_code": "fixmedins_code",
}


def uncovered_place(rules: TierRules, context: dict[str, Any]) -> tuple[str, str] | None:
    """``(field, reason)`` when the tier covers this kind of care but not where it was given, else None.
    ``context`` is the record with its derived names (``engine.reference.record_context``)."""
    refused: list[tuple[str, str]] = []
    for x in rules.liabilities:
        failed = [c for c in x.conditions if not E.evaluate(c.when, context, rules.catalogs)]
        if not failed:
            return None
        place = [c for c in failed if c.when.fields & PLACE.keys()]
        if len(place) == len(failed):
            c = place[0]
            name = next(k for k in PLACE if k in c.when.fields)
            refused.append((PLACE[name], c.label or "本方案不保障此就医地点"))
    if not refused:
        return None
    return refused[0][0], "；".join(dict.fromkeys(reason for _, reason in refused))
