"""The engine's working column names: one prefix, one meaning, each defined here once.

Per liability the suffix is the liability id (``base_inpatient_inscope``); per deductible pool
the pool key; per accumulator the key's column (``_x_d_<pool>``, ``_x_e_<liability>``, ``_x_paid``).
Outcome columns (``base_``, ``counted_``, ``deductible_used_``, ``ratio_``, ``entitled_``,
``payout_`` + liability id) are named after ``accumulate.OUTCOMES``; the rest start with ``_`` and
never leave the engine.
"""

from __future__ import annotations

# --- per fee line (in the candidate-line frame of ``bases``) ---------------------------------------
MATCH = "_match_"  # the line meets the liability's ``lines`` condition
FREE = "_free_"  # it matches and no earlier liability that applies claimed it (counts toward the base shown)
TAKEN = "_taken_"  # it is free and the liability applies: the liability claims it
LINE_BASE = "_linebase_"  # a line liability's base summed over its free lines, per settlement
CLAIMED = "_claimed_"  # ``_claimed_<liability>_<settlement field>``: what its taken lines hold of that field
SETTLEMENT_INSCP = "_setl_inscp"  # the line's settlement's inscp_scp_amt (for the derived in-scope self-pay)
SETTLEMENT_FUNDS = "_setl_funds"  # the line's settlement's fund_pay_sumamt

# --- per settlement and liability ------------------------------------------------------------------
APPLIES = "_applies_"  # covered, not a reversal, and every ``when``/``requires`` condition holds
FACTOR = "_factor_"  # counting factor in bp when the liability counts the base, else 0
DEDUCTIBLE = "_deductible_"  # per pool: the person's annual deductible, fen x bp
# with ``explain`` only, for ``reasons``:
FAILED = "_failed_"  # index of the first condition that does not hold (null: all hold)
EXCLUDED = "_excluded_"  # index of the first exclusion that matches (null: none)
FACTOR_RULE = "_factorrule_"  # index of the counting rule applied (null: the default 100%)
RATIO_RULE = "_ratiorule_"  # index of the ratio rule applied (null: the default ratio)
MISSING = "_missing_"  # the base reads an optional amount the record does not give
LIMITED = "_limited_"  # the liability's annual limit cut this record's entitlement
REASON = "_reason_"  # the line's reason (``reasons.line_reason``)

# --- accumulators ----------------------------------------------------------------------------------
STATE = "_x_"  # the accumulator after this record: _x_d_<pool>, _x_e_<liability>, _x_paid
PRIOR = "_x0_"  # its value before the person's first record here (from ``prior``)
OVER = "_over_"  # how far a capped running sum is above its cap (for the person's running max)
ORIGINAL = "_orig_"  # ``_orig_<outcome>_<liability>``: a reversal's original outcome
ORIGINAL_PRIOR = "_orig_prior"  # the original was adjudicated earlier (its outcome came from prior lines)
