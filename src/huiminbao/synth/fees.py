"""Fee lines (feedetl) that add up exactly to their settlements.

Each settlement's cost buckets (class A, class B, fully self-paid, high-cost drug) are
cut into lines with exact integer partitions: line ``i`` of a bucket gets
``X * W_i // W - X * W_(i-1) // W`` of each amount ``X``, where ``W_i`` is the running
sum of random integer weights and ``W`` their total, so a bucket's lines sum to ``X``
to the fen and none is negative. Line counts, weights and item choices
are hashed from (seed, original's row, line number), so a refund's lines are its
original's lines negated without storing or matching anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from huiminbao.synth import vocab
from huiminbao.synth.amounts import DRUG_CLASS_B, Buckets
from huiminbao.synth.arrays import hash_uniform, take_str
from huiminbao.synth.visits import CHRONIC, INPATIENT, PHARMACY
from huiminbao.vocabulary import FEE_LINE_SCHEMA

MAX_LINES = 64  # per settlement; the hash key packs the line number in 6 bits
D = 3  # bucket number of the drug line (0 class A, 1 class B, 2 fully self-paid)
AMOUNTS = ("fulamt_ownpay_amt", "preselfpay_amt", "inscp_scp_amt", "overlmt_amt")
_SN = [f"{i + 1:04d}" for i in range(MAX_LINES)]


@dataclass(frozen=True)
class ItemCatalog:
    """Every code a line can carry: charge items by class (01, 02, 03), then the drugs.

    Within a class the drugs come first, so a pharmacy's lines (drugs only) pick among the first
    ``drug_sizes`` items of their class.
    """

    codes: pl.Series
    types: pl.Series
    starts: np.ndarray  # where class 01, 02, 03 and the drugs begin
    sizes: np.ndarray  # how many items of class 01, 02, 03
    drug_sizes: np.ndarray  # how many of them are drugs

    @classmethod
    def build(cls, drug_codes: Sequence[str]) -> ItemCatalog:
        by_class = [sorted(vocab.ITEMS[lv], key=lambda r: r[1] not in vocab.DRUG_TYPES) for lv in ("01", "02", "03")]
        rows = [r for items in by_class for r in items]
        sizes = np.array([len(items) for items in by_class])
        return cls(
            codes=pl.Series("med_list_codg", [r[0] for r in rows] + list(drug_codes), dtype=pl.Utf8),
            types=pl.Series("med_chrgitm_type", [r[1] for r in rows] + ["09"] * len(drug_codes), dtype=pl.Utf8),
            starts=np.concatenate([[0], np.cumsum(sizes)]),
            sizes=sizes,
            drug_sizes=np.array([sum(r[1] in vocab.DRUG_TYPES for r in items) for items in by_class]),
        )


def _counts(seed: int, key: np.ndarray, med: np.ndarray, b: Buckets) -> np.ndarray:
    """(records, 4) line counts per bucket: about 3 a record, more for stays, none if empty."""
    k = key.astype(np.uint64) * np.uint64(MAX_LINES) + np.uint64(MAX_LINES - 1)
    u1, u2, u3 = (hash_uniform(seed, k, salt) for salt in (11, 12, 13))
    inp, chronic = med == INPATIENT, med == CHRONIC
    want = np.stack(
        [
            np.where(inp, 2 + (u1 * 4).astype(np.int64), 1 + (u1 < np.where(chronic, 0.4, 0.15))),
            np.where(inp, 1 + (u2 * 3).astype(np.int64), 1 + (chronic & (u2 < 0.2))),
            np.where(inp, 1 + (u3 < 0.5), 1),
            np.ones(len(key), dtype=np.int64),
        ],
        axis=1,
    )
    amount = np.stack([b.a_in + b.a_over, b.b_pre + b.b_in + b.b_over, b.s_ful, b.d_amt], axis=1)
    return np.where(amount > 0, np.minimum(want, np.maximum(amount // 100, 1)), 0)


def fee_lines(
    seed: int, key: np.ndarray, refund: np.ndarray, med: np.ndarray, b: Buckets, setl_id: pl.Series, cat: ItemCatalog
) -> pl.DataFrame:
    """Fee lines of a run of settlements, in order. ``key`` names each one's original
    (a refund carries its original's key and buckets, and gets its lines negated)."""
    m = _counts(seed, key, med, b)
    per_rec = m.sum(axis=1)
    n = int(per_rec.sum())
    r = np.repeat(np.arange(len(key)), per_rec)
    line_no = np.arange(n) - np.repeat(np.cumsum(per_rec) - per_rec, per_rec)
    bounds = np.cumsum(m, axis=1)[r]
    bucket = (line_no >= bounds[:, 0]).astype(np.int64) + (line_no >= bounds[:, 1]) + (line_no >= bounds[:, 2])
    hkey = key[r].astype(np.uint64) * np.uint64(MAX_LINES) + line_no.astype(np.uint64)
    start = np.ones(n, dtype=bool)
    start[1:] = (r[1:] != r[:-1]) | (bucket[1:] != bucket[:-1])
    gid = np.cumsum(start) - 1
    g_first = np.flatnonzero(start)
    g_last = np.append(g_first[1:], n) - 1
    # Integer weights and integer running sums: a line's share depends only on its own
    # bucket, never on where the bucket sits in the chunk, so a refund's lines repeat
    # its original's to the fen.
    cw = np.cumsum(256 + (hash_uniform(seed, hkey, 1) * 1024).astype(np.int64))
    before = np.where(g_first > 0, cw[np.maximum(g_first - 1, 0)], 0)
    run = cw - before[gid]
    whole = (cw[g_last] - before)[gid]

    d_ful, d_pre, d_in = b.d_parts()
    zero = np.zeros(len(key), dtype=np.int64)
    parts = {
        "fulamt_ownpay_amt": (zero, zero, b.s_ful, d_ful),
        "preselfpay_amt": (zero, b.b_pre, zero, d_pre),
        "inscp_scp_amt": (b.a_in, b.b_in, zero, d_in),
        "overlmt_amt": (b.a_over, b.b_over, zero, zero),
    }
    sign = np.where(refund[r], -1, 1)
    flat = r * 4 + bucket
    out: dict[str, np.ndarray] = {}
    for name, cols in parts.items():
        c = np.stack(cols, axis=1).reshape(-1)[flat] * run // whole  # exact: the last line gets X
        prev = np.append(0, c[:-1])
        prev[start] = 0
        out[name] = (c - prev) * sign
    lv = np.where(bucket == D, np.where(b.d_lv[r] == DRUG_CLASS_B, 1, 2), bucket)
    choices = np.where(med[r] == PHARMACY, cat.drug_sizes[lv], cat.sizes[lv])
    pick = (hash_uniform(seed, hkey, 2) * choices).astype(np.int64)
    idx = np.where(bucket == D, cat.starts[3] + b.d_code[r], cat.starts[lv] + pick)
    frame = pl.DataFrame(
        [
            setl_id.gather(r),
            take_str(_SN, line_no, "feedetl_sn"),
            cat.codes.gather(idx),
            take_str(["01", "02", "03"], lv, "chrgitm_lv"),
            cat.types.gather(idx),
            pl.Series("det_item_fee_sumamt", sum(out.values())),
            *(pl.Series(k, v) for k, v in out.items()),
        ]
    )
    return frame.select(list(FEE_LINE_SCHEMA))


__all__ = ["ItemCatalog", "fee_lines"]
