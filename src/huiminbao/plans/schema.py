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

from huiminbao.money import AmountError, ratio_to_bp, to_fen
from huiminbao.plans.expr import check_syntax
from huiminbao.plans.messages import shown


class PlanStatus(StrEnum):
    """How far a plan's figures can be trusted."""

    OFFICIAL = "official"  # taken from an official implementation document (a bureau's 实施方案)
    NEWS = "news"  # taken from a launch article or press release: official figures, second-hand wording
    FROM_QA = "from_qa"  # taken from a question-and-answer page, not an official text
    ILLUSTRATIVE = "illustrative"  # structure from a source, amounts made up (source lost its digits)


class FigureStatus(StrEnum):
    """Where one figure comes from, when it differs from its plan's status."""

    OFFICIAL = "official"  # stated by an official document
    NEWS = "news"  # stated by a news article
    FROM_QA = "from_qa"  # stated by a question-and-answer page
    ASSUMED = "assumed"  # not in the source: carried over (e.g. from the year before), the note says from where
    ILLUSTRATIVE = "illustrative"  # made up to show the structure


class SourceKind(StrEnum):
    OFFICIAL = "official"  # a bureau's document
    NEWS = "news"  # a newspaper or launch article
    FROM_QA = "from_qa"  # a question-and-answer page
    CASE_REPORT = "case_report"  # a report written by a participant (e.g. the operating platform)


def _fen(value: Any) -> int:
    if (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str | float):
        try:
            return to_fen(value)
        except (AmountError, ArithmeticError):  # ArithmeticError: a figure too large for a decimal (1e999999)
            pass
    raise ValueError(f"应为以元为单位、至多两位小数的金额（如 10000 或 1234.50），实际为 {shown(value)}")


def _bp(value: Any) -> int:
    try:
        return ratio_to_bp(value)
    except (AmountError, ArithmeticError):
        raise ValueError(
            f"应为 0 至 100% 的比例，写作百分数（如 80%，至多两位小数）或小数（如 0.8），实际为 {shown(value)}"
        ) from None


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
    kind: SourceKind = SourceKind.OFFICIAL


class Figure(Strict):
    """What every figure may say of itself: where it comes from when that is not the plan's status."""

    status: FigureStatus | None = None  # None: as the plan's status
    note: str | None = None  # for a figure not taken from the source as written: what it rests on

    @model_validator(mode="after")
    def _explained(self) -> Figure:
        if self.status in (FigureStatus.ASSUMED, FigureStatus.ILLUSTRATIVE) and not self.note:
            raise ValueError(f"标为 {self.status.value} 的数字需要 note，说明它依据什么")
        return self


class Period(Figure):
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


class Requirement(Strict):
    """A further condition a stay must meet to be paid under a liability, with the reason if not."""

    when: Expression
    reason: str  # in plain Chinese, why a stay failing it is not paid here
    cite: str | None = None


def _scalar_amount(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    return {"amount": value}


class Amount(Figure):
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
            raise ValueError("amount、unknown（写明原因）、shared 三者应给且只给一个")
        if self.rules and self.amount is None:
            raise ValueError("有 rules 时还需要一个默认的 amount")
        return self


AmountField = Annotated[Amount, BeforeValidator(_scalar_amount)]


def _scalar_ratio(value: Any) -> Any:
    return value if isinstance(value, dict) else {"default": value}


class Ratio(Figure):
    default: Bp
    rules: tuple[RatioRule, ...] = ()
    cite: str | None = None


class Liability(Strict):
    """One benefit: what it pays on (base, filters), how much (deductible, ratio), up to what."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    cite: str | None = None
    when: Expression | None = None  # settlement condition (place, kind of care, institution)
    when_reason: str | None = None  # in plain Chinese, why a stay failing ``when`` is not paid here
    requires: tuple[Requirement, ...] = ()  # further conditions, each with its own reason
    lines: Expression | None = None  # fee-line condition: the liability pays on matching lines only
    base: Expression  # amount expression over settlement fields, or a sum of fee-line fields with `lines`
    counting: tuple[FactorRule, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    deductible: AmountField
    ratio: Annotated[Ratio, BeforeValidator(_scalar_ratio)]
    limit: AmountField | None = None  # None: only the tier's overall limit applies


class SharedDeductible(Figure):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    amount: Fen | None = None
    unknown: str | None = None
    rules: tuple[AmountRule, ...] = ()
    cite: str | None = None


class Premium(Figure):
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


class CoverFrom(StrEnum):
    ENROLLMENT = "enrollment"  # cover starts on the day of enrollment
    BIRTH = "birth"  # cover starts at birth


class WindowException(Strict):
    """People who may enroll outside the window (Liaocheng 2024: that year's veterans, at the counter)."""

    population: str  # a population tag of the bureau's roster
    label: str | None = None  # the population in words (2024年退役军人)
    until: date
    channels: tuple[str, ...] = ()  # purchase channels the exception is open to; empty: all
    cover_from: CoverFrom = CoverFrom.ENROLLMENT
    cite: str | None = None


class BasicInsuranceLink(Strict):
    """Cover that follows the person's basic medical insurance (聊惠保: 同步暂停或终止)."""

    suspend: bool = True  # basic insurance suspended (status 2): cover suspended from that date
    end: bool = True  # basic insurance ended (status 4): cover ends from that date
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


class AfterStart(StrEnum):
    NONE = "none"  # no refund once cover has started
    PRO_RATA = "pro_rata"  # the unused days of the cover period, by day


class Refund(Figure):
    """Cancellation (退保) and what it gives back; the seeds say nothing on it, so plans mark it assumed."""

    before_cover: Bp  # share of the premium refunded when cancelled before cover starts
    after_start: AfterStart = AfterStart.NONE
    after_claim: bool = False  # may a policy on which a claim was paid still be cancelled?
    cite: str | None = None


class Enrollment(Strict):
    window: Period
    waiting_days: int = Field(0, ge=0)  # days after a person's cover starts before care counts (等待期)
    waiting_cite: str | None = None
    exceptions: tuple[WindowException, ...] = ()
    newborn: Newborn | None = None
    family_purchase: FamilyPurchase | None = None
    group_policies: bool = False
    refund: Refund | None = None  # None: a paid policy cannot be cancelled
    cite: str | None = None


class CatalogRef(Strict):
    file: str  # a catalog file under plans/catalogs
    cite: str | None = None


INSURER_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$"
"""An insurer's code: what an adjuster's or finance user's ``insurer_code`` holds (at most 30 characters)."""


class Underwriter(Strict):
    """One insurer of the consortium and its share of the premiums and the claims."""

    insurer_code: str = Field(pattern=INSURER_CODE_PATTERN)
    name: str = Field(min_length=1)  # the insurer's name in Chinese, as its licence writes it
    share: Bp  # written "40%", held as basis points; the members' shares sum to 100%
    lead: bool = False  # the lead insurer (主承保机构); exactly one member is


class Consortium(Figure):
    """The insurers that underwrite the plan together (共保体), one of them the lead (主承保机构). Its
    members decide whose adjusters and finance staff see the plan's settlements. The loader checks
    what one member cannot: codes unique, exactly one lead, shares summing to 100%."""

    members: tuple[Underwriter, ...] = Field(min_length=1)
    cite: str | None = None

    @property
    def lead(self) -> Underwriter | None:
        return next((m for m in self.members if m.lead), None)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(m.insurer_code for m in self.members)


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
    follows_basic_insurance: BasicInsuranceLink | None = None
    loss_ratio_floor: Bp | None = None  # annual loss ratio the scheme must reach
    loss_ratio_years: int | None = Field(None, ge=1)  # judged on an average over this many years
    loss_ratio_cite: str | None = None  # the source's words on the floor and how it is judged
    claim_days: int | None = None  # working days to settle an offline claim
    consortium: Consortium  # who underwrites it: required, so no plan is left that no insurer may see
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
