"""The one record reader: settlement records, fee lines and persons, whatever they come in.

A batch file (CSV or Parquet) and a JSON case (``hmb estimate``, the API, the 试算 page) go
through the same conversion and the same list of checks: a JSON case's settlements become a
one-row-per-settlement frame of the values as given, exactly like a CSV file's text. So an
estimate and a batch judge the same stay the same way.

Checks, in this order (the first that fails names its first record and the field, in Chinese,
by the field's label and national name; nothing is returned half-read): unknown fields (names
that are neither this platform's nor the national platform's), required fields, amounts (yuan
with at most two decimals, within 99,999,999.99), dates, codes (kind of care, insurance type,
charge level, refund flag, ICD-10, area codes), signs (a refund carries negated amounts and names
its original), the platform's identities (cost parts add up to the total, funds to the fund
total, the person's part to account plus cash), dates in order.

The person's part (``psn_part_amt``, ``acct_pay``, ``psn_cash_pay``) is optional in both paths:
the national record always carries it, but the bureau's daily file for hospitals not yet
connected and a resident's 试算 may not, and no liability reads it; when given it must add up.
Missing funds count as zero; ``fund_pay_sumamt`` must still equal their sum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import polars as pl

from huiminbao.engine.run import collect
from huiminbao.identity.certno import CertNoError, validate_certno
from huiminbao.money import MAX_FEN, to_yuan
from huiminbao.vocabulary import (
    CHRGITM_LVS,
    COST_PARTS,
    FEE_LINE_AMOUNTS,
    FEE_LINE_CODES,
    FEE_LINE_SCHEMA,
    FUND_FIELDS,
    INSU_STATUSES,
    INSURED_OPTIONAL,
    INSURED_SCHEMA,
    INSUTYPES_KNOWN,
    MED_TYPES,
    OPTIONAL_AMOUNTS,
    REFUND_FLAG,
    SETTLEMENT_AMOUNTS,
    SETTLEMENT_SCHEMA,
    label,
)

YUAN = r"^-?\d+(\.\d{1,2})?$"
ICD10 = r"^[A-Z]\d{2}(\.?[0-9A-Z]{1,4})?$"
AREA = r"^\d{6}$"
PART = ("psn_part_amt", "acct_pay", "psn_cash_pay")  # the person's part: optional, checked when given
REQUIRED_AMOUNTS = ("medfee_sumamt", *COST_PARTS)
REQUIRED_TEXT = ("setl_id", "psn_no", "med_type", "begndate", "setl_time")
LIST_COLUMNS = ("diseases", "preexisting", "populations")
# Names of the national platform's setlinfo (and the bureau's roster) that this platform does not use:
# accepted and ignored. Any other unknown name is refused, since it is most likely a misspelt field.
NATIONAL_UNUSED = frozenset(
    [
        "psn_name",
        "phone",  # the roster's optional mobile (enrollment keeps it; adjudication has no use for it)
        "psn_cert_type",
        "certno",
        "gend",
        "naty",
        "brdy",
        "age",
        "psn_type",
        "cvlserv_flag",
        "begntime",
        "endtime",
        "medins_setl_id",
        "clr_optins",
        "clr_way",
        "clr_type",
        "hosp_part_amt",
        "balc",
        "pool_prop_selfpay",
        "hifdm_pay",
        "acct_mulaid_pay",
        "cvlserv_flag",
        "dise_no",
        "dise_name",
        "dise_codg",
        "setl_type",
        "mdtrt_cert_type",
        "emp_name",
        "emp_no",
        "insu_type_name",
        "med_type_name",
        "fixmedins_name",
        "fixmedins_poolarea",
        "medins_type",
        "medins_lv",
        "refd_setl_flag_name",
        "opter",
        "opter_name",
        "opt_time",
        "psn_idet_type",
        "inhosp_stas",
        "mid_setl_flag",
        "ipt_otp_no",
        "mdtrt_id_name",
        "crt_dedc",
        "lmt_amt",
        "memo",
        "feedetl_sn_name",
        "bilg_dept_codg",
        "bilg_dept_name",
        "bilg_dr_codg",
        "bilg_dr_name",
        "pric",
        "pric_uplmt_amt",
        "cnt",
        "selfpay_prop",
        "rx_circ_flag",
        "med_list_name",
        "hilist_code",
        "hilist_name",
        "list_type",
        "chrgitm_lv_name",
        "med_chrgitm_type_name",
        "fee_ocur_time",
        "rxno",
        "spec",
        "dosform_name",
        "drord_no",
    ]
)
_SETTLEMENT_KNOWN = set(SETTLEMENT_SCHEMA) | {"feedetl", "certno"}
_LINE_KNOWN = set(FEE_LINE_SCHEMA)
ALIASES = {"birth_date": "brdy", "insu_status": "psn_insu_stas", "insu_status_date": "psn_insu_date"}
"""The bureau's roster names for what the engine calls otherwise."""
_PERSON_KNOWN = set(INSURED_SCHEMA) | set(INSURED_OPTIONAL) | set(ALIASES.values()) | {"certno", "insu_admdvs"}

Check = tuple[str, pl.Expr, Callable[[dict[str, Any]], str]]
DUPLICATE_ID = pl.col("_id").is_duplicated()
"""The one check that needs the whole column (``_checked`` judges it on the result)."""
"""(field, condition that marks a bad record, the message for such a record's raw values)."""


class RecordError(ValueError):
    """A record that cannot be accepted: says which record and which field, in Chinese."""

    def __init__(self, record: str, field: str, message: str):
        self.record, self.field = record, field
        super().__init__(f"{record}：{message}")


# --- conversions -------------------------------------------------------------------------------


def _text(name: str) -> pl.Expr:
    """A column as text; text columns were stripped of surrounding spaces once, by ``_stripped``."""
    return pl.col(name).cast(pl.Utf8)


def _stripped(raw: pl.LazyFrame, names: Iterable[str] | None = None) -> pl.LazyFrame:
    """Surrounding spaces off every text column (or those of ``names``), once (a CSV cell " 21" is the
    code "21")."""
    if names is None:
        return raw.with_columns(pl.col(pl.Utf8).str.strip_chars())
    text = [c for c in names if raw.collect_schema().get(c) == pl.Utf8]
    return raw.with_columns(pl.col(text).str.strip_chars()) if text else raw


def _blank(name: str, dtype: pl.DataType | None = None) -> pl.Expr:
    """No value: null, or (for text) empty. A typed column is never cast to text for this."""
    if dtype is not None and dtype != pl.Utf8:
        return pl.col(name).is_null()
    t = _text(name)
    return t.is_null() | (t == "")


def _fen(name: str, dtype: pl.DataType) -> pl.Expr:
    """Yuan text or a decimal column as int fen; null where blank or not an amount (checked apart)."""
    if isinstance(dtype, pl.Decimal) and dtype.scale == 2:  # already fen inside: no decimal arithmetic
        return pl.col(name).to_physical().cast(pl.Int64, strict=False)
    if isinstance(dtype, pl.Decimal):
        return (pl.col(name).cast(pl.Decimal(20, 2)) * 100).cast(pl.Int64, strict=False)
    if dtype.is_integer():
        return (pl.col(name).cast(pl.Int64) * 100).alias(name)
    ok = _text(name).str.contains(YUAN) & (_text(name).str.len_chars() <= 30)
    fen = (_text(name).cast(pl.Decimal(38, 2), strict=False) * 100).cast(pl.Int64, strict=False)
    return pl.when(ok).then(fen).otherwise(None)


def _amount_checks(schema: pl.Schema, names: Iterable[str], required: Iterable[str]) -> list[Check]:
    checks: list[Check] = []
    for c in names:
        if c not in schema:
            continue
        dtype = schema[c]
        if dtype.is_float():
            checks.append(
                (c, pl.lit(True), lambda r, c=c: f"{label(c)} 是浮点数列，会丢失分：请以文本或定点小数给出金额")
            )
            continue
        if c in required:
            checks.append((c, _blank(c, dtype), lambda r, c=c: f"缺少{label(c)}"))
        if dtype == pl.Utf8:
            bad = ~_blank(c) & ~_text(c).str.contains(YUAN)
            checks.append((c, bad, lambda r, c=c: f"{label(c)}“{r[c]}”不是以元为单位、最多两位小数的金额"))
        given = ~_blank(c, dtype) & (_text(c).str.contains(YUAN) if dtype == pl.Utf8 else pl.lit(True))
        fen = pl.col(f"_fen_{c}")  # made once by the caller's typed view
        checks.append(
            (
                c,
                given & (fen.is_null() | (fen.abs() > MAX_FEN)),
                lambda r, c=c: f"{label(c)} {r[c]} 超出合理范围（一笔结算至多 {to_yuan(MAX_FEN)} 元）",
            )
        )
    return checks


def _date(name: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Utf8:
        return _text(name).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
        return pl.col(name).dt.date()
    return pl.col(name).cast(pl.Date, strict=False)


def _datetime(name: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Utf8:
        text = _text(name).str.replace("T", " ", literal=True)
        full = text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
        day = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
        return pl.coalesce(full, day)
    return pl.col(name).cast(pl.Datetime("us"), strict=False)


def _codes(name: str, dtype: pl.DataType) -> pl.Expr:
    """A list of codes: a list column as it is, text split on ';' or ',' (one rule for every source)."""
    if isinstance(dtype, pl.List):
        return pl.col(name).cast(pl.List(pl.Utf8)).fill_null([])
    parts = _text(name).fill_null("").str.replace_all(",", ";", literal=True).str.replace_all("，", ";", literal=True)
    return parts.str.split(";").list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))


def _flag(name: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return pl.col(name).fill_null(False)
    return _text(name).str.to_lowercase().is_in(["1", "true", "t", "yes", "y", "是"]).fill_null(False)


# --- the first failure -------------------------------------------------------------------------


def _checked(
    frame: pl.LazyFrame, checks: list[Check], record: Callable[[dict[str, Any]], str], out: list[pl.Expr]
) -> pl.DataFrame:
    """The ``out`` columns of ``frame`` in one pass that also checks every record; only when some check
    fails is the frame read again, by ``_first_failure``, to name the first failure as it always has.

    A per-row flag (any check fails) is kept beside the output instead of one ``any`` per check over a
    second full pass: a year's file is read and converted once (the two passes cost 2.5x at 1 M records).
    Duplicate ids need the whole column, so they are judged on the result."""
    rowwise = [bad.fill_null(False) for _, bad, _ in checks if bad is not DUPLICATE_ID]
    ok = ~pl.any_horizontal(pl.lit(False), *rowwise)
    got = collect(frame.select(*out, pl.col("_id"), ok.alias("_ok")))
    unique = not any(bad is DUPLICATE_ID for _, bad, _ in checks) or _unique(got["_id"])
    if got["_ok"].all() and unique:
        return got.drop("_id", "_ok")
    del got
    _first_failure(frame, checks, record)
    raise AssertionError("a record failed a check that the second pass did not find")  # pragma: no cover


def check_unique_setl_ids(ids: pl.Series) -> None:
    """Refuse a ``setl_id`` given twice, as ``check_settlements`` refuses it, over ids checked in batches."""
    if not _unique(ids):
        twice = ids.filter(ids.is_duplicated())[0]
        raise RecordError(f"结算 {twice}", "setl_id", f"{label('setl_id')}在同一批记录中重复出现")


def _unique(ids: pl.Series) -> bool:
    """No id twice. Files in id order (a hospital's or the bureau's export usually is) are judged by
    comparing neighbours, which is about 20 times cheaper than hashing every id."""
    if ids.is_sorted():
        return not (ids == ids.shift(1)).any()
    return ids.n_unique() == ids.len()


def _first_failure(frame: pl.LazyFrame, checks: list[Check], record: Callable[[dict[str, Any]], str]) -> None:
    """Evaluate every check in one pass (only flags are kept); raise for the first that fails, in list
    order, at its first record."""
    if not checks:
        return
    flags = frame.select(*[bad.fill_null(False).any().alias(str(k)) for k, (_, bad, _) in enumerate(checks)])
    for hit, (field, bad, message) in zip(collect(flags, large="streaming").row(0), checks, strict=True):
        if hit:
            row = frame.filter(bad.fill_null(False)).head(1).pipe(collect).row(0, named=True)
            raise RecordError(record(row), field, message(row))


def _unknown(columns: Iterable[str], known: set[str]) -> list[Check]:
    """A field that is neither this platform's nor the national platform's is most likely misspelt:
    refused at the first record that gives it a value."""
    return [
        (c, ~_blank(c), lambda r, c=c: f"未知字段“{c}”：不是国家医保平台的字段名（是否拼写有误？）")
        for c in columns
        if c not in known and c not in NATIONAL_UNUSED and not c.startswith("_")
    ]


def _missing_columns(schema: pl.Schema, required: Iterable[str], where: str) -> None:
    for c in required:
        if c not in schema:
            raise RecordError(where, c, f"缺少必需的字段 {label(c)}")


# --- settlements -------------------------------------------------------------------------------


def _yuan_of(row: Mapping[str, Any], name: str) -> str:
    value = row.get(f"_fen_{name}")
    return to_yuan(value) if value is not None else str(row.get(name))


def check_settlements(raw: pl.LazyFrame, where: str, columns: list[str] | None = None) -> pl.DataFrame:
    """Convert and check settlement records (text as given, or typed Parquet columns); return them in
    fen with the engine's schema (only ``columns`` when given), or raise for the first bad record."""
    raw = _stripped(raw)
    schema = raw.collect_schema()
    _missing_columns(schema, (*REQUIRED_TEXT, *REQUIRED_AMOUNTS), where)
    amounts = [c for c in (*SETTLEMENT_AMOUNTS, *OPTIONAL_AMOUNTS) if c in schema]
    lf = raw.with_columns(pl.col("setl_id").cast(pl.Utf8).alias("_id"))
    checks = _unknown(schema.names(), _SETTLEMENT_KNOWN) + _amount_checks(schema, amounts, REQUIRED_AMOUNTS)
    checks += [(c, _blank(c), lambda r, c=c: f"缺少{label(c)}") for c in ("setl_id", "psn_no", "med_type")]
    for c in ("begndate", "enddate"):
        if c in schema:
            required = c == "begndate"
            bad = _date(c, schema[c]).is_null() & (pl.lit(required) | ~_blank(c, schema[c]))
            checks.append((c, bad, lambda r, c=c: f"{label(c)}“{r[c]}”不是日期（YYYY-MM-DD）"))
    checks.append(
        (
            "setl_time",
            _datetime("setl_time", schema["setl_time"]).is_null(),
            lambda r: f"{label('setl_time')}“{r['setl_time']}”不是时间（YYYY-MM-DD HH:MM:SS）",
        )
    )
    checks += _code_checks(schema)
    # typed view for the remaining checks
    typed = lf.with_columns(
        *[_fen(c, schema[c]).alias(f"_fen_{c}") for c in amounts],
        _date("begndate", schema["begndate"]).alias("_begin"),
        (_date("enddate", schema["enddate"]) if "enddate" in schema else pl.lit(None, pl.Date)).alias("_end"),
        _datetime("setl_time", schema["setl_time"]).alias("_time"),
        ((_text("refd_setl_flag") == REFUND_FLAG) if "refd_setl_flag" in schema else pl.lit(False))
        .fill_null(False)
        .alias("_refund"),
    )
    fen = {c: (pl.col(f"_fen_{c}") if c in amounts else pl.lit(None, pl.Int64)) for c in (*SETTLEMENT_AMOUNTS,)}
    zero = {c: e.fill_null(0) for c, e in fen.items()}
    refund = pl.col("_refund")
    checks += [
        (
            c,
            pl.when(refund).then(zero[c] > 0).otherwise(zero[c] < 0),
            lambda r, c=c: (
                f"退费结算（退费结算标志为 1）的金额应为负数，{label(c)} 为 {_yuan_of(r, c)}"
                if r["_refund"]
                else f"{label(c)} 为负数 {_yuan_of(r, c)}：普通结算的金额不能为负"
            ),
        )
        for c in SETTLEMENT_AMOUNTS
        if c in amounts
    ]
    init = _blank("init_setl_id", schema["init_setl_id"]) if "init_setl_id" in schema else pl.lit(True)
    checks.append(("init_setl_id", refund & init, lambda r: f"退费结算必须给出{label('init_setl_id')}"))
    checks.append(("setl_id", DUPLICATE_ID, lambda r: f"{label('setl_id')}在同一批记录中重复出现"))
    parts = pl.sum_horizontal(*[zero[c] for c in COST_PARTS])
    funds = pl.sum_horizontal(*[zero[c] for c in FUND_FIELDS])
    checks += [
        (
            "medfee_sumamt",
            zero["medfee_sumamt"] != parts,
            lambda r: (
                f"{label('medfee_sumamt')} {_yuan_of(r, 'medfee_sumamt')} 应等于"
                f"全自费金额、超限价自费费用、先行自付金额与符合政策范围金额之和"
            ),
        ),
        (
            "fund_pay_sumamt",
            zero["fund_pay_sumamt"] != funds,
            lambda r: f"{label('fund_pay_sumamt')} {_yuan_of(r, 'fund_pay_sumamt')} 应等于各项基金支出之和",
        ),
    ]
    if "psn_part_amt" in amounts:
        checks.append(
            (
                "psn_part_amt",
                fen["psn_part_amt"].is_not_null()
                & (fen["psn_part_amt"] != zero["medfee_sumamt"] - zero["fund_pay_sumamt"]),
                lambda r: f"{label('psn_part_amt')} {_yuan_of(r, 'psn_part_amt')} 应等于 医疗费总额 − 基金支付总额",
            )
        )
        given = fen["acct_pay"].is_not_null() | fen["psn_cash_pay"].is_not_null()
        checks.append(
            (
                "psn_part_amt",
                fen["psn_part_amt"].is_not_null()
                & given
                & (fen["psn_part_amt"] != zero["acct_pay"] + zero["psn_cash_pay"]),
                lambda r: f"{label('psn_part_amt')} {_yuan_of(r, 'psn_part_amt')} 应等于 个人账户支出 + 个人现金支出",
            )
        )
    checks += [
        (
            "enddate",
            pl.col("_end") < pl.col("_begin"),
            lambda r: f"{label('enddate')} {r['enddate']} 早于{label('begndate')} {r['begndate']}",
        ),
        (
            "setl_time",
            pl.col("_time").dt.date() < pl.col("_begin"),
            lambda r: f"{label('setl_time')} {r['setl_time']} 早于{label('begndate')} {r['begndate']}",
        ),
    ]
    out = {e.meta.output_name(): e for e in _settlement_columns(schema, amounts)}
    return _checked(typed, checks, lambda r: f"结算 {r['_id']}", [out[c] for c in columns or SETTLEMENT_SCHEMA])


def _code_checks(schema: pl.Schema) -> list[Check]:
    checks: list[Check] = []
    med = _text("med_type")
    known_med = med.str.contains(r"^\d{2}(\d{2}){0,2}$") & med.str.slice(0, 2).is_in(list(MED_TYPES))
    checks.append(
        (
            "med_type",
            ~_blank("med_type") & ~known_med,
            lambda r: f"{label('med_type')}“{r['med_type']}”不是国家医保平台的医疗类别代码",
        )
    )
    if "insutype" in schema:
        bad = ~_blank("insutype") & ~_text("insutype").is_in(list(INSUTYPES_KNOWN))
        checks.append(("insutype", bad, lambda r: f"{label('insutype')}“{r['insutype']}”不是国家医保平台的险种代码"))
    if "refd_setl_flag" in schema:
        bad = ~_blank("refd_setl_flag") & ~_text("refd_setl_flag").is_in(["0", "1"])
        checks.append(("refd_setl_flag", bad, lambda r: f"{label('refd_setl_flag')}“{r['refd_setl_flag']}”应为 0 或 1"))
    for c in ("insu_admdvs", "mdtrt_area_admvs"):
        if c in schema:
            bad = ~_blank(c) & ~_text(c).str.contains(AREA)
            checks.append((c, bad, lambda r, c=c: f"{label(c)}“{r[c]}”不是 6 位医保区划代码"))
    if "diseases" in schema:
        checks.append(_icd_check("diseases", schema["diseases"]))
    return checks


def _icd_check(name: str, dtype: pl.DataType) -> Check:
    codes = _codes(name, dtype)
    bad = codes.list.eval(~pl.element().str.to_uppercase().str.contains(ICD10)).list.any()

    def message(r: dict[str, Any]) -> str:
        value = r[name]
        items = value if isinstance(value, list) else str(value).replace("，", ";").replace(",", ";").split(";")
        wrong = next(
            (x.strip() for x in items if x and not pl.Series([x.strip().upper()]).str.contains(ICD10)[0]), value
        )
        return f"{label(name)}中的“{wrong}”不是 ICD-10 编码（如 C34.1）"

    return (name, bad, message)


def _settlement_columns(schema: pl.Schema, amounts: list[str]) -> list[pl.Expr]:
    out: list[pl.Expr] = []
    for name, dtype in SETTLEMENT_SCHEMA.items():
        if name in amounts:
            fen = pl.col(f"_fen_{name}")
            out.append((fen if name in OPTIONAL_AMOUNTS or name in PART else fen.fill_null(0)).alias(name))
        elif name in SETTLEMENT_AMOUNTS:
            out.append(pl.lit(None if name in PART else 0, pl.Int64).alias(name))
        elif name in OPTIONAL_AMOUNTS:
            out.append(pl.lit(None, pl.Int64).alias(name))
        elif name == "begndate":
            out.append(pl.col("_begin").alias(name))
        elif name == "enddate":
            out.append(pl.coalesce("_end", "_begin").alias(name))
        elif name == "setl_time":
            out.append(pl.col("_time").alias(name))
        elif name not in schema:
            default: Any = [] if name == "diseases" else (False if name == "out_area_filed" else None)
            out.append(pl.lit("0" if name == "refd_setl_flag" else default, dtype=dtype).alias(name))
        elif name == "diseases":
            out.append(_codes(name, schema[name]).list.eval(pl.element().str.to_uppercase()).alias(name))
        elif name == "out_area_filed":
            out.append(_flag(name, schema[name]).alias(name))
        elif name == "refd_setl_flag":
            out.append(_text(name).fill_null("0").replace("", "0").alias(name))
        else:
            out.append(pl.when(_blank(name)).then(None).otherwise(_text(name)).alias(name))
    return out


# --- fee lines ---------------------------------------------------------------------------------


def check_fee_lines(raw: pl.LazyFrame, where: str, keep: pl.Expr | None = None) -> pl.DataFrame:
    """Convert and check fee lines; ``keep`` (a condition on the code columns, such as the plan's
    claimable lines) reads and checks only the lines it keeps."""
    schema = raw.collect_schema()
    _missing_columns(schema, ("setl_id", *FEE_LINE_CODES, "det_item_fee_sumamt"), where)
    if keep is None:
        lf = _stripped(raw)
    else:  # a year's lines are mostly not kept: strip what the condition reads, filter, then the rest
        read = set(keep.meta.root_names())
        lf = _stripped(_stripped(raw, read).filter(keep), [c for c in schema if c not in read])
    if "feedetl_sn" not in schema:
        lf = lf.with_columns(pl.int_range(pl.len()).add(1).cast(pl.Utf8).alias("feedetl_sn"))
    lf = lf.with_columns(pl.concat_str(_text("setl_id"), pl.lit(" 费用明细 "), _text("feedetl_sn")).alias("_id"))
    lf = lf.pipe(collect).lazy()  # the kept lines, read once
    amounts = [c for c in FEE_LINE_AMOUNTS if c in schema]
    checks = _unknown(schema.names(), _LINE_KNOWN) + _amount_checks(schema, amounts, ("det_item_fee_sumamt",))
    checks += [(c, _blank(c), lambda r, c=c: f"缺少{label(c)}") for c in ("setl_id", *FEE_LINE_CODES)]
    bad_lv = ~_blank("chrgitm_lv") & ~_text("chrgitm_lv").is_in(list(CHRGITM_LVS))
    checks.append(("chrgitm_lv", bad_lv, lambda r: f"{label('chrgitm_lv')}“{r['chrgitm_lv']}”应为 01、02 或 03"))
    typed = lf.with_columns(*[_fen(c, schema[c]).fill_null(0).alias(f"_fen_{c}") for c in amounts])
    fen = {c: (pl.col(f"_fen_{c}") if c in amounts else pl.lit(0, pl.Int64)) for c in FEE_LINE_AMOUNTS}
    parts = fen["fulamt_ownpay_amt"] + fen["preselfpay_amt"] + fen["inscp_scp_amt"] + fen["overlmt_amt"]
    checks.append(
        (
            "det_item_fee_sumamt",
            fen["det_item_fee_sumamt"] != parts,
            lambda r: (
                f"{label('det_item_fee_sumamt')} {_yuan_of(r, 'det_item_fee_sumamt')} 应等于"
                "全自费金额、先行自付金额、符合政策范围金额与超限价金额之和"
            ),
        )
    )
    _first_failure(typed, checks, lambda r: f"结算 {r['_id']}")
    cols = [fen[c].alias(c) if c in FEE_LINE_AMOUNTS else _text(c).alias(c) for c in FEE_LINE_SCHEMA]
    return typed.select(cols).pipe(collect)


# --- persons -----------------------------------------------------------------------------------


def check_persons(raw: pl.LazyFrame, where: str) -> pl.DataFrame:
    """Convert and check insured persons (a case's person, or the insured file). An ID number, if
    present, is validated (GB 11643) and dropped: it is never echoed nor carried on."""
    raw = _stripped(raw)
    schema = raw.collect_schema()
    _missing_columns(schema, ("psn_no",), where)
    lf = raw.with_columns(_text("psn_no").alias("_id"))
    source = {n: n if n in schema else (ALIASES[n] if ALIASES.get(n) in schema else None) for n in ALIASES}
    birth, status = source["birth_date"], source["insu_status"]
    checks = _unknown(schema.names(), _PERSON_KNOWN)
    checks.append(("psn_no", _blank("psn_no"), lambda r: f"缺少{label('psn_no')}"))
    checks.append(("psn_no", DUPLICATE_ID, lambda r: f"{label('psn_no')}重复出现"))
    if "insutype" in schema:
        bad = ~_blank("insutype") & ~_text("insutype").is_in(list(INSUTYPES_KNOWN))
        checks.append(("insutype", bad, lambda r: f"{label('insutype')}“{r['insutype']}”不是国家医保平台的险种代码"))
    if status is not None:
        bad = ~_blank(status) & ~_text(status).is_in(list(INSU_STATUSES))
        checks.append((status, bad, lambda r: f"{label('insu_status')}“{r[status]}”应为 1、2 或 4"))
    dates = [c for c in (birth, source["insu_status_date"], "cover_start", "cover_end") if c and c in schema]
    for c in dates:
        bad = ~_blank(c, schema[c]) & _date(c, schema[c]).is_null()
        checks.append((c, bad, lambda r, c=c: f"{label(c)}“{r[c]}”不是日期（YYYY-MM-DD）"))
    if "preexisting" in schema:
        checks.append(_icd_check("preexisting", schema["preexisting"]))
    if "certno" in schema:
        checks.append(("certno", _certno_bad(), lambda r: "身份证号校验不通过（GB 11643 校验码不符或格式有误）"))
    cols: list[pl.Expr] = []
    for name, dtype in {**INSURED_SCHEMA, **INSURED_OPTIONAL}.items():
        column = source.get(name, name)
        if column is None or column not in schema:
            default = [] if isinstance(dtype, pl.List) else None
            cols.append(pl.lit(default, dtype=dtype).alias(name))
        elif isinstance(dtype, pl.List):
            codes = _codes(column, schema[column])
            if name == "preexisting":
                codes = codes.list.eval(pl.element().str.to_uppercase())
            cols.append(codes.alias(name))
        elif dtype == pl.Date:
            cols.append(_date(column, schema[column]).alias(name))
        else:
            cols.append(pl.when(_blank(column)).then(None).otherwise(_text(column)).alias(name))
    return _checked(lf, checks, lambda r: f"参保人 {r['_id']}", cols)


def _certno_bad() -> pl.Expr:
    def bad(value: str | None) -> bool:
        if value is None or not str(value).strip():
            return False
        try:
            validate_certno(str(value).strip())
        except CertNoError:
            return True
        return False

    return _text("certno").map_elements(bad, return_dtype=pl.Boolean)


# --- JSON cases as frames ----------------------------------------------------------------------


def _as_text(value: Any) -> Any:
    """A JSON value as the text a CSV file would hold (lists stay lists, for codes)."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f") if abs(value) < 1e16 else repr(value)
    return str(value)


def json_frame(rows: list[Mapping[str, Any]]) -> pl.LazyFrame:
    """JSON objects as the raw text frame a CSV file would give: scalars as text, lists of codes
    joined with ';' (split again by the same rule as a file's)."""
    names: list[str] = []
    for r in rows:
        names += [k for k in r if k not in names]
    data = [
        {n: (";".join(str(x) for x in v) if isinstance(v := r.get(n), list) else _as_text(v)) for n in names}
        for r in rows
    ]
    return pl.DataFrame(data, schema=dict.fromkeys(names, pl.Utf8), orient="row").lazy()
