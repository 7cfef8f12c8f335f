"""Properties of the engine, and the engine against the reference loop, on random years."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from huiminbao.engine.adjudicate import adjudicate
from huiminbao.engine.reference import adjudicate_reference, round_exact
from huiminbao.engine.rules import tier_rules
from huiminbao.plans import compiled_plan
from huiminbao.vocabulary import COST_PARTS, FEE_LINE_SCHEMA, SETTLEMENT_AMOUNTS, SETTLEMENT_SCHEMA
from tests.factories import INSURED

PLANS = {
    "liaocheng-2024": {
        "insu": "371502",
        "drugs": ["XLCTD0001", "XSDTX0002", "XOTHER"],
        "inst": ["H37150200001", "H37159900009"],
    },
    "liaocheng-2025": {"insu": "371502", "drugs": ["XLCTD0003", "XSDTX0001"], "inst": ["H37150200001"]},
    "quzhou-2021": {"insu": "330802", "drugs": ["XQZTY0001", "XOTHER"], "inst": ["P33080200001", "H33080200001"]},
    "zibo-2022": {"insu": "370302", "drugs": ["XZBTD0001", "XZBRD0001", "XOTHER"], "inst": ["H37030200001"]},
}
YEAR = {"liaocheng-2024": 2024, "liaocheng-2025": 2025, "quzhou-2021": 2021, "zibo-2022": 2022}

fen = st.one_of(st.integers(0, 3_000), st.integers(0, 5_000_000), st.integers(0, 400_000_000))


@st.composite
def years(draw, plan_id: str | None = None):
    plan_id = plan_id or draw(st.sampled_from(sorted(PLANS)))
    info = PLANS[plan_id]
    year = YEAR[plan_id]
    n_people = draw(st.integers(1, 3))
    people = [
        {
            "psn_no": f"P{k}",
            "insutype": "390",
            "birth_date": date(1950 + k, 1, 1),
            "tier": None,
            "preexisting": draw(st.sampled_from([[], ["C34.1"], ["I21.0"], ["E11.9"]])),
            "populations": draw(st.sampled_from([[], ["poverty_alleviated"]])),
            "insu_status": draw(st.sampled_from([None, "1", "2", "4"])),
            "insu_status_date": date(year, 1, 1) + timedelta(days=draw(st.integers(0, 364))),
        }
        for k in range(n_people)
    ]
    rows, lines = [], []
    for k in range(draw(st.integers(1, 9))):
        psn = f"P{draw(st.integers(0, n_people - 1))}"
        earlier = [r for r in rows if r["psn_no"] == psn and r["refd_setl_flag"] == "0" and not r.get("_refunded")]
        # any calendar day of the year (leap days, the last day of cover) and a few days either side of it
        when = datetime(year, 1, 1) + timedelta(days=draw(st.integers(-3, 367)), hours=draw(st.integers(0, 23)))
        if earlier and draw(st.integers(0, 4)) == 0:
            orig = draw(st.sampled_from(earlier))
            orig["_refunded"] = True
            if when <= orig["setl_time"]:
                continue
            rev = {
                **orig,
                "setl_id": f"R{k}",
                "setl_time": when,
                "refd_setl_flag": "1",
                "init_setl_id": orig["setl_id"],
            }
            rev.update({a: -orig[a] for a in SETTLEMENT_AMOUNTS})
            rows.append(rev)
            lines += [
                {
                    **ln,
                    "setl_id": f"R{k}",
                    **{
                        a: -ln[a]
                        for a in FEE_LINE_SCHEMA
                        if a not in ("setl_id", "feedetl_sn", "med_list_codg", "chrgitm_lv", "med_chrgitm_type")
                    },
                }
                for ln in lines
                if ln["setl_id"] == orig["setl_id"]
            ]
            continue
        setl_id = f"S{k}"
        my_lines = []
        for j in range(draw(st.integers(0, 3))):
            amount = draw(fen)
            split = draw(st.sampled_from(["own", "pre", "mix", "ins"]))
            own = amount if split == "own" else (amount // 3 if split == "mix" else 0)
            inscope = amount if split == "ins" else 0
            ln = {
                "setl_id": setl_id,
                "feedetl_sn": str(j),
                "med_list_codg": draw(st.sampled_from(info["drugs"])),
                "chrgitm_lv": "03" if split == "own" else "02",
                "med_chrgitm_type": draw(st.sampled_from(["09", "11", "01"])),
                "fulamt_ownpay_amt": own,
                "preselfpay_amt": amount - own - inscope,
                "inscp_scp_amt": inscope,
                "overlmt_amt": 0,
                "det_item_fee_sumamt": amount,
            }
            my_lines.append(ln)
        inscp = draw(fen) + sum(x["inscp_scp_amt"] for x in my_lines)
        funds = draw(st.integers(0, inscp)) if inscp else 0
        hifmi = draw(st.integers(0, funds)) if funds else 0
        row = dict.fromkeys(SETTLEMENT_AMOUNTS, 0)
        row.update(
            inscp_scp_amt=inscp,
            hifp_pay=funds - hifmi,
            hifmi_pay=hifmi,
            fulamt_ownpay_amt=sum(x["fulamt_ownpay_amt"] for x in my_lines) + draw(st.integers(0, 100_000)),
            preselfpay_amt=sum(x["preselfpay_amt"] for x in my_lines),
        )
        row["medfee_sumamt"] = sum(row[p] for p in COST_PARTS)
        row["fund_pay_sumamt"] = funds
        row["psn_part_amt"] = row["psn_cash_pay"] = row["medfee_sumamt"] - funds
        care = draw(st.sampled_from([info["insu"], info["insu"], info["insu"][:4] + "99", "110105"]))
        row.update(
            setl_id=setl_id,
            mdtrt_id=setl_id,
            psn_no=psn,
            insutype="390",
            med_type=draw(st.sampled_from(["21", "21", "14", "11"])),
            fixmedins_code=draw(st.sampled_from(info["inst"])),
            insu_admdvs=info["insu"],
            mdtrt_area_admvs=care,
            refd_setl_flag="0",
            init_setl_id=None,
            begndate=when.date(),
            enddate=when.date(),
            setl_time=when,
            out_area_filed=draw(st.booleans()),
            diseases=draw(st.sampled_from([[], ["C34.9"], ["I21.4", "E11.9"], ["S72.0"]])),
            hifmi_inscp_scp_amt=draw(st.one_of(st.none(), st.integers(0, inscp))),
            rx_fixmedins_code=draw(st.one_of(st.none(), st.sampled_from(info["inst"]))),
        )
        rows.append(row)
        lines += my_lines
    for r in rows:
        r.pop("_refunded", None)
    s = pl.DataFrame(rows, schema=SETTLEMENT_SCHEMA)
    fl = pl.DataFrame(lines, schema=FEE_LINE_SCHEMA) if lines else None
    return plan_id, s, pl.DataFrame(people, schema=INSURED), fl


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@SETTINGS
@given(years())
def test_engine_equals_reference_to_the_fen(case):
    plan_id, s, p, fl = case
    compiled = compiled_plan(plan_id)
    got = adjudicate(compiled, s, p, fl)
    ref_s, ref_l, ref_acc = adjudicate_reference(compiled, s, p, fl)
    want = ref_s.sort("setl_id").select("setl_id", "status", "payout")
    assert got.settlements.sort("setl_id").select("setl_id", pl.col("status").cast(pl.Utf8), "payout").equals(want)
    cols = ["setl_id", "liability", "base", "counted", "deductible_used", "ratio", "entitled", "payout"]
    assert got.lines.select(cols).sort("setl_id", "liability").equals(ref_l.select(cols).sort("setl_id", "liability"))
    # the reference keeps every key it touched, the engine those of persons with a counted record: compare values
    assert (
        got.accumulators.filter(pl.col("value") != 0)
        .sort("psn_no", "key")
        .equals(ref_acc.filter(pl.col("value") != 0).sort("psn_no", "key"))
    )


@SETTINGS
@given(years())
def test_never_negative_never_over_a_limit_and_no_drift(case):
    plan_id, s, p, fl = case
    compiled = compiled_plan(plan_id)
    got = adjudicate(compiled, s, p, fl)
    rev = set(s.filter(pl.col("refd_setl_flag") == "1")["setl_id"])
    normal = got.lines.filter(~pl.col("setl_id").is_in(list(rev)))
    assert normal["payout"].min() >= 0 and normal["entitled"].min() >= 0
    merged = got.settlements.join(p.select("psn_no"), on="psn_no")
    for tier_id in merged["tier"].unique():
        rules = tier_rules(compiled, tier_id)
        people = merged.filter(pl.col("tier") == tier_id)["psn_no"].unique()
        mine = got.lines.filter(pl.col("psn_no").is_in(people.implode()))
        for liab in rules.liabilities:
            per_person = mine.filter(pl.col("liability") == liab.id).group_by("psn_no").agg(pl.col("payout").sum())
            if liab.limit is not None and per_person.height:
                assert per_person["payout"].max() <= liab.limit
        totals = (
            got.settlements.filter(pl.col("psn_no").is_in(people.implode()))
            .group_by("psn_no")
            .agg(pl.col("payout").sum())
        )
        if rules.overall_limit is not None and totals.height:
            assert totals["payout"].max() <= rules.overall_limit
    # a person's total is what the accumulators say, and each liability's entitlement is its rounded exact total
    acc = {(r["psn_no"], r["key"]): r["value"] for r in got.accumulators.iter_rows(named=True)}
    for row in got.settlements.group_by("psn_no").agg(pl.col("payout").sum()).iter_rows(named=True):
        assert row["payout"] == acc.get((row["psn_no"], "paid"), 0)
    for row in got.lines.group_by("psn_no", "liability").agg(pl.col("entitled").sum()).iter_rows(named=True):
        assert row["entitled"] == round_exact(acc.get((row["psn_no"], f"ent:{row['liability']}"), 0))


@SETTINGS
@given(years())
def test_real_time_one_by_one_equals_batch(case):
    """The real-time path: each settlement alone, with the stored accumulators and earlier lines."""
    plan_id, s, p, fl = case
    compiled = compiled_plan(plan_id)
    batch = adjudicate(compiled, s, p, fl)
    prior, prior_lines, paid = None, None, {}
    for row in s.sort("setl_time", "setl_id").iter_rows(named=True):
        one = pl.DataFrame([row], schema=SETTLEMENT_SCHEMA)
        mine = fl.filter(pl.col("setl_id") == row["setl_id"]) if fl is not None else None
        res = adjudicate(compiled, one, p, mine, prior, prior_lines)
        paid[row["setl_id"]] = res.settlements["payout"][0]
        prior = res.accumulators
        prior_lines = res.lines if prior_lines is None else pl.concat([prior_lines, res.lines])
    assert paid == dict(zip(batch.settlements["setl_id"], batch.settlements["payout"], strict=True))


@SETTINGS
@given(years("liaocheng-2024"), st.integers(0, 8), st.integers(1, 2_000_000))
def test_monotone_in_cost(case, pick, extra):
    plan_id, s, p, fl = case
    s = s.filter(pl.col("refd_setl_flag") == "0")
    compiled = compiled_plan(plan_id)
    k = pick % s.height
    more = s.with_columns(
        *[
            pl.when(pl.int_range(pl.len()) == k).then(pl.col(c) + extra).otherwise(pl.col(c)).alias(c)
            for c in ("inscp_scp_amt", "medfee_sumamt", "psn_part_amt", "psn_cash_pay")
        ]
    )
    before = adjudicate(compiled, s, p, fl).settlements.group_by("psn_no").agg(pl.col("payout").sum())
    after = adjudicate(compiled, more, p, fl).settlements.group_by("psn_no").agg(pl.col("payout").sum())
    joined = before.join(after, on="psn_no", suffix="_after")
    assert (joined["payout_after"] >= joined["payout"]).all()


@SETTINGS
@given(years())
def test_a_reversal_restores_the_state(case):
    plan_id, s, p, fl = case
    s = s.filter(pl.col("refd_setl_flag") == "0").sort("setl_time", "setl_id")
    compiled = compiled_plan(plan_id)
    last = s.row(s.height - 1, named=True)
    rev = {
        **last,
        "setl_id": "RX",
        "refd_setl_flag": "1",
        "init_setl_id": last["setl_id"],
        "setl_time": datetime(last["setl_time"].year, 12, 31, 23, 59),
    }
    rev.update({a: -last[a] for a in SETTLEMENT_AMOUNTS})
    assume(last["setl_time"] < rev["setl_time"])
    with_rev = pl.concat([s, pl.DataFrame([rev], schema=SETTLEMENT_SCHEMA)])
    without = adjudicate(compiled, s.head(s.height - 1), p, fl) if s.height > 1 else None
    undone = adjudicate(compiled, with_rev, p, fl)
    by = dict(zip(undone.settlements["setl_id"], undone.settlements["payout"], strict=True))
    assert by["RX"] == -by[last["setl_id"]]
    acc = {(r["psn_no"], r["key"]): r["value"] for r in undone.accumulators.iter_rows(named=True)}
    base = (
        {}
        if without is None
        else {(r["psn_no"], r["key"]): r["value"] for r in without.accumulators.iter_rows(named=True)}
    )
    for (psn, key), value in acc.items():
        if key.startswith("ent:"):
            assert round_exact(value) == round_exact(base.get((psn, key), 0))
        else:
            assert value == base.get((psn, key), 0), (psn, key)


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 2**40)), min_size=1, max_size=40), st.booleans())
def test_person_running_max_equals_over(rows, huge):
    """The offset trick and its fallback both give each person's own running max."""
    from huiminbao.engine.accumulate import person_running_max

    rows = sorted(rows, key=lambda r: r[0])
    frame = pl.DataFrame({"_p": [p for p, _ in rows], "m": [v * (2**21 if huge else 1) for _, v in rows]})
    got = frame.select(person_running_max(frame, "m").alias("x"))["x"]
    want = frame.select(pl.col("m").cum_max().over("_p").alias("x"))["x"]
    assert got.to_list() == want.to_list()
