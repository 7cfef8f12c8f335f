"""The plan file schema: everything a city's scheme year says, as data.

A plan file is YAML; amounts in it are yuan (as the source documents write them) and
become integer fen here; ratios are written "80%" and become basis points. Every rule
carries ``cite``: the sentence of the source document it comes from, so a reviewer can
check the file against the text. A figure the source does not give is written
``{unknown: "why"}``: the platform keeps the plan but refuses to adjudicate on it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from huiminbao.money import ratio_to_bp, to_fen
from huiminbao.plans.expr import check_syntax


class PlanStatus(StrEnum):
    """How far a plan's figures can be trusted."""

    OFFICIAL = "official"  # taken from an official implementation document or launch release
    FROM_QA = "from_qa"  # taken from a question-and-answer page, not an official text
    ILLUSTRATIVE = "illustrative"  # structure from a source, amounts made up (source lost its digits)


def _fen(value: Any) -> int:
    if (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str | float):
        return to_fen(value)
    raise ValueError(f"expected an amount in yuan, got {value!r}")


def _bp(value: Any) -> int:
    return ratio_to_bp(value)


Fen = Annotated[int, BeforeValidator(_fen)]
"""An amount written in yuan in the file, held as integer fen."""
Bp = Annotated[int, BeforeValidator(_bp)]
"""A ratio written "80%" (or 0.8) in the file, held as basis points."""
Expression = Annotated[str, AfterValidator(check_syntax)]
"""A plan expression; its syntax is checked on parse, its names when the whole plan is known."""


PLAN_ID_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
"""A plan id: also what keeps ids given in URLs out of file paths."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    document: str  # file name under shared/seeds or an external reference
    title: str
    kind: str = "official"  # official | news | from_qa | case_report


class Period(Strict):
    start: date | None = None
    end: date


class Conditional(Strict):
    """A value that applies when a condition holds; the first matching rule wins."""

    when: Expression
    label: str | None = None  # the condition in words, for people (既往症人群)
    cite: str | None = None


class AmountRule(Conditional):
    amount: Fen


class RatioRule(Conditional):
    ratio: Bp


class FactorRule(Conditional):
    """Counting factor: the share of a base that counts, e.g. care outside the city at 50%."""

    factor: Bp


class Exclusion(Conditional):
    reason: str


def _scalar_amount(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    return {"amount": value}


class Amount(Strict):
    """A deductible or limit: a figure, a figure by population, unknown, or a shared pool."""

    amount: Fen | None = None
    unknown: str | None = None  # why the source does not give the figure
    shared: str | None = None  # id of a tier-level shared deductible
    rules: tuple[AmountRule, ...] = ()
    cite: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Amount:
        given = [self.amount is not None, self.unknown is not None, self.shared is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of: amount, unknown (with the reason), shared")
        if self.rules and self.amount is None:
            raise ValueError("rules need a default amount")
        return self


AmountField = Annotated[Amount, BeforeValidator(_scalar_amount)]


def _scalar_ratio(value: Any) -> Any:
    return value if isinstance(value, dict) else {"default": value}


class Ratio(Strict):
    default: Bp
    rules: tuple[RatioRule, ...] = ()
    cite: str | None = None


class Liability(Strict):
    """One benefit: what it pays on (base, filters), how much (deductible, ratio), up to what."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    cite: str | None = None
    when: Expression | None = None  # settlement condition (place, kind of care, institution)
    lines: Expression | None = None  # fee-line condition: the liability pays on matching lines only
    base: Expression  # amount expression over settlement fields, or a sum of fee-line fields with `lines`
    counting: tuple[FactorRule, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    deductible: AmountField
    ratio: Annotated[Ratio, BeforeValidator(_scalar_ratio)]
    limit: AmountField | None = None  # None: only the tier's overall limit applies


class SharedDeductible(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    amount: Fen | None = None
    unknown: str | None = None
    rules: tuple[AmountRule, ...] = ()
    cite: str | None = None


class Premium(Strict):
    amount: Fen
    population: str | None = None  # None: everyone else
    cite: str | None = None


class Tier(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    premiums: tuple[Premium, ...]
    deductibles: tuple[SharedDeductible, ...] = ()
    liabilities: tuple[Liability, ...]
    precedence: tuple[str, ...] = ()  # liability ids; a fee is paid under the first that claims it
    overall_limit: AmountField | None = None
    assign: Expression | None = None  # person condition that puts someone in this tier automatically
    cite: str | None = None

    def ordered(self) -> tuple[Liability, ...]:
        """Liabilities in precedence order (the file's order when no precedence is given)."""
        if not self.precedence:
            return self.liabilities
        by_id = {liab.id: liab for liab in self.liabilities}
        return tuple(by_id[i] for i in self.precedence)


class Eligibility(Strict):
    insutypes: tuple[str, ...]
    admdvs_prefix: str  # the city's area code prefix: only its basic insured may buy
    cite: str | None = None


class WindowException(Strict):
    population: str
    until: date
    cover_from: str = "enrollment"  # cover starts on the enrollment date
    cite: str | None = None


class Newborn(Strict):
    auto_cover_if_both_parents_insured: bool
    cite: str | None = None


class FamilyPurchase(Strict):
    payer: str = "personal_account"
    relations: tuple[str, ...]
    max_persons: int | None = None  # relatives besides the payer
    in_city_insured_required: bool = True
    cite: str | None = None


class Enrollment(Strict):
    window: Period
    exceptions: tuple[WindowException, ...] = ()
    newborn: Newborn | None = None
    family_purchase: FamilyPurchase | None = None
    group_policies: bool = False
    cite: str | None = None


class CatalogRef(Strict):
    file: str  # a catalog file under plans/catalogs
    cite: str | None = None


class Plan(Strict):
    id: str = Field(pattern=PLAN_ID_PATTERN)
    name: str
    city: str
    province: str
    region_code: str = Field(pattern=r"^\d{6}$")
    year: int
    status: PlanStatus
    status_note: str | None = None
    sources: tuple[Source, ...]
    cover: Period
    eligibility: Eligibility
    enrollment: Enrollment
    catalogs: dict[str, CatalogRef] = {}
    tiers: tuple[Tier, ...]
    default_tier: str | None = None
    loss_ratio_floor: Bp | None = None  # annual loss ratio the scheme must reach
    loss_ratio_years: int | None = None  # judged on an average over this many years
    claim_days: int | None = None  # working days to settle an offline claim
    notes: tuple[str, ...] = ()

    @property
    def cover_start(self) -> date:
        assert self.cover.start is not None
        return self.cover.start

    @property
    def cover_end(self) -> date:
        return self.cover.end

    def tier(self, tier_id: str | None = None) -> Tier:
        """The named tier, or the plan's default (the only one, or ``default_tier``)."""
        wanted = tier_id or self.default_tier or self.tiers[0].id
        for t in self.tiers:
            if t.id == wanted:
                return t
        raise KeyError(f"plan {self.id} has no tier {wanted!r} (tiers: {', '.join(t.id for t in self.tiers)})")

    def catalog_codes(self, catalog_id: str) -> list[str]:
        """The entries of one of the plan's catalogs (codes, or ICD-10 ranges as written)."""
        from huiminbao.plans.loader import compiled_plan

        return [e.code for e in compiled_plan(self.id).catalog_files[catalog_id].entries]
