"""hypothesis fuzzes the plan and catalog loaders, catalog uploads and the settlement reader: whatever comes in, the answer is a
validated result or the module's own error naming the file or record and field, never a crash."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huiminbao.admin.catalogs import CatalogRejected, check_upload
from huiminbao.plans import PlanError, load_plan_file, messages
from huiminbao.plans.loader import CATALOG_DIR, load_catalog
from huiminbao.settlement.estimate import parse_case
from huiminbao.settlement.reader import RecordError

PLAN = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "src/huiminbao/plans/data/liaocheng-2024.yaml").read_text()
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


QUOTED = re.compile(r"“[^”]*”|'[^']*'|\"[^\"]*\"")
SENTENCE = re.compile(r"[A-Za-z]+(?:[ ,;:!?]+[A-Za-z]+){2,}")


def english(message: str) -> str | None:
    """The first run of three Latin words outside quotes (“…”, '…', "…"), if any: an English sentence,
    where field names and identifiers (overall_limit, lead: true) stand alone."""
    found = SENTENCE.search(QUOTED.sub("", message))
    return found.group(0) if found else None


def assert_chinese(messages_: list[str]) -> None:
    """Every message is a Chinese sentence (issue 7: operators and actuaries read Chinese)."""
    for message in messages_:
        assert messages.has_cjk(message) and english(message) is None, (message, english(message))


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@FUZZ
@given(where=st.sampled_from(paths(PLAN)), new=junk)
def test_a_plan_with_any_field_replaced_loads_or_names_the_field(tmp_path_factory: Any, where: tuple, new: Any) -> None:
    path = tmp_path_factory.mktemp("plan") / "fuzzed.yaml"
    path.write_text(yaml.safe_dump(replaced(PLAN, where, new), allow_unicode=True), encoding="utf-8")
    try:
        load_plan_file(path)
    except PlanError as exc:
        assert exc.file == str(path) and exc.problems
        assert_chinese([m for _, m in exc.problems])


CATALOG = yaml.safe_load((CATALOG_DIR / "liaocheng-2022-preexisting.yaml").read_text(encoding="utf-8"))


@FUZZ
@given(where=st.sampled_from(paths(CATALOG)), new=junk)
def test_a_catalog_with_any_field_replaced_loads_or_names_the_field(
    tmp_path_factory: Any, where: tuple, new: Any
) -> None:
    path = tmp_path_factory.mktemp("catalog") / "fuzzed.yaml"
    path.write_text(yaml.safe_dump(replaced(CATALOG, where, new), allow_unicode=True), encoding="utf-8")
    try:
        load_catalog(path)
    except PlanError as exc:
        assert exc.file == str(path) and exc.problems
        assert_chinese([m for _, m in exc.problems])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.sampled_from(["liaocheng-specific-drugs.csv", "liaocheng-2022-preexisting.yaml", "x.xlsx"]),
    data=st.binary(max_size=200) | st.text(alphabet="code,name\n:-[]{}'\"XC0123. 我", max_size=80).map(str.encode),
)
def test_any_uploaded_catalog_bytes_are_checked_or_refused_by_name(name: str, data: bytes) -> None:
    try:
        check_upload(name, data)
    except CatalogRejected as exc:
        assert exc.problems and all(f == name or f.endswith(".yaml") for f, _, _ in exc.problems)  # or a plan
        assert_chinese([m for _, _, m in exc.problems])


CASE = {
    "plan": "liaocheng-2024",
    "person": {"psn_no": "P1", "insutype": "390", "birth_date": "1960-05-01"},
    "settlements": [
        {
            "setl_id": "S1", "med_type": "21", "begndate": "2024-03-01", "setl_time": "2024-03-02 10:00:00",
            "medfee_sumamt": "100.00", "fulamt_ownpay_amt": "0", "overlmt_selfpay": "0", "preselfpay_amt": "0",
            "inscp_scp_amt": "100.00", "hifp_pay": "60.00", "fund_pay_sumamt": "60.00", "diseases": ["C34.1"],
            "feedetl": [{"med_list_codg": "X1", "chrgitm_lv": "01", "med_chrgitm_type": "09", "det_item_fee_sumamt": "1.00",
                         "fulamt_ownpay_amt": "0", "preselfpay_amt": "0", "inscp_scp_amt": "1.00", "overlmt_amt": "0"}],
        }
    ],
}  # fmt: skip


@FUZZ
@given(where=st.sampled_from(paths(CASE)), new=junk)
def test_a_case_with_any_field_replaced_is_read_or_refused_by_name(where: tuple, new: Any) -> None:
    try:
        parse_case(replaced(CASE, where, new))
    except RecordError as exc:
        assert exc.record and exc.field and str(exc)
