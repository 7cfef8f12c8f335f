"""Recording which plan files the platform has loaded (the ``plan_version`` table).

A plan is identified by its id *and* the SHA-256 of its file, so editing a file and
loading it again adds a new version instead of rewriting history; loading the same
content twice adds nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.admin.models import PlanVersion
from huiminbao.plans import compiled_plan, list_plans


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def register_plans(*, session: Session) -> tuple[int, int]:
    """Record every loadable plan's current file content; return (added, already known)."""
    added = known = 0
    for plan in list_plans():
        compiled = compiled_plan(plan.id)
        digest = file_sha256(compiled.file)
        exists = session.scalar(
            sa.select(PlanVersion.id).where(PlanVersion.plan_id == plan.id, PlanVersion.content_sha256 == digest)
        )
        if exists is not None:
            known += 1
            continue
        session.add(
            PlanVersion(
                plan_id=plan.id,
                content_sha256=digest,
                name=plan.name,
                city=plan.city,
                year=plan.year,
                status=plan.status,
                source_file=str(compiled.file),
            )
        )
        added += 1
    session.flush()
    return added, known
