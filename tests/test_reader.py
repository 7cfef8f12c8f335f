"""One record reader: a JSON case and a CSV or Parquet file are judged the same way, in Chinese."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from huiminbao.settlement.estimate import parse_case
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements
from huiminbao.settlement.reader import RecordError
from tests.records import stay


def as_csv(path: Path, row: dict[str, Any]) -> Path:
    flat = {k: (";".join(v) if isinstance(v, list) else v) for k, v in row.items()}
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(flat))
        w.writeheader()
        w.writerow(flat)
    return path


def as_parquet(path: Path, row: dict[str, Any]) -> Path:
    pl.read_csv(as_csv(path.with_suffix(".csv"), row), infer_schema=False).write_parquet(path)
    return path


def from_json(row: dict[str, Any]) -> RecordError | pl.DataFrame:
    try:
        return parse_case({"plan": "liaocheng-2024", "person": {"psn_no": "P1"}, "settlements": [row]})[2]
    except RecordError as exc:
        return exc


def from_file(path: Path) -> RecordError | pl.DataFrame:
    try:
        return read_settlements(path)
    except RecordError as exc:
        return exc


BAD = [
    ({"medfee_sumamt": "1.00"}, "medfee_sumamt", "医疗费总额（medfee_sumamt） 1.00 应等于"),
    ({"inscp_scp_amt": "12.345"}, "inscp_scp_amt", "“12.345”不是以元为单位、最多两位小数的金额"),
    ({"inscp_scp_amt": "99999999999999.00"}, "inscp_scp_amt", "超出合理范围"),
    ({"psn_part_amt": "1.00"}, "psn_part_amt", "应等于 医疗费总额 − 基金支付总额"),
    ({"med_type": "99"}, "med_type", "医疗类别（med_type）“99”不是国家医保平台的医疗类别代码"),
    ({"diseases": ["C34.1", "XYZ"]}, "diseases", "“XYZ”不是 ICD-10 编码"),
    ({"enddate": "2024-02-01"}, "enddate", "结束日期（enddate） 2024-02-01 早于开始日期（begndate）"),
    ({"setl_time": "2024-02-01 08:00:00"}, "setl_time", "早于开始日期（begndate）"),
    ({"begndate": "2024-02-30"}, "begndate", "“2024-02-30”不是日期"),
    ({"insutype": "999"}, "insutype", "险种类型（insutype）“999”不是国家医保平台的险种代码"),
    ({"inscp_amt": "1.00"}, "inscp_amt", "未知字段“inscp_amt”"),
    ({"hifp_pay": "-5.00", "fund_pay_sumamt": "-5.00"}, "hifp_pay", "为负数 -5.00：普通结算的金额不能为负"),
    ({"refd_setl_flag": "1"}, "medfee_sumamt", "退费结算（退费结算标志为 1）的金额应为负数"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[b[1] + ":" + b[2][:12] for b in BAD])
def test_the_same_bad_record_gets_the_same_error_from_json_csv_and_parquet(tmp_path, change, field, message):
    row = {**stay(inscp=30_000, funds=20_000, diseases=["C34.1"]), "psn_no": "P1", **change}
    got = [
        from_json(row),
        from_file(as_csv(tmp_path / "s.csv", row)),
        from_file(as_parquet(tmp_path / "s.parquet", row)),
    ]
    for err in got:
        assert isinstance(err, RecordError), err
        assert (err.record, err.field) == ("结算 S1", field)
        assert message in str(err)
    assert len({str(e) for e in got}) == 1


def test_diagnoses_split_the_same_way_everywhere(tmp_path):
    row = {**stay(inscp=30_000, funds=20_000), "psn_no": "P1", "diseases": "C34.1,E11.9"}
    want = [["C34.1", "E11.9"]]
    assert from_json(row)["diseases"].to_list() == want  # type: ignore[index]
    assert from_file(as_csv(tmp_path / "s.csv", row))["diseases"].to_list() == want  # type: ignore[index]


def test_the_persons_part_is_optional_in_both_but_must_add_up_when_given(tmp_path):
    row = {**stay(inscp=30_000, funds=20_000), "psn_no": "P1"}
    for k in ("psn_part_amt", "acct_pay", "psn_cash_pay"):
        row.pop(k)
    for got in (from_json(row), from_file(as_csv(tmp_path / "s.csv", row))):
        assert isinstance(got, pl.DataFrame) and got["psn_part_amt"].to_list() == [None]


def test_a_birth_date_after_the_stay_is_refused():
    case = {"plan": "liaocheng-2024", "person": {"psn_no": "P1", "birth_date": "2024-06-01"}}
    with pytest.raises(RecordError, match="开始日期（begndate）早于参保人的出生日期"):
        parse_case({**case, "settlements": [stay(day="2024-03-01", inscp=10, funds=0)]})


def test_national_fields_this_platform_does_not_use_are_accepted(tmp_path):
    row = {**stay(inscp=30_000, funds=20_000), "psn_no": "P1", "psn_name": "张三", "clr_type": "11", "balc": "0"}
    assert isinstance(from_json(row), pl.DataFrame)
    assert isinstance(from_file(as_csv(tmp_path / "s.csv", row)), pl.DataFrame)


def test_bad_person_fields_name_the_person():
    case = {"plan": "liaocheng-2024", "settlements": [stay(inscp=10)]}
    with pytest.raises(RecordError, match="既往症（ICD-10）（preexisting）中的“diabetes”不是 ICD-10 编码"):
        parse_case({**case, "person": {"psn_no": "P1", "preexisting": ["diabetes"]}})
    with pytest.raises(RecordError, match="未知字段“brithday”"):
        parse_case({**case, "person": {"psn_no": "P1", "brithday": "1960-01-01"}})


def test_a_settlement_id_given_twice_in_a_file_is_refused(tmp_path):
    rows = [{**stay(inscp=30_000, funds=20_000), "psn_no": "P1"}, {**stay(inscp=10, funds=0), "psn_no": "P2"}]
    path = tmp_path / "s.parquet"
    pl.DataFrame(rows).write_parquet(path)
    err = from_file(path)
    assert isinstance(err, RecordError) and (err.record, err.field) == ("结算 S1", "setl_id")
    assert "在同一批记录中重复出现" in str(err)


@pytest.mark.parametrize("scale", [0, 1, 2, 3])
def test_typed_decimal_amounts_read_as_the_same_fen_as_text(tmp_path, scale):
    """Decimal columns of scale 2 are read from their integer representation (fen); other scales are
    converted by decimal arithmetic. Either way the fen equal the text's."""
    row = {**stay(inscp=30_000, funds=20_000, preself=123), "psn_no": "P1", "inscp_scp_amt": "30000.25"}
    row["medfee_sumamt"] = "30123.25"
    row["psn_part_amt"] = row["psn_cash_pay"] = "10123.25"
    text = from_file(as_csv(tmp_path / "s.csv", row))
    assert isinstance(text, pl.DataFrame)
    raw = pl.read_csv(tmp_path / "s.csv", infer_schema=False)
    amounts = [c for c in raw.columns if c.endswith(("_amt", "_pay", "_selfpay"))]
    if scale < 2:  # whole yuan or one decimal cannot hold 0.25: round the row's cents away first
        row = {**row, "inscp_scp_amt": "30000.00", "medfee_sumamt": "30123.00"}
        row["psn_part_amt"] = row["psn_cash_pay"] = "10123.00"
        text = from_file(as_csv(tmp_path / "s.csv", row))
        raw = pl.read_csv(tmp_path / "s.csv", infer_schema=False)
    typed = raw.with_columns(pl.col(amounts).cast(pl.Decimal(18, scale)))
    typed.write_parquet(tmp_path / "s.parquet")
    got = from_file(tmp_path / "s.parquet")
    assert isinstance(got, pl.DataFrame) and isinstance(text, pl.DataFrame)
    assert got.select(amounts).equals(text.select(amounts))


def test_fee_lines_kept_by_their_codes_are_judged_on_the_codes_without_spaces(tmp_path):
    """Only the columns the keep condition reads are stripped before it; the kept lines' other text after."""
    path = tmp_path / "l.csv"
    line = "det_item_fee_sumamt,fulamt_ownpay_amt,preselfpay_amt,inscp_scp_amt,overlmt_amt"
    path.write_text(
        f"setl_id,feedetl_sn,med_list_codg,chrgitm_lv,med_chrgitm_type,{line}\n"
        " S1 , 1 , X1 ,03,09,10.00,10.00,0,0,0\nS1,2,X2,03,09,5.00,5.00,0,0,0\n",
        encoding="utf-8",
    )
    got = read_fee_lines(path, pl.col("med_list_codg") == "X1")
    assert got.select("setl_id", "feedetl_sn", "med_list_codg").rows() == [("S1", "1", "X1")]


@pytest.mark.parametrize("order", [["P1", "P2", "P1"], ["P1", "P1", "P2"]], ids=["unsorted", "sorted"])
def test_a_person_given_twice_in_the_insured_file_is_refused(tmp_path, order):
    path = tmp_path / "p.parquet"
    pl.DataFrame({"psn_no": order}).write_parquet(path)
    with pytest.raises(RecordError, match="重复出现") as err:
        read_insured(path)
    assert (err.value.record, err.value.field) == ("参保人 P1", "psn_no")
    pl.DataFrame({"psn_no": ["P1", "P2", "P3"]}).write_parquet(path)
    assert read_insured(path)["psn_no"].to_list() == ["P1", "P2", "P3"]


def test_a_parquet_year_checked_in_batches_reads_and_refuses_as_whole(tmp_path):
    """``read_settlements`` checks a large Parquet file a batch at a time (bounded memory): the same frame
    as one pass, a bad record in a later batch named as before, and an id repeated across batches refused."""
    rows = [{**stay(inscp=30_000 + k, funds=20_000), "setl_id": f"S{k:03d}", "psn_no": f"P{k % 7}"} for k in range(23)]
    path = tmp_path / "s.parquet"
    pl.DataFrame(rows).write_parquet(path)
    whole = read_settlements(path)
    assert read_settlements(path, batch=5).equals(whole)
    assert read_settlements(path, ["setl_id", "psn_no"], batch=5).equals(whole.select("setl_id", "psn_no"))
    assert read_settlements(path, ["psn_no"], batch=5).equals(whole.select("psn_no"))
    bad = [dict(r) for r in rows]
    bad[17]["medfee_sumamt"] = "1.00"
    pl.DataFrame(bad).write_parquet(path)
    with pytest.raises(RecordError) as err:
        read_settlements(path, batch=5)
    assert (err.value.record, err.value.field) == ("结算 S017", "medfee_sumamt")
    again = [*rows[:-1], {**rows[-1], "setl_id": "S003"}]
    pl.DataFrame(again).write_parquet(path)
    with pytest.raises(RecordError) as err:
        read_settlements(path, batch=5)
    assert (err.value.record, err.value.field) == ("结算 S003", "setl_id")
    assert "在同一批记录中重复出现" in str(err.value)
