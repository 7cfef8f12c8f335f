"""Enrollment so far: the roster's basic insured against the plan's policies, by district, insurance type
and age band, for operators and the bureau. Cells of fewer than ``MIN_CELL`` persons are suppressed (the
count and the rate), so no figure points at a few people. Reads only; never commits."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.engine.prepare import age_expr
from huiminbao.enrollment.models import InsuredPerson, Policy, PolicyStatus
from huiminbao.enrollment.service import MIN_CELL
from huiminbao.plans import Plan

AGE_BANDS = ((0, "0-17 岁"), (18, "18-39 岁"), (40, "40-59 岁"), (60, "60-69 岁"), (70, "70 岁及以上"))
COUNTED = (PolicyStatus.ACTIVE, PolicyStatus.SUSPENDED, PolicyStatus.ENDED)


def enrollment_frame(
    *, session: Session, plan: Plan, start: date | None = None, end: date | None = None
) -> pl.DataFrame:
    """One row per person of the plan's area on the roster: ``area``, ``insutype``, ``age_band`` (age at the
    start of cover), ``populations`` (list of tags) and ``bought`` (holds a counted policy). With a period,
    ``bought`` means covered on some day of it: cover begun by ``end`` and not suspended or ended before
    ``start``; a monthly report counts the people the plan covered that month."""
    where = [Policy.plan_id == plan.id, Policy.status.in_(COUNTED)]
    if end is not None:
        where.append(Policy.cover_start <= end)
    if start is not None:
        stopped = Policy.status.in_((PolicyStatus.SUSPENDED, PolicyStatus.ENDED)) & (Policy.status_date < start)
        where.append(~stopped)
    held = sa.select(Policy.person_id).where(*where).scalar_subquery()
    rows = session.execute(
        sa.select(
            InsuredPerson.insu_admdvs,
            InsuredPerson.insutype,
            InsuredPerson.birth_date,
            InsuredPerson.populations,
            InsuredPerson.id.in_(held),
        ).where(InsuredPerson.insu_admdvs.startswith(plan.eligibility.admdvs_prefix))
    ).all()
    schema = {"area": pl.Utf8, "insutype": pl.Utf8, "birth": pl.Date, "tags": pl.Utf8, "bought": pl.Boolean}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    age = age_expr(pl.col("birth"), plan.cover_start)
    band = pl.lit(AGE_BANDS[0][1])
    for low, label in AGE_BANDS[1:]:
        band = pl.when(age >= low).then(pl.lit(label)).otherwise(band)
    populations = pl.col("tags").fill_null("").str.split(";").list.eval(pl.element().filter(pl.element() != ""))
    return frame.select("area", "insutype", band.alias("age_band"), populations.alias("populations"), "bought")


MARGINS = ("area", "insutype", "age_band")
"""The cross table's dimensions; the dashboards show a margin over each (``supervision.figures``)."""


def cross_table(frame: pl.DataFrame) -> tuple[list[dict[str, Any]], set[int], dict[str, set[str]]]:
    """The cells of an ``enrollment_frame`` by district, insurance type and age band (sorted), the indexes of
    the cells to hide and, per dimension, the margins to hide: one suppression for the cross table and the
    dashboards' margins together, so that no figure of one gives back a hidden figure of the other."""
    cells = frame.group_by(*MARGINS).agg(pl.len().alias("insured"), pl.col("bought").sum().alias("policies"))
    order = {label: i for i, (_, label) in enumerate(AGE_BANDS)}
    rows = sorted(cells.iter_rows(named=True), key=lambda c: (c["area"], c["insutype"], order[c["age_band"]]))
    hidden, margins = _suppression(rows)
    return rows, hidden, margins


def enrollment_cells(*, session: Session, plan: Plan) -> dict[str, Any]:
    """Insured persons, policies and the enrollment rate per (district, insurance type, age band), with
    totals; ages at the start of cover."""
    frame = enrollment_frame(session=session, plan=plan)
    rows, hidden, _ = cross_table(frame)
    out = [_cell(r, hidden=i in hidden) for i, r in enumerate(rows)]
    total = {"insured": frame.height, "policies": int(frame["bought"].sum() or 0)}
    return {"plan": plan.id, "cells": out, "total": _cell(total)}


def _suppression(rows: list[dict[str, Any]]) -> tuple[set[int], dict[str, set[str]]]:
    """Which cells and margins to hide. Small ones (under ``MIN_CELL`` persons) first; then, until nothing
    changes: a line of cells whose margin (or the total) is shown never has exactly one hidden cell; a
    dimension's margins, which add up to the total, never have exactly one hidden; and a hidden margin
    always has a hidden cell, else its shown cells would add up to it. Each step hides the smallest shown
    candidate. These are the single-subtraction checks, not a full linear audit of the table."""
    small = {i for i, r in enumerate(rows) if r["insured"] < MIN_CELL}
    hidden = set(small)
    lines: dict[str, dict[str, list[int]]] = {key: {} for key in MARGINS}
    for i, r in enumerate(rows):
        for key in MARGINS:
            lines[key].setdefault(r[key], []).append(i)
    size = {key: {v: sum(rows[i]["insured"] for i in line) for v, line in lines[key].items()} for key in MARGINS}
    gone = {key: {v for v, n in size[key].items() if n < MIN_CELL} for key in MARGINS}
    total_shown = sum(r["insured"] for r in rows) >= MIN_CELL

    def hide_smallest(line: list[int]) -> bool:
        shown = sorted(
            (i for i in line if i not in hidden and rows[i]["insured"] > 0), key=lambda i: rows[i]["insured"]
        )
        if shown:
            hidden.add(shown[0])
        return bool(shown)

    changed = True
    while changed:
        changed = False
        everything = list(range(len(rows)))
        if total_shown and sum(1 for i in everything if i in hidden) == 1:
            changed |= hide_smallest(everything)
        for key in MARGINS:
            for v, line in lines[key].items():
                count = sum(1 for i in line if i in hidden)
                if (v not in gone[key] and count == 1) or (v in gone[key] and count == 0):
                    changed |= hide_smallest(line)
            if total_shown and len(gone[key]) == 1:
                shown = sorted((v for v in size[key] if v not in gone[key]), key=lambda v: size[key][v])
                if shown:
                    gone[key].add(shown[0])
                    changed = True
    return hidden - small, gone


def _cell(row: dict[str, Any], *, hidden: bool = False) -> dict[str, Any]:
    """A cell as shown: counts and rate, or None for all three when small (``suppressed``) or hidden beside
    a small one (``suppressed`` and ``complement``)."""
    insured, policies = int(row["insured"]), int(row["policies"])
    gone = insured < MIN_CELL or hidden
    return {
        **{k: v for k, v in row.items() if k not in ("insured", "policies")},
        "insured": None if gone else insured,
        "policies": None if gone else policies,
        "rate": None if gone or not insured else round(policies / insured, 4),
        "suppressed": gone,
        "complement": hidden,
    }


__all__ = ["AGE_BANDS", "COUNTED", "MARGINS", "cross_table", "enrollment_cells", "enrollment_frame"]
