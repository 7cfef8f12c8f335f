"""Enrollment so far: the roster's basic insured against the plan's policies, by district, insurance type
and age band, for operators and the bureau. Cells of fewer than ``MIN_CELL`` persons are suppressed (the
count and the rate), so no figure points at a few people. Reads only; never commits."""

from __future__ import annotations

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


def enrollment_cells(*, session: Session, plan: Plan) -> dict[str, Any]:
    """Insured persons, policies and the enrollment rate per (district, insurance type, age band), with
    totals; ages at the start of cover."""
    held = sa.select(Policy.person_id).where(Policy.plan_id == plan.id, Policy.status.in_(COUNTED)).scalar_subquery()
    rows = session.execute(
        sa.select(
            InsuredPerson.insu_admdvs, InsuredPerson.insutype, InsuredPerson.birth_date, InsuredPerson.id.in_(held)
        ).where(InsuredPerson.insu_admdvs.startswith(plan.eligibility.admdvs_prefix))
    ).all()
    frame = pl.DataFrame(
        rows, schema={"area": pl.Utf8, "insutype": pl.Utf8, "birth": pl.Date, "bought": pl.Boolean}, orient="row"
    )
    age = age_expr(pl.col("birth"), plan.cover_start)
    band = pl.lit(AGE_BANDS[0][1])
    for start, label in AGE_BANDS[1:]:
        band = pl.when(age >= start).then(pl.lit(label)).otherwise(band)
    frame = frame.with_columns(band.alias("age_band"))
    cells = (
        frame.group_by("area", "insutype", "age_band")
        .agg(pl.len().alias("insured"), pl.col("bought").sum().alias("policies"))
        .sort("area", "insutype", "age_band")
    )
    order = {label: i for i, (_, label) in enumerate(AGE_BANDS)}
    out = [_cell(r) for r in cells.iter_rows(named=True)]
    out.sort(key=lambda c: (c["area"], c["insutype"], order[c["age_band"]]))
    total = {"insured": frame.height, "policies": int(frame["bought"].sum() or 0)}
    return {"plan": plan.id, "cells": out, "total": _cell(total)}


def _cell(row: dict[str, Any]) -> dict[str, Any]:
    insured, policies = int(row["insured"]), int(row["policies"])
    small = insured < MIN_CELL
    return {
        **{k: v for k, v in row.items() if k not in ("insured", "policies")},
        "insured": None if small else insured,
        "policies": None if small else policies,
        "rate": None if small or not insured else round(policies / insured, 4),
        "suppressed": small,
    }


__all__ = ["AGE_BANDS", "enrollment_cells"]
