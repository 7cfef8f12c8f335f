"""De-identified record-level settlements for actuaries (issue 7: an actuary sees only de-identified data).

An actuary pricing next year's plan needs every claim, not aggregates: how many persons claimed how often,
how much at which age, when each stay was settled and when it reached the platform (the reporting delay an
IBNR estimate is made of). ``build`` gives a plan's settlements (optionally those whose ``setl_time`` falls
in a range of days) one row each with the payout per liability, and one row per liability line; ``export``
writes either as CSV, JSON or Parquet and audits who took what. Nothing in them names a person:

- No ``psn_no``, ID number, name, phone, ``setl_id`` or ``mdtrt_id``. ``person_key`` is HMAC-SM3 under a key
  of its own (``HMB_ACTUARIAL_KEY``, not the ID-number look-up key) of the plan id and ``psn_no``, cut to 20
  hex characters (80 bits): the same person has the same key in every extract of the plan, so persons and
  claims per person can be counted and a later extract lines up with an earlier one; another plan-year gives
  other keys, so years cannot be chained into one person's history; and nobody without the key can test a
  guessed ``psn_no`` (a small, structured space). ``claim_key`` is the same over ``setl_id``, and a refund's
  ``original_key`` is its original's ``claim_key``.
- The person's quasi-identifiers as the roster holds them: ``age_band`` (5 years, at the settlement date; 90
  and over in one band) instead of the birth date, ``sex`` (national code), ``insutype``, and ``insu_area``,
  the insurance area cut to the city (four digits and "00"): a county narrows a person down.
- ``care_place`` (``local``, ``in_province``, ``out_of_province``: where care was given against the insurance
  area, compared on the full codes, which are not given): plans pay differently outside the city.
- ``hospital_level`` (1, 2, 3) where the hospital is registered with one, else ``hospital_code``: a hospital
  is not a person, and pricing reads its level (Liaocheng's specific drugs pay only from county level up);
  once the level is known the code adds little for pricing but, with a day, narrows a stay down further.
- Dates to the day (``begndate``, ``enddate``, ``setl_date``, and ``recorded_date``: the Beijing day the
  platform stored the settlement): an IBNR triangle needs them; times of day are dropped.
- Amounts in integer fen (the cost parts, public funds, the patient's share, the payout and the payout per
  liability), not rounded: they are what is priced. ``encode`` writes yuan with two decimals in CSV and JSON
  and int64 ``*_fen`` columns in Parquet. Whoever holds a hospital's own records could still match a stay by
  day, hospital and amount; that is why extracts go to actuaries only, and each one is audited.

**Small cells** (k-anonymity on the quasi-identifiers, k = ``MIN_CELL``, the supervisors' suppression
threshold of 10 persons): each combination of (``age_band``, ``sex``, ``insu_area``, ``insutype``) in an
extract holds at least k persons, or its rows are generalised step by step until it does: the area dropped
(null), then the age band widened to 20 years ("40-59", "80+"), then sex dropped, and last the age band and
insurance type dropped too. Only the rows of a cell still too small take the next step, so large cells keep
their detail. Rows left with no quasi-identifier at all may be fewer than k: they say nothing of who they
are. The steps run over the whole plan-year first and then over the rows of the requested range, so no row
is ever shown finer than the year allows, and the ``person_key`` that links extracts of different ranges
links nothing finer than the year's own view.

Functions take a keyword-only session; ``build`` and ``summary`` only read, ``export`` adds its audit entry;
none commits.
"""

from __future__ import annotations

import enum
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.enrollment.models import InsuredPerson
from huiminbao.enrollment.service import MIN_CELL
from huiminbao.identity import audit
from huiminbao.identity.models import Hospital
from huiminbao.identity.pii import hash_column
from huiminbao.money import BP
from huiminbao.plans import Plan
from huiminbao.settlement.io import yuan_text
from huiminbao.settlement.models import Settlement, SettlementKind, SettlementLine
from huiminbao.settlement.reader import check_settlements, json_frame
from huiminbao.vocabulary import SETTLEMENT_SCHEMA

KEY_CHARS = 20  # hex characters of a pseudonym: 80 bits, no collision among a nation's insured in practice
BAND, TOP = 5, 90  # age bands of 5 years; 90 and over together
WIDE, WIDE_TOP = 20, 80  # the widened bands
QUASI = ("age_band", "sex", "insu_area", "insutype")
LEVELS = 5  # 0 as is; 1 no area; 2 wide age band; 3 no sex; 4 nothing
BEIJING = timezone(timedelta(hours=8))
AMOUNTS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "fund_pay_sumamt",
    "psn_part_amt",
)
LINE_AMOUNTS = ("base", "deductible_used", "payout")


class Format(enum.StrEnum):
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.JSON: "application/json",
    Format.PARQUET: "application/vnd.apache.parquet",
}


@dataclass(frozen=True)
class Extract:
    """A plan's de-identified settlements (one row each) and their liability lines, money in fen."""

    plan_id: str
    start: date | None
    end: date | None
    liabilities: tuple[str, ...]
    settlements: pl.DataFrame
    lines: pl.DataFrame

    @property
    def persons(self) -> int:
        return self.settlements["person_key"].n_unique()

    @property
    def money(self) -> frozenset[str]:
        """The columns in fen (``*_fen`` in Parquet, yuan text elsewhere)."""
        return frozenset({*AMOUNTS, *LINE_AMOUNTS, *(f"payout_{x}" for x in self.liabilities)})


@dataclass(frozen=True)
class Export:
    """An extract as a file: its bytes, what it holds and how to serve it."""

    data: bytes
    rows: int
    persons: int
    media_type: str
    filename: str


def pseudonyms(values: Iterable[str], *, key: bytes, kind: str, plan_id: str) -> dict[str, str]:
    """Each value's keyed pseudonym within the plan: HMAC-SM3 of kind, plan and value, ``KEY_CHARS`` hex."""
    unique = sorted(set(values))
    digests = pl.from_arrow(hash_column([f"{kind}\x1f{plan_id}\x1f{v}" for v in unique], key))
    assert isinstance(digests, pl.Series)
    return dict(zip(unique, digests.bin.encode("hex").str.slice(0, KEY_CHARS).to_list(), strict=True))


def _band(age: pl.Expr, width: int, top: int) -> pl.Expr:
    low = (age // width) * width
    return pl.when(age >= top).then(pl.lit(f"{top}+")).otherwise(pl.format("{}-{}", low, low + width - 1))


def _quasi(level: pl.Expr) -> list[pl.Expr]:
    """The quasi-identifiers as a row's generalisation level shows them (null: dropped)."""
    return [
        pl.when(level < 2).then(_band(pl.col("_age"), BAND, TOP)).when(level < 4).then(_band(pl.col("_age"), WIDE, WIDE_TOP))
        .alias("age_band"),
        pl.when(level < 3).then(pl.col("_sex")).alias("sex"),
        pl.when(level < 1).then(pl.col("_area").str.slice(0, 4) + "00").alias("insu_area"),
        pl.when(level < 4).then(pl.col("_insutype")).alias("insutype"),
    ]  # fmt: skip


def generalise(frame: pl.DataFrame, k: int = MIN_CELL) -> pl.DataFrame:
    """Raise the level of the rows of each quasi-identifier cell with fewer than ``k`` persons, one step at a
    time, and set the quasi-identifier columns from the levels. Levels only rise, so a frame generalised
    before (the year) is never shown finer. Needs ``person_key``, ``_level``, ``_age``, ``_sex``, ``_area``
    and ``_insutype``."""
    for step in range(1, LEVELS):
        frame = frame.with_columns(_quasi(pl.col("_level")))
        small = pl.col("person_key").n_unique().over(QUASI) < k
        frame = frame.with_columns(
            pl.when(small).then(pl.max_horizontal("_level", pl.lit(step))).otherwise("_level").alias("_level")
        )
    return frame.with_columns(_quasi(pl.col("_level")))


def _where(plan_id: str, start: date | None, end: date | None) -> list[sa.ColumnElement[bool]]:
    conds = [Settlement.plan_id == plan_id]
    if start is not None:
        conds.append(Settlement.setl_time >= datetime.combine(start, time.min))
    if end is not None:
        conds.append(Settlement.setl_time < datetime.combine(end + timedelta(days=1), time.min))
    return conds


def _people(session: Session, plan_id: str, key: bytes) -> pl.DataFrame:
    """Every settlement of the plan-year with its person's pseudonym and raw quasi-identifiers."""
    rows = session.execute(
        sa.select(
            Settlement.id,
            Settlement.setl_time,
            InsuredPerson.psn_no,
            InsuredPerson.gender,
            InsuredPerson.birth_date,
            InsuredPerson.insutype,
            InsuredPerson.insu_admdvs,
        )
        .join(InsuredPerson, InsuredPerson.id == Settlement.person_id)
        .where(Settlement.plan_id == plan_id)
    ).all()
    schema = {
        "id": pl.Int64,
        "setl_time": pl.Datetime("us"),
        "psn_no": pl.Utf8,
        "_sex": pl.Utf8,
        "_birth": pl.Date,
        "_insutype": pl.Utf8,
        "_area": pl.Utf8,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    keys = pseudonyms(frame["psn_no"], key=key, kind="person", plan_id=plan_id)
    birth, day = pl.col("_birth"), pl.col("setl_time").dt.date()
    before = (birth.dt.month() > day.dt.month()) | (
        (birth.dt.month() == day.dt.month()) & (birth.dt.day() > day.dt.day())
    )  # not yet had this year's birthday
    return frame.with_columns(
        pl.col("psn_no").replace_strict(keys, return_dtype=pl.Utf8).alias("person_key"),
        (day.dt.year() - birth.dt.year() - before.cast(pl.Int32)).alias("_age"),
        pl.lit(0).alias("_level"),
    ).drop("psn_no")


def build(
    *, session: Session, plan: Plan, key: bytes, start: date | None = None, end: date | None = None, k: int = MIN_CELL
) -> Extract:
    """The plan's settlements whose ``setl_time`` falls on ``start`` .. ``end`` (both included; None: open),
    de-identified as the module says, and their liability lines."""
    liabilities = tuple(dict.fromkeys(x.id for t in plan.tiers for x in t.ordered()))
    year = generalise(_people(session, plan.id, key), k)
    if start is not None:
        year = year.filter(pl.col("setl_time").dt.date() >= start)
    if end is not None:
        year = year.filter(pl.col("setl_time").dt.date() <= end)
    people = generalise(year, k)
    where = _where(plan.id, start, end)
    detail = _detail(session, where, plan.id, key)
    lines = _lines(session, where)
    paid = lines.group_by("id").agg(
        pl.col("payout").filter(pl.col("liability") == x).sum().alias(f"payout_{x}") for x in liabilities
    )
    rows = (
        people.join(detail, on="id", how="inner")
        .join(paid, on="id", how="left")
        .with_columns(pl.col(f"payout_{x}").fill_null(0) for x in liabilities)
        .with_columns(_care_place().alias("care_place"), pl.col("setl_time").dt.date().alias("setl_date"))
        .sort("setl_date", "claim_key")
    )
    settlements = rows.select(
        "person_key", "claim_key", "original_key", "kind", "tier", "status", "med_type", *QUASI, "care_place",
        "hospital_level", "hospital_code", "begndate", "enddate", "setl_date", "recorded_date", *AMOUNTS,
        "payout", *(f"payout_{x}" for x in liabilities),
    )  # fmt: skip
    per_line = rows.select("id", "person_key", "claim_key", "kind", "tier", *QUASI, "setl_date", "recorded_date").join(
        lines, on="id", how="inner"
    )
    order = {x: i for i, x in enumerate(liabilities)}
    per_line = (
        per_line.with_columns(pl.col("liability").replace_strict(order, default=len(order)).alias("_order"))
        .sort("setl_date", "claim_key", "_order")
        .drop("id", "_order")
    )
    return Extract(plan.id, start, end, liabilities, settlements, per_line)


def _detail(session: Session, where: list[sa.ColumnElement[bool]], plan_id: str, key: bytes) -> pl.DataFrame:
    """What each settlement says beyond the person: from the stored record (read by the one reader) and
    the platform's own columns; identities replaced by pseudonyms."""
    rows = session.execute(
        sa.select(
            Settlement.id,
            Settlement.setl_id,
            Settlement.init_setl_id,
            Settlement.kind,
            Settlement.tier,
            Settlement.status,
            Settlement.payout_fen,
            Settlement.created_at,
            Settlement.hospital_code,
            Hospital.level,
            Settlement.record,
        )
        .outerjoin(Hospital, Hospital.code == Settlement.hospital_code)
        .where(*where)
    ).all()
    base = pl.DataFrame(
        [
            (r.id, r.setl_id, r.init_setl_id, r.kind.value, r.tier, r.status, r.payout_fen,
             r.created_at.astimezone(BEIJING).date(), r.hospital_code, r.level)
            for r in rows
        ],
        schema={
            "id": pl.Int64, "setl_id": pl.Utf8, "init_setl_id": pl.Utf8, "kind": pl.Utf8, "tier": pl.Utf8,
            "status": pl.Utf8, "payout": pl.Int64, "recorded_date": pl.Date, "_hospital": pl.Utf8,
            "hospital_level": pl.Int8,
        },
        orient="row",
    )  # fmt: skip
    wanted = ["setl_id", "med_type", "begndate", "enddate", "mdtrt_area_admvs", *AMOUNTS]
    if rows:
        records = check_settlements(
            json_frame([json.loads(r.record)["setlinfo"] for r in rows]), "已记录的结算", wanted
        )
    else:
        records = pl.DataFrame(schema={c: SETTLEMENT_SCHEMA[c] for c in wanted})
    claims = pseudonyms(base["setl_id"], key=key, kind="claim", plan_id=plan_id)
    return (
        base.join(records.select(wanted), on="setl_id", how="left")
        .with_columns(
            pl.col("setl_id").replace_strict(claims, return_dtype=pl.Utf8).alias("claim_key"),
            pl.col("init_setl_id").replace_strict(claims, default=None, return_dtype=pl.Utf8).alias("original_key"),
            pl.when(pl.col("hospital_level").is_null()).then(pl.col("_hospital")).alias("hospital_code"),
        )
        .drop("setl_id", "init_setl_id", "_hospital")
    )


def _care_place() -> pl.Expr:
    care, home = pl.col("mdtrt_area_admvs"), pl.col("_area")
    return (
        pl.when(care.is_null() | (care == ""))
        .then(None)
        .when(care.str.slice(0, 4) == home.str.slice(0, 4))
        .then(pl.lit("local"))
        .when(care.str.slice(0, 2) == home.str.slice(0, 2))
        .then(pl.lit("in_province"))
        .otherwise(pl.lit("out_of_province"))
    )


def _lines(session: Session, where: list[sa.ColumnElement[bool]]) -> pl.DataFrame:
    """Each settlement's lines in fen: the base, the deductible used (stored in fen x 10^4, rounded half up
    as the explanation shows it) and the payout."""
    rows = session.execute(
        sa.select(
            SettlementLine.settlement_id,
            SettlementLine.liability,
            SettlementLine.base,
            SettlementLine.deductible_used,
            SettlementLine.payout,
        )
        .join(Settlement, Settlement.id == SettlementLine.settlement_id)
        .where(*where)
    ).all()
    schema = {"id": pl.Int64, "liability": pl.Utf8, "base": pl.Int64, "deductible_used": pl.Int64, "payout": pl.Int64}
    used = pl.col("deductible_used")
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        ((used.abs() + BP // 2) // BP * used.sign()).alias("deductible_used")
    )


def encode(found: Extract, fmt: Format, *, lines: bool = False) -> bytes:
    """The settlements (or the lines) as a file: CSV and JSON with yuan text (two decimals), Parquet with
    the amounts as int64 fen in columns named ``*_fen``."""
    frame = found.lines if lines else found.settlements
    money = [c for c in frame.columns if c in found.money]
    if fmt is Format.PARQUET:
        out = io.BytesIO()
        frame.rename({c: f"{c}_fen" for c in money}).write_parquet(out)
        return out.getvalue()
    text = frame.with_columns(yuan_text(c) for c in money)
    if fmt is Format.CSV:
        return text.write_csv().encode("utf-8")
    doc: dict[str, Any] = {
        "plan": found.plan_id,
        "start": found.start,
        "end": found.end,
        "k": MIN_CELL,
        "rows": text.height,
        "persons": found.persons,
        "lines" if lines else "settlements": text.to_dicts(),
    }
    return json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8")


def export(
    *,
    session: Session,
    actor: audit.Actor,
    plan: Plan,
    key: bytes,
    fmt: Format,
    start: date | None = None,
    end: date | None = None,
    lines: bool = False,
) -> Export:
    """Build, encode and audit one extract: who took which plan's data, over which days, how many rows."""
    found = build(session=session, plan=plan, key=key, start=start, end=end)
    rows = (found.lines if lines else found.settlements).height
    what = "lines" if lines else "settlements"
    audit.record(
        session=session, actor=actor, action="actuarial.extract", entity="plan", entity_id=plan.id,
        after={"what": what, "format": fmt.value, "start": start, "end": end, "rows": rows, "persons": found.persons},
    )  # fmt: skip
    days = "".join(f"-{d.isoformat()}" if d else "-" for d in (start, end)) if start or end else ""
    return Export(
        encode(found, fmt, lines=lines), rows, found.persons, MEDIA_TYPES[fmt], f"{plan.id}-{what}{days}.{fmt}"
    )


def settled_plans(*, session: Session) -> set[str]:
    """The plans that have settlements: the ones worth extracting."""
    return set(session.scalars(sa.select(Settlement.plan_id).distinct()))


def summary(*, session: Session, plan_id: str, start: date | None = None, end: date | None = None) -> dict[str, int]:
    """What an extract would hold, counted in SQL for the page: settlements, refunds among them, liability
    lines, persons and the payout in fen."""
    where = _where(plan_id, start, end)
    refund = sa.case((Settlement.kind == SettlementKind.REFUND, 1), else_=0)
    row = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(refund), 0),
            sa.func.count(sa.distinct(Settlement.person_id)),
            sa.func.coalesce(sa.func.sum(Settlement.payout_fen), 0),
        ).where(*where)
    ).one()
    count_lines = sa.select(sa.func.count()).select_from(SettlementLine).join(Settlement).where(*where)
    lines = session.scalar(count_lines) or 0
    return {"settlements": row[0], "refunds": row[1], "lines": lines, "persons": row[2], "payout_fen": row[3]}


__all__ = [
    "Export",
    "Extract",
    "Format",
    "build",
    "encode",
    "export",
    "generalise",
    "pseudonyms",
    "settled_plans",
    "summary",
]
