"""A year as the engine reads it: whole when it fits in memory, else part by part of persons.

Year-end re-adjudication and what-if pricing compute sums over persons (payout per person and
liability, persons paid, deciles of the payout per person), and a person never spans two parts of a
split year (``scale.partition``), so they run on each part exactly as on the whole year and add the
parts up. This module gives them that choice in one place: ``year_parts`` yields one ``Year`` (the
in-memory read) or one ``Year`` per part, read and checked by the one reader either way.

Unlike ``hmb adjudicate --out``, nothing here is kept: the split lives in a scratch folder that is
removed when the last part has been read (a what-if or a year-end is rerun, not resumed).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from huiminbao.engine.adjudicate import claimable_lines, settlement_columns
from huiminbao.plans import Compiled
from huiminbao.scale.partition import Inputs, Tick, estimate, part_count, read_part, split
from huiminbao.settlement.io import read_fee_lines, read_insured, read_settlements


@dataclass(frozen=True)
class Year:
    """A year of settlements (or the part of one holding some persons, all their records) as the
    engine reads it, in fen: the settlements, the fee lines any of the plans could claim, the persons."""

    settlements: pl.DataFrame
    fee_lines: pl.DataFrame | None
    insured: pl.DataFrame


def read_year(plans: Sequence[Compiled], inputs: Inputs) -> Year:
    """The whole year in memory: the settlement columns and fee lines any of ``plans`` reads."""
    return Year(
        settlements=read_settlements(inputs.settlements, settlement_columns(*plans)),
        fee_lines=read_fee_lines(inputs.fee_lines, claimable_lines(*plans)) if inputs.fee_lines else None,
        insured=read_insured(inputs.insured),
    )


def parts_needed(inputs: Inputs, memory_limit: int | None, partitions: int | None) -> int | None:
    """How many parts (None: the whole year in memory), chosen as ``hmb adjudicate`` chooses: as asked,
    else enough that each part fits the limit or, without one, the machine's available memory."""
    needed = estimate(inputs) if partitions is None else 0
    return part_count(needed, memory_limit, partitions)


def year_parts(
    plans: Sequence[Compiled],
    inputs: Inputs,
    parts: int | None,
    *,
    scratch: Path | None = None,
    tick: Tick | None = None,
) -> Iterator[Year]:
    """The year whole (``parts`` None) or in ``parts`` parts by person, each read when the previous one
    has been used. The split goes to a new folder under ``scratch`` (default: the system's temporary
    folder), removed at the end, also when the caller stops early or fails."""
    if parts is None:
        yield read_year(plans, inputs)
        return
    report: Tick = tick or (lambda what, done, total: None)
    folder = Path(tempfile.mkdtemp(prefix="hmb-parts-", dir=scratch))
    try:
        split(plans, inputs, folder, parts, report)
        for k in range(parts):
            report("逐分区计算", k, parts)
            setl, lines, people = read_part(plans, inputs, folder, k)
            yield Year(settlements=setl, fee_lines=lines, insured=people)
        report("完成", parts, parts)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
